// The MoE kernels (kernels/cpu/moe.h) against plain loops written here: softmax top-k routing, and
// the permuted, tiled expert pass against a token-by-token double-precision product.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/cpu/moe.h"

namespace ferrite::kernels::cpu {
namespace {

std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Reference router: double softmax, sort by (probability descending, id ascending).
void reference_route(const std::vector<float>& logits, std::int64_t t_n, std::int64_t e_n, std::int64_t k, bool renorm,
                     std::vector<std::int32_t>* ids, std::vector<double>* wts) {
  for (std::int64_t t = 0; t < t_n; ++t) {
    const float* l = logits.data() + t * e_n;
    double mx = *std::max_element(l, l + e_n), sum = 0;
    for (std::int64_t e = 0; e < e_n; ++e) sum += std::exp(l[e] - mx);
    std::vector<std::int32_t> order(static_cast<std::size_t>(e_n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return l[a] > l[b]; });
    double s = 0;
    for (std::int64_t j = 0; j < k; ++j) s += std::exp(l[order[j]] - mx) / sum;
    for (std::int64_t j = 0; j < k; ++j) {
      ids->push_back(order[j]);
      wts->push_back(std::exp(l[order[j]] - mx) / sum / (renorm ? s : 1.0));
    }
  }
}

TEST(MoeRouter, MatchesReference) {
  std::mt19937 rng(7);
  struct Case {
    std::int64_t t, e, k;
  };
  for (const Case c : {Case{1, 8, 2}, Case{37, 8, 2}, Case{5, 60, 4}, Case{9, 128, 8}, Case{3, 4, 4}, Case{2, 1, 1}}) {
    for (bool renorm : {false, true}) {
      const auto logits = random_vec(static_cast<std::size_t>(c.t * c.e), rng, 2.0f);
      std::vector<std::int32_t> ids(static_cast<std::size_t>(c.t * c.k));
      std::vector<float> wts(ids.size());
      moe_topk_softmax(logits.data(), c.t, c.e, c.k, renorm, ids.data(), wts.data());
      std::vector<std::int32_t> want_ids;
      std::vector<double> want_wts;
      reference_route(logits, c.t, c.e, c.k, renorm, &want_ids, &want_wts);
      EXPECT_EQ(ids, want_ids) << "T=" << c.t << " E=" << c.e << " k=" << c.k;
      for (std::size_t i = 0; i < wts.size(); ++i) EXPECT_NEAR(wts[i], want_wts[i], 1e-6);
      if (renorm) {
        for (std::int64_t t = 0; t < c.t; ++t)
          EXPECT_NEAR(std::accumulate(wts.begin() + t * c.k, wts.begin() + (t + 1) * c.k, 0.0), 1.0, 1e-6);
      }
    }
  }
}

// Exact ties go to the lower expert id (documented; torch.topk leaves this order unspecified).
TEST(MoeRouter, TiesGoToLowerId) {
  const std::vector<float> logits = {1, 3, 3, 0, 3, 2, /* token 1: all equal */ 0, 0, 0, 0, 0, 0};
  std::vector<std::int32_t> ids(6);
  std::vector<float> wts(6);
  moe_topk_softmax(logits.data(), 2, 6, 3, false, ids.data(), wts.data());
  EXPECT_EQ(ids, (std::vector<std::int32_t>{1, 2, 4, 0, 1, 2}));
  EXPECT_FLOAT_EQ(wts[3], 1.0f / 6.0f);
}

// Reference grouped router, written the way transformers' DeepSeek routers are: scores, biased
// choice scores, group scores (max, or sum of the top 2 by a full sort), the kept groups by a stable
// sort, non-kept experts masked to -inf, then the top k by a stable sort; in double precision.
void reference_grouped(const std::vector<float>& logits, std::int64_t t_n, const MoeGroupedRouting& r,
                       std::vector<std::int32_t>* ids, std::vector<double>* wts) {
  const std::int64_t e_n = r.num_experts, per = e_n / r.num_groups;
  for (std::int64_t t = 0; t < t_n; ++t) {
    const float* l = logits.data() + t * e_n;
    std::vector<double> score(static_cast<std::size_t>(e_n)), choice(score.size());
    if (r.scoring == MoeScoring::kSoftmax) {
      const double mx = *std::max_element(l, l + e_n);
      double sum = 0;
      for (std::int64_t e = 0; e < e_n; ++e) sum += std::exp(l[e] - mx);
      for (std::int64_t e = 0; e < e_n; ++e) score[static_cast<std::size_t>(e)] = std::exp(l[e] - mx) / sum;
    } else {
      for (std::int64_t e = 0; e < e_n; ++e) score[static_cast<std::size_t>(e)] = 1.0 / (1.0 + std::exp(-static_cast<double>(l[e])));
    }
    for (std::int64_t e = 0; e < e_n; ++e)
      choice[static_cast<std::size_t>(e)] = score[static_cast<std::size_t>(e)] + (r.correction_bias ? r.correction_bias[e] : 0.0);
    std::vector<double> gs(static_cast<std::size_t>(r.num_groups));
    for (std::int64_t g = 0; g < r.num_groups; ++g) {
      std::vector<double> c(choice.begin() + g * per, choice.begin() + (g + 1) * per);
      std::sort(c.begin(), c.end(), std::greater<>());
      gs[static_cast<std::size_t>(g)] = r.group_score == MoeGroupScore::kMax ? c[0] : c[0] + c[1];
    }
    std::vector<std::int64_t> gorder(gs.size());
    std::iota(gorder.begin(), gorder.end(), 0);
    std::stable_sort(gorder.begin(), gorder.end(), [&](std::int64_t a, std::int64_t b) { return gs[static_cast<std::size_t>(a)] > gs[static_cast<std::size_t>(b)]; });
    std::vector<bool> keep(gs.size(), false);
    for (std::int64_t j = 0; j < r.topk_groups; ++j) keep[static_cast<std::size_t>(gorder[static_cast<std::size_t>(j)])] = true;
    for (std::int64_t e = 0; e < e_n; ++e)
      if (!keep[static_cast<std::size_t>(e / per)]) choice[static_cast<std::size_t>(e)] = -INFINITY;
    std::vector<std::int32_t> order(static_cast<std::size_t>(e_n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return choice[static_cast<std::size_t>(a)] > choice[static_cast<std::size_t>(b)]; });
    double s = 0;
    for (std::int64_t j = 0; j < r.top_k; ++j) s += score[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])];
    for (std::int64_t j = 0; j < r.top_k; ++j) {
      ids->push_back(order[static_cast<std::size_t>(j)]);
      wts->push_back(score[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])] / (r.renormalize ? s : 1.0) * r.routed_scaling);
    }
  }
}

