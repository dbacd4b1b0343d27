// The CPU kernels against their specifications (plain loops, some in double), on random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"

namespace ferrite::kernels::cpu {
namespace {

std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Row-major [n, k] weights in the given storage type, as raw bytes.
std::vector<std::uint8_t> make_weight(const std::vector<float>& w, WeightType t) {
  std::vector<std::uint8_t> out(w.size() * weight_type_size(t));
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (t == WeightType::kF32) std::memcpy(out.data() + 4 * i, &w[i], 4);
    if (t == WeightType::kBF16) {
      const bf16 h = f32_to_bf16(w[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    if (t == WeightType::kF16) {
      const f16 h = f32_to_f16(w[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

struct LinearCase {
  std::int64_t m, n, k;
};

class LinearTest : public ::testing::TestWithParam<std::tuple<WeightType, bool>> {};

// The fast paths compute each output as the same FMA chain as the reference, so they must agree
// bit for bit, for every M (GEMV and GEMM paths), every tail of N and K, and every storage type.
TEST_P(LinearTest, MatchesReferenceBitwise) {
  const auto [type, avx512] = GetParam();
  if (avx512 && !cpu_features().avx512f) GTEST_SKIP() << "no AVX-512 on this CPU";
  set_avx512_enabled(avx512);
  base::ThreadPool pool(2);
  std::mt19937 rng(1234);
  const LinearCase cases[] = {{1, 16, 16},  {1, 37, 300},  {2, 64, 64},  {3, 100, 129}, {4, 7, 5},
                              {5, 33, 257}, {6, 80, 31},   {7, 49, 64},  {8, 96, 512},  {9, 70, 100},  {10, 33, 47},
                              {11, 112, 19}, {12, 37, 257}, {13, 50, 70}, {14, 64, 9},   {16, 81, 130}, {64, 130, 260},
                              {150, 40, 600}, {1, 1, 1}};
  for (const auto& c : cases) {
    const auto x = random_vec(static_cast<std::size_t>(c.m * c.k), rng);
    const auto w = make_weight(random_vec(static_cast<std::size_t>(c.n * c.k), rng, 0.1f), type);
    const auto bias = random_vec(static_cast<std::size_t>(c.n), rng);
    std::vector<std::uint8_t> packed(static_cast<std::size_t>(packed_weight_elems(c.n, c.k)) * weight_type_size(type));
    pack_linear_weight(w.data(), type, c.n, c.k, c.k, packed.data(), pool);
    for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
      std::vector<float> y(static_cast<std::size_t>(c.m * c.n), -1.f), ref(y.size(), -2.f);
      linear(x.data(), c.m, c.k, c.k, packed.data(), type, c.n, b, y.data(), c.n, pool);
      linear_reference(x.data(), c.m, c.k, c.k, packed.data(), type, c.n, b, ref.data(), c.n);
      for (std::size_t i = 0; i < y.size(); ++i)
        ASSERT_EQ(y[i], ref[i]) << "m=" << c.m << " n=" << c.n << " k=" << c.k << " i=" << i;
    }
  }
  set_avx512_enabled(true);
}

// The reference itself against an independent double-precision product of the unpacked weights.
TEST(Linear, ReferenceMatchesDoubleProduct) {
  base::ThreadPool pool(1);
  std::mt19937 rng(7);
  const std::int64_t m = 3, n = 21, k = 45;
  const auto x = random_vec(static_cast<std::size_t>(m * k), rng);
  const auto wf = random_vec(static_cast<std::size_t>(n * k), rng);
  const auto w = make_weight(wf, WeightType::kF32);
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(packed_weight_elems(n, k)) * 4);
  pack_linear_weight(w.data(), WeightType::kF32, n, k, k, packed.data(), pool);
  std::vector<float> y(static_cast<std::size_t>(m * n));
  linear_reference(x.data(), m, k, k, packed.data(), WeightType::kF32, n, nullptr, y.data(), n);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double d = 0;
      for (std::int64_t kk = 0; kk < k; ++kk) d += static_cast<double>(x[static_cast<std::size_t>(i * k + kk)]) * wf[static_cast<std::size_t>(j * k + kk)];
      EXPECT_NEAR(y[static_cast<std::size_t>(i * n + j)], d, 1e-4 * (1 + std::fabs(d)));
    }
}

// A row's result must not depend on the other rows of the batch (GEMV for small M vs GEMM).
TEST(Linear, RowResultIndependentOfBatch) {
  base::ThreadPool pool(2);
  std::mt19937 rng(99);
  const std::int64_t n = 77, k = 300;
  const auto w = make_weight(random_vec(static_cast<std::size_t>(n * k), rng, 0.1f), WeightType::kBF16);
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(packed_weight_elems(n, k)) * 2);
  pack_linear_weight(w.data(), WeightType::kBF16, n, k, k, packed.data(), pool);
  const auto x = random_vec(static_cast<std::size_t>(40 * k), rng);
  std::vector<float> all(static_cast<std::size_t>(40 * n)), one(static_cast<std::size_t>(n));
  linear(x.data(), 40, k, k, packed.data(), WeightType::kBF16, n, nullptr, all.data(), n, pool);
  for (std::int64_t r : {0, 17, 39}) {
    linear(x.data() + r * k, 1, k, k, packed.data(), WeightType::kBF16, n, nullptr, one.data(), n, pool);
    for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(one[static_cast<std::size_t>(j)], all[static_cast<std::size_t>(r * n + j)]);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, LinearTest,
                         ::testing::Combine(::testing::Values(WeightType::kF32, WeightType::kBF16, WeightType::kF16),
                                            ::testing::Bool()));

TEST(RmsNorm, MatchesDouble) {
  base::ThreadPool pool(2);
  std::mt19937 rng(3);
  for (std::int64_t dim : {1, 7, 64, 896, 1000}) {
    const std::int64_t rows = 37;
    const auto x = random_vec(static_cast<std::size_t>(rows * dim), rng, 3.0f);
    const auto w = random_vec(static_cast<std::size_t>(dim), rng);
    std::vector<float> out(x.size());
    rms_norm(x.data(), w.data(), out.data(), rows, dim, dim, 1e-6f, pool);
    for (std::int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (std::int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[static_cast<std::size_t>(r * dim + i)]) * x[static_cast<std::size_t>(r * dim + i)];
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(dim) + 1e-6);
      for (std::int64_t i = 0; i < dim; ++i) {
        const double want = x[static_cast<std::size_t>(r * dim + i)] * inv * w[static_cast<std::size_t>(i)];
        ASSERT_NEAR(out[static_cast<std::size_t>(r * dim + i)], want, 1e-5 * (1 + std::fabs(want)));
      }
    }
  }
}

TEST(Rope, RotatesPairsOfHalves) {
  std::mt19937 rng(5);
  const std::int64_t t = 3, heads = 2, d = 8, rot = 6;  // partial rotary: last 2 dims untouched
  auto x = random_vec(static_cast<std::size_t>(t * heads * d), rng);
  const auto orig = x;
  std::vector<float> cos(static_cast<std::size_t>(t * rot / 2)), sin(cos.size());
  for (std::size_t i = 0; i < cos.size(); ++i) {
    cos[i] = std::cos(0.3f * static_cast<float>(i));
    sin[i] = std::sin(0.3f * static_cast<float>(i));
  }
  rope_neox(x.data(), t, heads, d, heads * d, rot, cos.data(), sin.data());
  for (std::int64_t a = 0; a < t; ++a)
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::size_t base = static_cast<std::size_t>((a * heads + h) * d);
      for (std::int64_t i = 0; i < rot / 2; ++i) {
        const float c = cos[static_cast<std::size_t>(a * rot / 2 + i)], s = sin[static_cast<std::size_t>(a * rot / 2 + i)];
        const float x1 = orig[base + static_cast<std::size_t>(i)], x2 = orig[base + static_cast<std::size_t>(i + rot / 2)];
        EXPECT_FLOAT_EQ(x[base + static_cast<std::size_t>(i)], x1 * c - x2 * s);
        EXPECT_FLOAT_EQ(x[base + static_cast<std::size_t>(i + rot / 2)], x2 * c + x1 * s);
      }
      for (std::int64_t i = rot; i < d; ++i) EXPECT_EQ(x[base + static_cast<std::size_t>(i)], orig[base + static_cast<std::size_t>(i)]);
    }
}

// Paged attention over a shuffled block table, mixed prefill and decode rows, GQA and a window.
class PagedAttentionTest : public ::testing::TestWithParam<bool> {};

TEST_P(PagedAttentionTest, MatchesReference) {
  if (GetParam() && !cpu_features().avx512f) GTEST_SKIP() << "no AVX-512 on this CPU";
  set_avx512_enabled(GetParam());
  base::ThreadPool pool(2);
  std::mt19937 rng(11);
  const std::int64_t hq = 4, hk = 2, d = 16, bs = 4, num_blocks = 40;
  const std::vector<std::int32_t> ctx = {1, 9, 23, 6};
  const std::vector<std::int32_t> qlen = {1, 9, 1, 3};  // decode, full prefill, decode, chunk
  const std::int64_t max_blocks = 8;
  std::vector<std::int32_t> qs = {0};
  for (auto q : qlen) qs.push_back(qs.back() + q);
  std::vector<std::int32_t> blocks(static_cast<std::size_t>(num_blocks));
  for (std::int32_t i = 0; i < num_blocks; ++i) blocks[static_cast<std::size_t>(i)] = i;
  std::shuffle(blocks.begin(), blocks.end(), rng);
  std::vector<std::int32_t> tables;
  for (std::size_t s = 0; s < ctx.size(); ++s)
    for (std::int64_t j = 0; j < max_blocks; ++j) tables.push_back(blocks[s * max_blocks + static_cast<std::size_t>(j)]);
  const auto kc = random_vec(static_cast<std::size_t>(num_blocks * bs * hk * d), rng);
  const auto vc = random_vec(kc.size(), rng);
  const auto q = random_vec(static_cast<std::size_t>(qs.back() * hq * d), rng);
  for (std::int64_t window : {0, 5}) {
    PagedAttentionArgs a;
    a.q = q.data();
    a.q_stride = hq * d;
    a.k_cache = kc.data();
    a.v_cache = vc.data();
    a.query_start = qs.data();
    a.context_lens = ctx.data();
    a.block_tables = tables.data();
    a.max_blocks = max_blocks;
    a.num_seqs = static_cast<std::int64_t>(ctx.size());
    a.q_heads = hq;
    a.kv_heads = hk;
    a.head_dim = d;
    a.block_size = bs;
    a.scale = 0.25f;
    a.sliding_window = window;
    std::vector<float> out(q.size()), ref(q.size());
    a.out = out.data();
    a.out_stride = hq * d;
    paged_attention(a, pool);
    a.out = ref.data();
    paged_attention_reference(a);
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5f * (1 + std::fabs(ref[i]))) << i;
  }
  set_avx512_enabled(true);
}

INSTANTIATE_TEST_SUITE_P(Paths, PagedAttentionTest, ::testing::Bool());

TEST(WriteKvCache, WritesSlotsAndSkipsPadding) {
  const std::int64_t hk = 2, d = 3;
  std::vector<float> k = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, v(k.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = -k[i];
  std::vector<float> kc(5 * hk * d, 0.f), vc(kc.size(), 0.f);
  const std::vector<std::int64_t> slots = {3, -1};
  write_kv_cache(k.data(), hk * d, v.data(), hk * d, slots.data(), 2, hk, d, kc.data(), vc.data());
  for (std::int64_t i = 0; i < hk * d; ++i) {
    EXPECT_EQ(kc[static_cast<std::size_t>(3 * hk * d + i)], k[static_cast<std::size_t>(i)]);
    EXPECT_EQ(vc[static_cast<std::size_t>(3 * hk * d + i)], v[static_cast<std::size_t>(i)]);
  }
  float total = 0;
  for (float x : kc) total += std::fabs(x);
  EXPECT_EQ(total, 21.f);  // only slot 3 written: 1+2+...+6
}

TEST(Elementwise, SiluMulAndEmbedding) {
  base::ThreadPool pool(1);
  const std::vector<float> g = {-2.f, 0.f, 1.5f}, u = {3.f, 4.f, -1.f};
  std::vector<float> o(3);
  silu_mul(g.data(), u.data(), o.data(), 1, 3, 3, pool);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(o[static_cast<std::size_t>(i)], g[static_cast<std::size_t>(i)] / (1 + std::exp(-g[static_cast<std::size_t>(i)])) * u[static_cast<std::size_t>(i)], 1e-6);
  const std::vector<float> table = {0, 1, 2, 10, 11, 12, 20, 21, 22};
  const auto tb = make_weight(table, WeightType::kBF16);
  const std::vector<std::int32_t> ids = {2, 0};
  std::vector<float> e(6);
  embedding(tb.data(), WeightType::kBF16, 3, ids.data(), 2, e.data());
  EXPECT_EQ(e, (std::vector<float>{20, 21, 22, 0, 1, 2}));
}

}  // namespace
}  // namespace ferrite::kernels::cpu
