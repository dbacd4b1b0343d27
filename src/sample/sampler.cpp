// sample_rows: one row at a time (sampler.h has the semantics), the Rng, and the greedy argmax.
#include "sample/sampler.h"

#include <algorithm>

#include "base/check.h"
#include "sample/distribution.h"
#include "sample/processors.h"
#include "sample/row_ops.h"

namespace ferrite::sample {
namespace {

constexpr std::uint64_t kGamma = 0x9E3779B97F4A7C15ull;

// splitmix64's finaliser: a bijection of 64-bit words with full avalanche.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Rng::Rng(std::uint64_t seed, std::uint64_t stream) : key_(mix64(mix64(seed) ^ mix64(stream * kGamma + kGamma))) {}

// Output c is a keyed hash of the counter, so any draw can be recomputed from (key, c) alone.
// Hashing twice (with the key mixed in before and after) keeps two keys from giving shifted
// copies of one stream, which a plain splitmix64 (key + c * gamma) would.
std::uint64_t Rng::next_u64() {
  const std::uint64_t c = counter_++;
  return mix64(mix64(key_ + c * kGamma) ^ key_);
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

std::int32_t argmax_first(const float* row, std::int64_t vocab) {
  // One pass: each span's maximum is found vectorised; only a span that beats the best so far
  // is rescanned (from L1) for its first maximum.
  float best = -kInf;
  std::int64_t best_i = 0;
  for (std::int64_t i = 0; i < vocab; i += kSpan) {
    const std::int64_t end = std::min(vocab, i + kSpan);
    const float m = end - i == kSpan ? max_span(row + i) : max_of(row + i, end - i);
    if (m > best) {
      best = m;
      for (std::int64_t j = i; j < end; ++j)
        if (row[j] == m) {
          best_i = j;
          break;
        }
    }
  }
  return static_cast<std::int32_t>(best_i);
}

void sampling_probs(const float* row, std::int64_t vocab, const SamplingParams& params, float* out) {
  std::fill(out, out + vocab, 0.0f);
  if (is_greedy(params)) {
    out[argmax_first(row, vocab)] = 1.0f;
    return;
  }
  const Distribution d = build_distribution(row, vocab, params, thread_workspace());
  if (d.fallback_greedy) {
    out[argmax_first(row, vocab)] = 1.0f;
    return;
  }
  for (std::int64_t i = 0; i < d.n; ++i) out[d.ids ? d.ids[i] : i] = static_cast<float>(d.w[i] / d.mass);
}

std::vector<SampleOutput> sample_rows(float* logits, std::int64_t rows, std::int64_t vocab,
                                      std::span<const RowState> states) {
  FERRITE_CHECK_MSG(static_cast<std::int64_t>(states.size()) == rows, "sample_rows: one RowState per row");
  FERRITE_CHECK(vocab > 0);
  Workspace& ws = thread_workspace();
  UndoLog undo;
  std::vector<SampleOutput> out(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const RowState& s = states[static_cast<std::size_t>(r)];
    FERRITE_CHECK_MSG(s.params != nullptr, "RowState without SamplingParams");
    const SamplingParams& p = *s.params;
    float* row = logits + r * vocab;
    // Logprobs are of the raw logits (vLLM's default raw_logprobs mode), which the processors
    // are about to change in place. They write a few ids (undone afterwards) unless
    // allowed_token_ids rewrites the whole row (copied first); the draw itself writes nothing.
    const bool copy_raw = p.logprobs && !p.allowed_token_ids.empty();
    if (copy_raw) ws.raw.assign(row, row + vocab);
    apply_processors(row, vocab, s, p.logprobs && !copy_raw ? &undo : nullptr);
    std::int32_t token;
    if (is_greedy(p)) {
      token = argmax_first(row, vocab);
    } else {
      FERRITE_CHECK_MSG(s.rng != nullptr, "sampled row without a generator");
      const double u = s.rng->uniform();  // drawn even on the fallback, so draws == sampled steps
      const Distribution d = build_distribution(row, vocab, p, ws);
      token = d.fallback_greedy ? argmax_first(row, vocab) : draw(d, u);
    }
    SampleOutput& o = out[static_cast<std::size_t>(r)];
    o.token = token;
    if (p.logprobs) {
      if (!copy_raw) restore(row, undo);
      o.logprob = token_logprob(copy_raw ? ws.raw.data() : row, vocab, token, *p.logprobs);
    }
  }
  return out;
}

}  // namespace ferrite::sample