TEST(MoeGroupedRouter, MatchesReference) {
  std::mt19937 rng(13);
  struct Case {
    std::int64_t t, e, groups, keep, k;
    MoeScoring scoring;
    MoeGroupScore group_score;
    bool bias, renorm;
    float scaling;
  };
  const std::vector<Case> cases = {
      // DeepSeek-V2 group_limited_greedy (softmax, group max, no renormalisation, scaled)
      {17, 8, 4, 2, 3, MoeScoring::kSoftmax, MoeGroupScore::kMax, false, false, 2.0f},
      {5, 160, 8, 3, 6, MoeScoring::kSoftmax, MoeGroupScore::kMax, false, false, 16.0f},
      // DeepSeek-V2 greedy (one group)
      {9, 64, 1, 1, 6, MoeScoring::kSoftmax, MoeGroupScore::kMax, false, false, 1.0f},
      // DeepSeek-V3 noaux_tc (sigmoid, biased choice, top-2-sum groups, renormalised, scaled)
      {23, 16, 4, 2, 3, MoeScoring::kSigmoid, MoeGroupScore::kTop2Sum, true, true, 2.5f},
      {4, 256, 8, 4, 8, MoeScoring::kSigmoid, MoeGroupScore::kTop2Sum, true, true, 2.5f},
      {6, 16, 4, 4, 16, MoeScoring::kSigmoid, MoeGroupScore::kTop2Sum, true, false, 1.0f},  // k = E
      {3, 8, 8, 1, 1, MoeScoring::kSoftmax, MoeGroupScore::kMax, false, true, 1.0f},        // groups of 1
  };
  for (const Case& c : cases) {
    const auto logits = random_vec(static_cast<std::size_t>(c.t * c.e), rng, 2.0f);
    const auto bias = random_vec(static_cast<std::size_t>(c.e), rng, 0.3f);
    MoeGroupedRouting r;
    r.num_experts = c.e;
    r.top_k = c.k;
    r.scoring = c.scoring;
    r.num_groups = c.groups;
    r.topk_groups = c.keep;
    r.group_score = c.group_score;
    r.correction_bias = c.bias ? bias.data() : nullptr;
    r.renormalize = c.renorm;
    r.routed_scaling = c.scaling;
    std::vector<std::int32_t> ids(static_cast<std::size_t>(c.t * c.k));
    std::vector<float> wts(ids.size());
    moe_route_grouped(logits.data(), c.t, r, ids.data(), wts.data());
    std::vector<std::int32_t> want_ids;
    std::vector<double> want_wts;
    reference_grouped(logits, c.t, r, &want_ids, &want_wts);
    EXPECT_EQ(ids, want_ids) << "T=" << c.t << " E=" << c.e << " groups=" << c.groups << " k=" << c.k;
    for (std::size_t i = 0; i < wts.size(); ++i) EXPECT_NEAR(wts[i], want_wts[i], 1e-6 * c.scaling) << i;
    // The chosen experts come from at most topk_groups groups.
    for (std::int64_t t = 0; t < c.t; ++t) {
      std::vector<std::int64_t> g;
      for (std::int64_t j = 0; j < c.k; ++j) g.push_back(ids[static_cast<std::size_t>(t * c.k + j)] / (c.e / c.groups));
      std::sort(g.begin(), g.end());
      EXPECT_LE(std::unique(g.begin(), g.end()) - g.begin(), c.keep);
    }
  }
}

