// Multi-head latent attention (kernels/cpu/mla.h): the kernel against its plain-loop specification,
// and the absorbed form against ordinary attention over keys and values expanded from the latent
// (what transformers computes), written here in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/mla.h"

namespace ferrite::kernels::cpu {
namespace {

std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A paged batch: decode, full prefill, decode, chunk; a shuffled block table.
struct Batch {
  std::vector<std::int32_t> ctx = {1, 9, 23, 6};
  std::vector<std::int32_t> qlen = {1, 9, 1, 3};
  std::vector<std::int32_t> qs = {0};
  std::vector<std::int32_t> tables;
  std::int64_t bs = 4, num_blocks = 40, max_blocks = 8;
  explicit Batch(std::mt19937& rng) {
    for (auto q : qlen) qs.push_back(qs.back() + q);
    std::vector<std::int32_t> blocks(static_cast<std::size_t>(num_blocks));
    for (std::int32_t i = 0; i < num_blocks; ++i) blocks[static_cast<std::size_t>(i)] = i;
    std::shuffle(blocks.begin(), blocks.end(), rng);
    for (std::size_t s = 0; s < ctx.size(); ++s)
      for (std::int64_t j = 0; j < max_blocks; ++j)
        tables.push_back(blocks[s * max_blocks + static_cast<std::size_t>(j)]);
  }
  std::int64_t tokens() const { return qs.back(); }
  std::int64_t slot(std::size_t seq, std::int64_t pos) const {
    return static_cast<std::int64_t>(
               tables[seq * static_cast<std::size_t>(max_blocks) + static_cast<std::size_t>(pos / bs)]) *
               bs +
           pos % bs;
  }
  MlaAttentionArgs args(std::int64_t heads, std::int64_t lat, std::int64_t rope) const {
    MlaAttentionArgs a;
    a.query_start = qs.data();
    a.context_lens = ctx.data();
    a.block_tables = tables.data();
    a.max_blocks = max_blocks;
    a.num_seqs = static_cast<std::int64_t>(ctx.size());
    a.heads = heads;
    a.latent_dim = lat;
    a.rope_dim = rope;
    a.block_size = bs;
    return a;
  }
};

TEST(MlaAttention, MatchesReference) {
  std::mt19937 rng(5);
  base::ThreadPool pool(2);
  const Batch b(rng);
  for (const auto& [heads, lat, rope] : {std::tuple{4, 32, 8}, std::tuple{3, 19, 6}, std::tuple{16, 512, 64}}) {
    const auto cache = random_vec(static_cast<std::size_t>(b.num_blocks * b.bs * (lat + rope)), rng);
    const auto ql = random_vec(static_cast<std::size_t>(b.tokens() * heads * lat), rng, 0.2f);
    const auto qp = random_vec(static_cast<std::size_t>(b.tokens() * heads * rope), rng, 0.2f);
    MlaAttentionArgs a = b.args(heads, lat, rope);
    a.q_latent = ql.data();
    a.q_pe = qp.data();
    a.cache = cache.data();
    a.scale = 0.3f;
    std::vector<float> out(ql.size()), ref(ql.size());
    a.out = out.data();
    mla_attention(a, pool);
    a.out = ref.data();
    mla_attention_reference(a);
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5f * (1 + std::fabs(ref[i]))) << i;
  }
}

// Absorbed attention in the latent space == softmax(q.k) v with k = [W_UK c | k_pe], v = W_UV c.
TEST(MlaAttention, AbsorbedEqualsExpandedAttention) {
  std::mt19937 rng(9);
  base::ThreadPool pool(2);
  const Batch b(rng);
  const std::int64_t heads = 4, lat = 24, rope = 8, nope = 16, vd = 12;
  const std::int64_t t_n = b.tokens();
  const float scale = 1.0f / std::sqrt(static_cast<float>(nope + rope));
  // Per-token latent and rope key of every cached position (by slot), and kv_b per head.
  const auto latent = random_vec(static_cast<std::size_t>(b.num_blocks * b.bs * lat), rng);
  const auto kpe = random_vec(static_cast<std::size_t>(b.num_blocks * b.bs * rope), rng);
  const auto w_uk = random_vec(static_cast<std::size_t>(heads * nope * lat), rng, 0.3f);  // [H, N, L]
  const auto w_uv = random_vec(static_cast<std::size_t>(heads * vd * lat), rng, 0.3f);    // [H, V, L]
  const auto q_nope = random_vec(static_cast<std::size_t>(t_n * heads * nope), rng);
  const auto q_pe = random_vec(static_cast<std::size_t>(t_n * heads * rope), rng);

  // The cache, written through write_mla_cache for every slot.
  std::vector<float> cache(static_cast<std::size_t>(b.num_blocks * b.bs * (lat + rope)));
  std::vector<std::int64_t> all_slots(static_cast<std::size_t>(b.num_blocks * b.bs));
  for (std::size_t i = 0; i < all_slots.size(); ++i) all_slots[i] = static_cast<std::int64_t>(i);
  write_mla_cache(latent.data(), lat, kpe.data(), rope, all_slots.data(), static_cast<std::int64_t>(all_slots.size()),
                  lat, rope, cache.data());

  // Absorb: q_lat[t, h, :] = W_UK[h]^T q_nope[t, h, :].
  std::vector<float> q_lat(static_cast<std::size_t>(t_n * heads * lat), 0.f);
  for (std::int64_t t = 0; t < t_n; ++t)
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t l = 0; l < lat; ++l) {
        double acc = 0;
        for (std::int64_t n = 0; n < nope; ++n)
          acc += static_cast<double>(q_nope[static_cast<std::size_t>((t * heads + h) * nope + n)]) *
                 w_uk[static_cast<std::size_t>((h * nope + n) * lat + l)];
        q_lat[static_cast<std::size_t>((t * heads + h) * lat + l)] = static_cast<float>(acc);
      }
  MlaAttentionArgs a = b.args(heads, lat, rope);
  a.q_latent = q_lat.data();
  a.q_pe = q_pe.data();
  a.cache = cache.data();
  a.scale = scale;
  std::vector<float> o_lat(q_lat.size());
  a.out = o_lat.data();
  mla_attention(a, pool);

