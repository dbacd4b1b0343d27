#include "kernels/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/elementwise.h"

namespace ferrite::kernels::cpu {

namespace {

constexpr std::size_t kAlign = 64;

std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The workspace, carved in one place so moe_workspace_bytes and moe_experts agree.
struct Workspace {
  float* rows = nullptr;               // [R, hidden]: gathered x, later reused for the expert outputs y
  float* gate_up = nullptr;            // [R, 2 * inter]; silu(g) * u is written over the gate half
  std::int32_t* offsets = nullptr;     // [E + 1]: expert e owns rows [offsets[e], offsets[e + 1])
  std::int32_t* cursor = nullptr;      // [E]
  std::int32_t* tile_start = nullptr;  // [E + 1]: prefix sum of tiles per expert
  std::int32_t* row_token = nullptr;   // [R]: the token a row came from
  std::int32_t* pair_row = nullptr;    // [R]: (token, slot) pair t * k + j -> its row
  std::size_t bytes = 0;
};

Workspace carve(void* base, std::int64_t tokens, std::int64_t top_k, std::int64_t hidden, std::int64_t inter,
                std::int64_t experts) {
  const auto r = static_cast<std::size_t>(tokens * top_k);
  const auto e = static_cast<std::size_t>(experts);
  auto* p = static_cast<char*>(base);
  Workspace w;
  std::size_t off = 0;
  auto take = [&](std::size_t n) {
    char* q = p == nullptr ? nullptr : p + off;
    off += align_up(n);
    return q;
  };
  w.rows = reinterpret_cast<float*>(take(r * static_cast<std::size_t>(hidden) * sizeof(float)));
  w.gate_up = reinterpret_cast<float*>(take(r * static_cast<std::size_t>(2 * inter) * sizeof(float)));
  w.offsets = reinterpret_cast<std::int32_t*>(take((e + 1) * sizeof(std::int32_t)));
  w.cursor = reinterpret_cast<std::int32_t*>(take(e * sizeof(std::int32_t)));
  w.tile_start = reinterpret_cast<std::int32_t*>(take((e + 1) * sizeof(std::int32_t)));
  w.row_token = reinterpret_cast<std::int32_t*>(take(r * sizeof(std::int32_t)));
  w.pair_row = reinterpret_cast<std::int32_t*>(take(r * sizeof(std::int32_t)));
  w.bytes = off + kAlign;  // room to align the base
  return w;
}

// The linear kernels run inside the pool's tasks on this one-thread pool: its parallel_for calls
// the function inline and touches no state, so any number of threads may share it.
base::ThreadPool& inline_pool() {
  static base::ThreadPool pool(1);
  return pool;
}

// y[rows of e, cols] = x[rows of e, :] W_e^T for every expert, tiled over (expert, panel range).
// Tiles per expert are proportional to its rows, about 4 tiles per thread in all.
void grouped_linear(const Workspace& w, const MoeExpertsArgs& a, const float* x, std::int64_t ldx, std::int64_t k,
                    const void* const* weights, std::int64_t n, float* y, std::int64_t ldy, base::ThreadPool& pool) {
  const std::int64_t experts = a.num_experts;
  const std::int64_t rows = a.tokens * a.top_k;
  const std::int64_t panels = (n + kPanelWidth - 1) / kPanelWidth;
  const std::int64_t target = 4 * pool.num_threads();
  w.tile_start[0] = 0;
  for (std::int64_t e = 0; e < experts; ++e) {
    const std::int64_t m = w.offsets[e + 1] - w.offsets[e];
    const std::int64_t tiles = m == 0 ? 0 : std::clamp<std::int64_t>((target * m + rows - 1) / rows, 1, panels);
    w.tile_start[e + 1] = w.tile_start[e] + static_cast<std::int32_t>(tiles);
  }
  const std::size_t elem = weight_type_size(a.type);
  const std::int32_t* tile_start = w.tile_start;
  pool.parallel_for(static_cast<std::size_t>(tile_start[experts]), 1, [&](int, std::size_t b, std::size_t end) {
    std::int64_t e =
        std::upper_bound(tile_start, tile_start + experts + 1, static_cast<std::int32_t>(b)) - tile_start - 1;
    for (auto i = static_cast<std::int64_t>(b); i < static_cast<std::int64_t>(end); ++i) {
      while (tile_start[e + 1] <= i) ++e;
      const std::int64_t tiles = tile_start[e + 1] - tile_start[e], t = i - tile_start[e];
      const std::int64_t p0 = panels * t / tiles, p1 = panels * (t + 1) / tiles;
      const std::int64_t c0 = p0 * kPanelWidth, c1 = std::min(p1 * kPanelWidth, n);
      const std::int64_t r0 = w.offsets[e], m = w.offsets[e + 1] - r0;
      const auto* packed = static_cast<const char*>(weights[e]) + static_cast<std::size_t>(p0 * kPanelWidth * k) * elem;
      linear(x + r0 * ldx, m, k, ldx, packed, a.type, c1 - c0, nullptr, y + r0 * ldy + c0, ldy, inline_pool());
    }
  });
}

}  // namespace

void moe_topk_softmax(const float* logits, std::int64_t tokens, std::int64_t num_experts, std::int64_t top_k,
                      bool renormalize, std::int32_t* topk_ids, float* topk_weights) {
  FERRITE_CHECK(top_k >= 1 && top_k <= num_experts);
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* l = logits + t * num_experts;
    std::int32_t* ids = topk_ids + t * top_k;
    float* wts = topk_weights + t * top_k;
    // softmax is monotonic, so the top k of the logits are the top k of the probabilities; only
    // the chosen ones need their probability.
    float mx = l[0];
    for (std::int64_t e = 1; e < num_experts; ++e) mx = std::max(mx, l[e]);
    float sum = 0.0f;
    for (std::int64_t e = 0; e < num_experts; ++e) sum += std::exp(l[e] - mx);
    for (std::int64_t j = 0; j < top_k; ++j) {
      std::int64_t best = -1;
      for (std::int64_t e = 0; e < num_experts; ++e) {
        bool taken = false;
        for (std::int64_t i = 0; i < j; ++i) taken = taken || ids[i] == e;
        if (!taken && (best < 0 || l[e] > l[best])) best = e;  // strict: ties go to the lower id
      }
      ids[j] = static_cast<std::int32_t>(best);
      wts[j] = std::exp(l[best] - mx) / sum;
    }
    if (renormalize) {
      float s = 0.0f;
      for (std::int64_t j = 0; j < top_k; ++j) s += wts[j];
      for (std::int64_t j = 0; j < top_k; ++j) wts[j] /= s;
    }
  }
}