// The correction bias steers the choice but never the weight: a large bias on one expert makes it
// chosen by every token, with its plain sigmoid score as weight.
TEST(MoeGroupedRouter, BiasSelectsButDoesNotWeigh) {
  std::mt19937 rng(3);
  const std::int64_t t_n = 6, e_n = 8;
  const auto logits = random_vec(static_cast<std::size_t>(t_n * e_n), rng, 2.0f);
  std::vector<float> bias(e_n, 0.f);
  bias[5] = 10.f;
  MoeGroupedRouting r;
  r.num_experts = e_n;
  r.top_k = 2;
  r.scoring = MoeScoring::kSigmoid;
  r.num_groups = 2;
  r.topk_groups = 1;
  r.group_score = MoeGroupScore::kTop2Sum;
  r.correction_bias = bias.data();
  std::vector<std::int32_t> ids(static_cast<std::size_t>(t_n * 2));
  std::vector<float> wts(ids.size());
  moe_route_grouped(logits.data(), t_n, r, ids.data(), wts.data());
  for (std::int64_t t = 0; t < t_n; ++t) {
    EXPECT_EQ(ids[static_cast<std::size_t>(t * 2)], 5);
    EXPECT_GE(ids[static_cast<std::size_t>(t * 2 + 1)], 4);  // the other one from expert 5's group
    EXPECT_FLOAT_EQ(wts[static_cast<std::size_t>(t * 2)], 1.0f / (1.0f + std::exp(-logits[static_cast<std::size_t>(t * e_n + 5)])));
  }
}

// Row-major [n, k] f32 weights rounded to `type`, packed; also returns the rounded f32 values.
std::vector<std::uint8_t> pack(std::vector<float>& w, std::int64_t n, std::int64_t k, WeightType type,
                               base::ThreadPool& pool) {
  std::vector<std::uint8_t> raw(w.size() * weight_type_size(type));
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (type == WeightType::kF32) std::memcpy(raw.data() + 4 * i, &w[i], 4);
    if (type == WeightType::kBF16) {
      const bf16 h = f32_to_bf16(w[i]);
      std::memcpy(raw.data() + 2 * i, &h, 2);
      w[i] = bf16_to_f32(h);
    }
  }
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(packed_weight_elems(n, k)) * weight_type_size(type));
  pack_linear_weight(raw.data(), type, n, k, k, packed.data(), pool);
  return packed;
}