  for (std::size_t s = 0; s < b.ctx.size(); ++s) {
    for (std::int32_t row = b.qs[s]; row < b.qs[s + 1]; ++row) {
      const std::int64_t pos = b.ctx[s] - (b.qs[s + 1] - b.qs[s]) + (row - b.qs[s]);
      for (std::int64_t h = 0; h < heads; ++h) {
        // Expanded: k_j = [W_UK c_j | kpe_j], v_j = W_UV c_j.
        std::vector<double> score;
        std::vector<std::vector<double>> values;
        for (std::int64_t p = 0; p <= pos; ++p) {
          const std::int64_t slot = b.slot(s, p);
          const float* c = latent.data() + slot * lat;
          double d = 0;
          for (std::int64_t n = 0; n < nope; ++n) {
            double k = 0;
            for (std::int64_t l = 0; l < lat; ++l)
              k += static_cast<double>(w_uk[static_cast<std::size_t>((h * nope + n) * lat + l)]) * c[l];
            d += k * q_nope[static_cast<std::size_t>((row * heads + h) * nope + n)];
          }
          for (std::int64_t i = 0; i < rope; ++i)
            d += static_cast<double>(q_pe[static_cast<std::size_t>((row * heads + h) * rope + i)]) *
                 kpe[static_cast<std::size_t>(slot * rope + i)];
          score.push_back(d * scale);
          std::vector<double> v(static_cast<std::size_t>(vd));
          for (std::int64_t o = 0; o < vd; ++o)
            for (std::int64_t l = 0; l < lat; ++l)
              v[static_cast<std::size_t>(o)] +=
                  static_cast<double>(w_uv[static_cast<std::size_t>((h * vd + o) * lat + l)]) * c[l];
          values.push_back(v);
        }
        const double mx = *std::max_element(score.begin(), score.end());
        double sum = 0;
        for (double& x : score) sum += (x = std::exp(x - mx));
        for (std::int64_t o = 0; o < vd; ++o) {
          double want = 0;
          for (std::size_t j = 0; j < score.size(); ++j)
            want += score[j] / sum * values[j][static_cast<std::size_t>(o)];
          // Absorbed: W_UV[h] (sum_j p_j c_j).
          double got = 0;
          for (std::int64_t l = 0; l < lat; ++l)
            got += static_cast<double>(w_uv[static_cast<std::size_t>((h * vd + o) * lat + l)]) *
                   o_lat[static_cast<std::size_t>((row * heads + h) * lat + l)];
          ASSERT_NEAR(got, want, 1e-4 * (1 + std::fabs(want))) << "row " << row << " head " << h << " dim " << o;
        }
      }
    }
  }
}

TEST(MlaCache, WritesLatentThenRopeKeyAndSkipsPadding) {
  const std::int64_t lat = 3, rope = 2;
  const std::vector<float> latent = {1, 2, 3, 4, 5, 6};
  const std::vector<float> kpe = {7, 8, 9, 10};
  const std::vector<std::int64_t> slots = {2, -1};
  std::vector<float> cache(4 * (lat + rope), 0.f);
  write_mla_cache(latent.data(), lat, kpe.data(), rope, slots.data(), 2, lat, rope, cache.data());
  const std::vector<float> want_slot2 = {1, 2, 3, 7, 8};
  EXPECT_EQ(std::vector<float>(cache.begin() + 2 * (lat + rope), cache.begin() + 3 * (lat + rope)), want_slot2);
  for (std::size_t i = 0; i < cache.size(); ++i)
    if (i / static_cast<std::size_t>(lat + rope) != 2) {
      EXPECT_EQ(cache[i], 0.f) << i;
    }
}

}  // namespace
}  // namespace ferrite::kernels::cpu
