// The sampler's own contracts: greedy picks the first maximum, seeded sampling is reproducible,
// a row ignores its batch, draws follow the filtered distribution, logprobs are of raw logits.
#include "sample/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

namespace ferrite::sample {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::vector<float> random_logits(std::int64_t vocab, std::uint32_t seed, float scale = 3.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<std::size_t>(vocab));
  for (float& x : v) x = normal(gen);
  return v;
}

std::int32_t sample_one(std::vector<float> row, const SamplingParams& p, Rng* rng,
                        std::span<const std::int32_t> output = {}) {
  RowState s{&p, {}, output, {}, rng};
  return sample_rows(row.data(), 1, static_cast<std::int64_t>(row.size()), {&s, 1})[0].token;
}

TEST(Rng, SameSeedSameStreamDifferentSeedOrStreamDiffers) {
  Rng a(7), b(7), c(8), d(7, 1);
  int same_c = 0, same_d = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    same_c += x == c.next_u64();
    same_d += x == d.next_u64();
  }
  EXPECT_EQ(same_c, 0);
  EXPECT_EQ(same_d, 0);
  EXPECT_EQ(a.draws(), 1000u);
  for (int i = 0; i < 10000; ++i) {
    const double u = a.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Sampler, GreedyPicksTheFirstMaximum) {
  std::vector<float> row = random_logits(151936, 1);
  row[150000] = 50.0f;
  row[70000] = 50.0f;
  row[123] = 49.0f;
  SamplingParams p;
  p.temperature = 0.0;
  EXPECT_EQ(sample_one(row, p, nullptr), 70000);
  row[69999] = 50.0f;  // same 64-block as the later one
  EXPECT_EQ(sample_one(row, p, nullptr), 69999);
  p.temperature = 5e-6;  // below vLLM's epsilon: still greedy
  EXPECT_EQ(sample_one(row, p, nullptr), 69999);
  EXPECT_EQ(argmax_first(std::vector<float>(10, kNegInf).data(), 10), 0);
  std::vector<float> nan_row = {1.0f, std::nanf(""), 3.0f, 3.0f};
  EXPECT_EQ(argmax_first(nan_row.data(), 4), 2);
}

TEST(Sampler, GreedyDrawsNothingFromTheGenerator) {
  SamplingParams p;
  p.temperature = 0.0;
  Rng rng(3);
  sample_one(random_logits(100, 2), p, &rng);
  EXPECT_EQ(rng.draws(), 0u);
  p.temperature = 1.0;
  sample_one(random_logits(100, 2), p, &rng);
  EXPECT_EQ(rng.draws(), 1u);
}

std::vector<std::int32_t> run_seeded(std::uint64_t seed, const SamplingParams& p, int steps) {
  Rng rng(seed);
  std::vector<std::int32_t> out;
  for (int i = 0; i < steps; ++i) out.push_back(sample_one(random_logits(5000, 100 + i, 1.0f), p, &rng, out));
  return out;
}

TEST(Sampler, SeededSamplingIsReproducible) {
  SamplingParams p;
  p.temperature = 1.0;
  p.top_p = 0.95;
  p.frequency_penalty = 0.3;
  const auto a = run_seeded(42, p, 50);
  EXPECT_EQ(a, run_seeded(42, p, 50));
  EXPECT_NE(a, run_seeded(43, p, 50));
}

TEST(Sampler, ARowDoesNotDependOnItsBatch) {
  const std::int64_t vocab = 3000;
  std::vector<SamplingParams> ps(4);
  ps[0].temperature = 0.0;
  ps[1].temperature = 0.8, ps[1].top_k = 20;
  ps[2].temperature = 1.2, ps[2].top_p = 0.7, ps[2].min_p = 0.02, ps[2].logprobs = 3;
  ps[3].temperature = 0.5, ps[3].repetition_penalty = 1.5, ps[3].logit_bias[5] = 3.0f;
  const std::vector<std::int32_t> history = {5, 6, 7, 5};
  std::vector<float> batch;
  std::vector<std::vector<float>> rows;
  for (int r = 0; r < 4; ++r) {
    rows.push_back(random_logits(vocab, 10 + r, 2.0f));
    batch.insert(batch.end(), rows.back().begin(), rows.back().end());
  }
  std::vector<Rng> rngs = {Rng(1), Rng(2), Rng(3), Rng(4)};
  std::vector<RowState> states;
  for (int r = 0; r < 4; ++r) states.push_back({&ps[r], history, history, {}, &rngs[r]});
  const auto together = sample_rows(batch.data(), 4, vocab, states);
  for (int r = 0; r < 4; ++r) {
    Rng alone_rng(static_cast<std::uint64_t>(r + 1));
    RowState s{&ps[r], history, history, {}, &alone_rng};
    std::vector<float> row = rows[r];
    const auto alone = sample_rows(row.data(), 1, vocab, {&s, 1});
    EXPECT_EQ(alone[0].token, together[r].token) << "row " << r;
    EXPECT_EQ(alone[0].logprob.has_value(), together[r].logprob.has_value());
    if (alone[0].logprob) {
      EXPECT_EQ(alone[0].logprob->logprob, together[r].logprob->logprob);
    }
  }
}