struct Experts {
  std::int64_t e_n, h, inter;
  WeightType type;
  std::vector<std::vector<float>> gate_up, down;  // rounded f32 copies, row-major
  std::vector<std::vector<std::uint8_t>> gate_up_packed, down_packed;
  std::vector<const void*> gu_ptr, dn_ptr;

  Experts(std::int64_t e, std::int64_t hid, std::int64_t in, WeightType t, std::mt19937& rng, base::ThreadPool& pool)
      : e_n(e), h(hid), inter(in), type(t) {
    for (std::int64_t i = 0; i < e_n; ++i) {
      gate_up.push_back(random_vec(static_cast<std::size_t>(2 * inter * h), rng, 0.3f));
      down.push_back(random_vec(static_cast<std::size_t>(h * inter), rng, 0.3f));
      gate_up_packed.push_back(pack(gate_up.back(), 2 * inter, h, type, pool));
      down_packed.push_back(pack(down.back(), h, inter, type, pool));
    }
    for (std::int64_t i = 0; i < e_n; ++i) {
      gu_ptr.push_back(gate_up_packed[static_cast<std::size_t>(i)].data());
      dn_ptr.push_back(down_packed[static_cast<std::size_t>(i)].data());
    }
  }

  std::vector<float> run(const std::vector<float>& x, std::int64_t t_n, const std::vector<std::int32_t>& ids,
                         const std::vector<float>& wts, std::int64_t k, base::ThreadPool& pool) const {
    std::vector<float> out(static_cast<std::size_t>(t_n * h), std::nanf(""));
    MoeExpertsArgs a;
    a.x = x.data();
    a.tokens = t_n;
    a.hidden = h;
    a.topk_ids = ids.data();
    a.topk_weights = wts.data();
    a.top_k = k;
    a.num_experts = e_n;
    a.inter = inter;
    a.type = type;
    a.gate_up = gu_ptr.data();
    a.down = dn_ptr.data();
    a.out = out.data();
    std::vector<std::uint8_t> ws(moe_workspace_bytes(t_n, k, h, inter, e_n));
    moe_experts(a, ws.data(), pool);
    return out;
  }

  // Token by token, slot by slot, in double.
  std::vector<double> reference(const std::vector<float>& x, std::int64_t t_n, const std::vector<std::int32_t>& ids,
                                const std::vector<float>& wts, std::int64_t k) const {
    std::vector<double> out(static_cast<std::size_t>(t_n * h), 0.0);
    for (std::int64_t t = 0; t < t_n; ++t) {
      for (std::int64_t j = 0; j < k; ++j) {
        const auto e = static_cast<std::size_t>(ids[static_cast<std::size_t>(t * k + j)]);
        std::vector<double> act(static_cast<std::size_t>(inter));
        for (std::int64_t i = 0; i < inter; ++i) {
          double g = 0, u = 0;
          for (std::int64_t c = 0; c < h; ++c) {
            g += static_cast<double>(gate_up[e][static_cast<std::size_t>(i * h + c)]) *
                 x[static_cast<std::size_t>(t * h + c)];
            u += static_cast<double>(gate_up[e][static_cast<std::size_t>((inter + i) * h + c)]) *
                 x[static_cast<std::size_t>(t * h + c)];
          }
          act[static_cast<std::size_t>(i)] = g / (1.0 + std::exp(-g)) * u;
        }
        for (std::int64_t c = 0; c < h; ++c) {
          double y = 0;
          for (std::int64_t i = 0; i < inter; ++i)
            y += static_cast<double>(down[e][static_cast<std::size_t>(c * inter + i)]) *
                 act[static_cast<std::size_t>(i)];
          out[static_cast<std::size_t>(t * h + c)] += wts[static_cast<std::size_t>(t * k + j)] * y;
        }
      }
    }
    return out;
  }
};