void moe_route_grouped(const float* logits, std::int64_t tokens, const MoeGroupedRouting& r, std::int32_t* topk_ids,
                       float* topk_weights) {
  const std::int64_t e_n = r.num_experts, k = r.top_k, groups = r.num_groups;
  FERRITE_CHECK(e_n >= 1 && groups >= 1 && e_n % groups == 0 && r.topk_groups >= 1 && r.topk_groups <= groups);
  const std::int64_t per_group = e_n / groups;
  FERRITE_CHECK(k >= 1 && k <= r.topk_groups * per_group);
  FERRITE_CHECK(r.group_score == MoeGroupScore::kMax || per_group >= 2);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::vector<float> score(static_cast<std::size_t>(e_n)), choice(score.size()), group(static_cast<std::size_t>(groups));
  std::vector<char> eligible(static_cast<std::size_t>(groups));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* l = logits + t * e_n;
    if (r.scoring == MoeScoring::kSoftmax) {
      float mx = l[0];
      for (std::int64_t e = 1; e < e_n; ++e) mx = std::max(mx, l[e]);
      float sum = 0.0f;
      for (std::int64_t e = 0; e < e_n; ++e) sum += (score[static_cast<std::size_t>(e)] = std::exp(l[e] - mx));
      for (auto& v : score) v /= sum;
    } else {
      for (std::int64_t e = 0; e < e_n; ++e) score[static_cast<std::size_t>(e)] = 1.0f / (1.0f + std::exp(-l[e]));
    }
    for (std::int64_t e = 0; e < e_n; ++e)
      choice[static_cast<std::size_t>(e)] =
          score[static_cast<std::size_t>(e)] + (r.correction_bias != nullptr ? r.correction_bias[e] : 0.0f);
    // Group scores, then the topk_groups best groups (strict comparison: ties to the lower group).
    for (std::int64_t g = 0; g < groups; ++g) {
      const float* c = choice.data() + g * per_group;
      float best = kNegInf, second = kNegInf;
      for (std::int64_t i = 0; i < per_group; ++i) {
        if (c[i] > best) {
          second = best;
          best = c[i];
        } else if (c[i] > second) {
          second = c[i];
        }
      }
      group[static_cast<std::size_t>(g)] = r.group_score == MoeGroupScore::kMax ? best : best + second;
      eligible[static_cast<std::size_t>(g)] = 0;
    }
    for (std::int64_t j = 0; j < r.topk_groups; ++j) {
      std::int64_t bg = -1;
      for (std::int64_t g = 0; g < groups; ++g)
        if (!eligible[static_cast<std::size_t>(g)] && (bg < 0 || group[static_cast<std::size_t>(g)] > group[static_cast<std::size_t>(bg)]))
          bg = g;
      eligible[static_cast<std::size_t>(bg)] = 1;
    }
    // Top k experts of the eligible groups by `choice`, weighted by `score`.
    std::int32_t* ids = topk_ids + t * k;
    float* wts = topk_weights + t * k;
    for (std::int64_t j = 0; j < k; ++j) {
      std::int64_t best = -1;
      for (std::int64_t e = 0; e < e_n; ++e) {
        if (!eligible[static_cast<std::size_t>(e / per_group)]) continue;
        bool taken = false;
        for (std::int64_t i = 0; i < j; ++i) taken = taken || ids[i] == e;
        if (!taken && (best < 0 || choice[static_cast<std::size_t>(e)] > choice[static_cast<std::size_t>(best)])) best = e;
      }
      ids[j] = static_cast<std::int32_t>(best);
      wts[j] = score[static_cast<std::size_t>(best)];
    }
    if (r.renormalize) {
      float s = 0.0f;
      for (std::int64_t j = 0; j < k; ++j) s += wts[j];
      s += 1e-20f;
      for (std::int64_t j = 0; j < k; ++j) wts[j] /= s;
    }
    for (std::int64_t j = 0; j < k; ++j) wts[j] *= r.routed_scaling;
  }
}