// 20k seeded draws against sampling_probs (itself held to the numpy reference): chi-square with a
// threshold far in the tail (dof + 10 sqrt(2 dof)), so the fixed seed cannot flake.
TEST(Sampler, DrawsFollowTheFilteredDistribution) {
  const std::int64_t vocab = 400;
  const std::vector<float> row = random_logits(vocab, 5, 1.5f);
  for (const auto& [top_k, top_p, min_p] :
       {std::tuple{0, 1.0, 0.0}, std::tuple{30, 0.9, 0.0}, std::tuple{0, 0.8, 0.05}}) {
    SamplingParams p;
    p.temperature = 0.8, p.top_k = top_k, p.top_p = top_p, p.min_p = min_p;
    std::vector<float> probs(row.size());
    sampling_probs(row.data(), vocab, p, probs.data());
    std::vector<int> counts(row.size(), 0);
    Rng rng(12345);
    constexpr int kDraws = 20000;
    for (int i = 0; i < kDraws; ++i) ++counts[static_cast<std::size_t>(sample_one(row, p, &rng))];
    double chi2 = 0.0, pooled_e = 0.0, pooled_o = 0.0;
    int dof = -1;
    for (std::int64_t i = 0; i < vocab; ++i) {
      if (probs[i] == 0.0f) {
        ASSERT_EQ(counts[i], 0) << "token " << i << " was filtered out but drawn";
        continue;
      }
      const double e = probs[i] * kDraws;
      if (e < 5.0) {  // pool the light tail, as chi-square wants >= 5 expected per cell
        pooled_e += e, pooled_o += counts[i];
        continue;
      }
      chi2 += (counts[i] - e) * (counts[i] - e) / e;
      ++dof;
    }
    if (pooled_e > 0) chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e, ++dof;
    ASSERT_GT(dof, 5);
    EXPECT_LT(chi2, dof + 10.0 * std::sqrt(2.0 * dof)) << "top_k " << top_k << " top_p " << top_p << " dof " << dof;
  }
}

TEST(Sampler, TopKPathsAgreeWithTheDensePath) {
  // top_k >= vocab is off; top_k = vocab - 1 on distinct values drops only the lowest token.
  const std::int64_t vocab = 6000;
  const std::vector<float> row = random_logits(vocab, 9);
  SamplingParams dense, wide, big;
  dense.temperature = wide.temperature = big.temperature = 0.9;
  wide.top_k = static_cast<std::int32_t>(vocab);
  big.top_k = 3000;  // the nth_element path
  std::vector<float> a(row.size()), b(row.size()), c(row.size());
  sampling_probs(row.data(), vocab, dense, a.data());
  sampling_probs(row.data(), vocab, wide, b.data());
  sampling_probs(row.data(), vocab, big, c.data());
  EXPECT_EQ(a, b);
  int kept = 0;
  for (float x : c) kept += x > 0.0f;
  EXPECT_EQ(kept, 3000);
}

TEST(Sampler, MinTokensMasksEosUntilReached) {
  std::vector<float> row(10, 0.0f);
  row[3] = 100.0f;  // EOS
  SamplingParams p;
  p.temperature = 0.0;
  p.min_tokens = 2;
  const std::vector<std::int32_t> eos = {3};
  const std::vector<std::int32_t> one = {1}, two = {1, 1};
  RowState s{&p, {}, one, eos, nullptr};
  std::vector<float> r = row;
  EXPECT_NE(sample_rows(r.data(), 1, 10, {&s, 1})[0].token, 3);
  s.output_tokens = two;
  r = row;
  EXPECT_EQ(sample_rows(r.data(), 1, 10, {&s, 1})[0].token, 3);
}

TEST(Sampler, AllMaskedRowFallsBackToGreedy) {
  std::vector<float> row(10, kNegInf);
  SamplingParams p;
  p.temperature = 1.0;
  Rng rng(1);
  EXPECT_EQ(sample_one(row, p, &rng), 0);
  EXPECT_EQ(rng.draws(), 1u);
}

TEST(Sampler, LogprobsAreOfTheRawLogits) {
  const std::int64_t vocab = 1000;
  const std::vector<float> raw = random_logits(vocab, 11);
  const TokenLogprob want = token_logprob(raw.data(), vocab, 17, 4);
  EXPECT_EQ(want.top.size(), 4u);
  EXPECT_LT(want.logprob, 0.0f);
  // Every processor writes id 17 or 3 (some twice), so the undo log must restore the first value;
  // the allowed_token_ids variant takes the copy path instead.
  const std::vector<std::int32_t> history = {17, 3, 17}, eos = {3};
  for (bool allowed : {false, true}) {
    for (double temperature : {0.0, 0.9}) {
      SamplingParams p;
      p.temperature = temperature;
      p.logprobs = 4;
      p.logit_bias[17] = 100.0f;  // forces the choice without touching the reported logprobs
      p.logit_bias[3] = 5.0f;
      p.min_tokens = 10;
      p.stop_token_ids = {17 + 1, 3};
      p.repetition_penalty = 1.5, p.frequency_penalty = 0.5, p.presence_penalty = 0.5;
      if (allowed) p.allowed_token_ids = {3, 17, 500};
      Rng rng(1);
      RowState s{&p, history, history, eos, &rng};
      std::vector<float> row = raw;
      const auto out = sample_rows(row.data(), 1, vocab, {&s, 1});
      ASSERT_EQ(out[0].token, 17);
      ASSERT_TRUE(out[0].logprob);
      EXPECT_EQ(out[0].logprob->logprob, want.logprob);
      EXPECT_EQ(out[0].logprob->rank, want.rank);
      EXPECT_EQ(out[0].logprob->top, want.top);
    }
  }
}

TEST(Sampler, RankCountsTiesAgainstTheChosenToken) {
  const std::vector<float> row = {1.0f, 3.0f, 2.0f, 3.0f, 3.0f};
  const TokenLogprob lp = token_logprob(row.data(), 5, 3, 5);
  EXPECT_EQ(lp.rank, 3);  // three values >= 3.0, as vLLM counts
  ASSERT_EQ(lp.top.size(), 5u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 4);
  EXPECT_EQ(lp.top[3].first, 2);
  EXPECT_EQ(lp.top[4].first, 0);
}

}  // namespace
}  // namespace ferrite::sample