struct ExpertCase {
  std::int64_t tokens, experts, top_k, hidden, inter;
  std::int64_t used_experts;  // ids are drawn from [0, used_experts): the others get no tokens
};

class MoeExpertsTest : public ::testing::TestWithParam<std::tuple<WeightType, int>> {};

TEST_P(MoeExpertsTest, MatchesReference) {
  const auto [type, threads] = GetParam();
  base::ThreadPool pool(threads);
  std::mt19937 rng(42);
  const ExpertCase cases[] = {{1, 8, 2, 40, 24, 8},   {37, 8, 2, 40, 24, 8},   {37, 8, 2, 64, 32, 5},
                              {2, 8, 2, 16, 16, 8},   {64, 16, 4, 48, 40, 16}, {17, 4, 4, 33, 7, 4},
                              {5, 60, 4, 32, 24, 60}, {3, 8, 1, 20, 20, 3}};
  for (const auto& c : cases) {
    Experts ex(c.experts, c.hidden, c.inter, type, rng, pool);
    const auto x = random_vec(static_cast<std::size_t>(c.tokens * c.hidden), rng);
    std::vector<std::int32_t> ids;
    std::vector<float> wts;
    std::uniform_real_distribution<float> wd(0.05f, 1.0f);
    for (std::int64_t t = 0; t < c.tokens; ++t) {
      std::vector<std::int32_t> pick(static_cast<std::size_t>(c.used_experts));
      std::iota(pick.begin(), pick.end(), 0);
      std::shuffle(pick.begin(), pick.end(), rng);
      for (std::int64_t j = 0; j < c.top_k; ++j) {
        ids.push_back(pick[static_cast<std::size_t>(j)]);
        wts.push_back(wd(rng));
      }
    }
    const auto got = ex.run(x, c.tokens, ids, wts, c.top_k, pool);
    const auto want = ex.reference(x, c.tokens, ids, wts, c.top_k);
    double max_abs = 0, max_err = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      max_abs = std::max(max_abs, std::abs(want[i]));
      max_err = std::max(max_err, std::abs(got[i] - want[i]));
    }
    EXPECT_LE(max_err, 1e-5 * std::max(1.0, max_abs))
        << "T=" << c.tokens << " E=" << c.experts << " k=" << c.top_k << " H=" << c.hidden << " I=" << c.inter;

    // A token's output is bitwise the same alone as in the batch (determinism contract).
    for (std::int64_t t : {std::int64_t{0}, c.tokens - 1, c.tokens / 2}) {
      const std::vector<float> x1(x.begin() + t * c.hidden, x.begin() + (t + 1) * c.hidden);
      const std::vector<std::int32_t> id1(ids.begin() + t * c.top_k, ids.begin() + (t + 1) * c.top_k);
      const std::vector<float> w1(wts.begin() + t * c.top_k, wts.begin() + (t + 1) * c.top_k);
      const auto alone = ex.run(x1, 1, id1, w1, c.top_k, pool);
      EXPECT_EQ(0, std::memcmp(alone.data(), got.data() + t * c.hidden, alone.size() * sizeof(float)))
          << "token " << t << " of T=" << c.tokens;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MoeExpertsTest,
                         ::testing::Combine(::testing::Values(WeightType::kF32, WeightType::kBF16),
                                            ::testing::Values(1, 3)));

TEST(MoeSharedExpert, AddSigmoidGated) {
  std::vector<float> a = {1, 2, 3, 4}, b = {10, 20, 30, 40};
  const std::vector<float> g = {0.0f, 2.0f};
  add_sigmoid_gated(a.data(), b.data(), g.data(), 2, 2);
  const float s = 1.0f / (1.0f + std::exp(-2.0f));
  EXPECT_FLOAT_EQ(a[0], 6.0f);
  EXPECT_FLOAT_EQ(a[1], 12.0f);
  EXPECT_FLOAT_EQ(a[2], 3.0f + 30.0f * s);
  EXPECT_FLOAT_EQ(a[3], 4.0f + 40.0f * s);
}

}  // namespace
}  // namespace ferrite::kernels::cpu