std::size_t moe_workspace_bytes(std::int64_t tokens, std::int64_t top_k, std::int64_t hidden, std::int64_t inter,
                                std::int64_t num_experts) {
  return carve(nullptr, tokens, top_k, hidden, inter, num_experts).bytes;
}

void moe_experts(const MoeExpertsArgs& a, void* workspace, base::ThreadPool& pool) {
  const std::int64_t t_n = a.tokens, k = a.top_k, h = a.hidden, inter = a.inter, experts = a.num_experts;
  const std::int64_t rows = t_n * k;
  if (t_n == 0) return;
  auto* base = reinterpret_cast<void*>(align_up(reinterpret_cast<std::uintptr_t>(workspace)));
  const Workspace w = carve(base, t_n, k, h, inter, experts);

  // 1. Permute: counting sort of the pairs by expert (stable, so tokens ascend within an expert).
  std::fill(w.offsets, w.offsets + experts + 1, 0);
  for (std::int64_t p = 0; p < rows; ++p) {
    const std::int32_t e = a.topk_ids[p];
    FERRITE_CHECK_MSG(e >= 0 && e < experts, "expert id out of range");
    ++w.offsets[e + 1];
  }
  for (std::int64_t e = 0; e < experts; ++e) {
    w.offsets[e + 1] += w.offsets[e];
    w.cursor[e] = w.offsets[e];
  }
  for (std::int64_t p = 0; p < rows; ++p) {
    const std::int32_t r = w.cursor[a.topk_ids[p]]++;
    w.pair_row[p] = r;
    w.row_token[r] = static_cast<std::int32_t>(p / k);
  }
  pool.parallel_for(static_cast<std::size_t>(rows), 64, [&](int, std::size_t b, std::size_t e) {
    for (std::size_t r = b; r < e; ++r)
      std::memcpy(w.rows + r * static_cast<std::size_t>(h), a.x + static_cast<std::int64_t>(w.row_token[r]) * h,
                  static_cast<std::size_t>(h) * sizeof(float));
  });

  // 2. Grouped GEMMs: gate|up, silu(gate) * up over the gate half, down into the rows buffer.
  grouped_linear(w, a, w.rows, h, h, a.gate_up, 2 * inter, w.gate_up, 2 * inter, pool);
  silu_mul(w.gate_up, w.gate_up + inter, w.gate_up, rows, inter, 2 * inter, pool);
  grouped_linear(w, a, w.gate_up, 2 * inter, inter, a.down, h, w.rows, h, pool);

  // 3. Unpermute: each token sums its experts' rows, weighted, in ascending expert id.
  pool.parallel_for(static_cast<std::size_t>(t_n), 16, [&](int, std::size_t b, std::size_t e) {
    constexpr std::int64_t kMaxSlots = 64;
    std::int64_t order[kMaxSlots];
    FERRITE_CHECK(k <= kMaxSlots);
    for (auto t = static_cast<std::int64_t>(b); t < static_cast<std::int64_t>(e); ++t) {
      const std::int32_t* ids = a.topk_ids + t * k;
      for (std::int64_t j = 0; j < k; ++j) {
        std::int64_t i = j;
        for (; i > 0 && ids[order[i - 1]] > ids[j]; --i) order[i] = order[i - 1];
        order[i] = j;
      }
      float* out = a.out + t * h;
      std::fill(out, out + h, 0.0f);
      for (std::int64_t s = 0; s < k; ++s) {
        const std::int64_t j = order[s];
        const float wt = a.topk_weights[t * k + j];
        const float* y = w.rows + static_cast<std::int64_t>(w.pair_row[t * k + j]) * h;
        for (std::int64_t c = 0; c < h; ++c) out[c] += y[c] * wt;
      }
    }
  });
}

void add_sigmoid_gated(float* a, const float* b, const float* gate, std::int64_t rows, std::int64_t dim) {
  for (std::int64_t t = 0; t < rows; ++t) {
    const float s = 1.0f / (1.0f + std::exp(-gate[t]));
    for (std::int64_t c = 0; c < dim; ++c) a[t * dim + c] += s * b[t * dim + c];
  }
}

}  // namespace ferrite::kernels::cpu
