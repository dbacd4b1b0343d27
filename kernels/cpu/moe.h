// Mixture of experts on the CPU: the router (softmax top-k) and the expert pass.
//
// Router. probs = softmax(logits[t, :]) in f32; the k largest, in descending order, with ties going
// to the lower expert id (torch.topk on CPU breaks exact ties in no documented order; with real
// router logits exact ties do not occur); optionally renormalised so the k weights sum to 1
// (Mixtral always, Qwen MoE when norm_topk_prob).
//
// Expert pass, in the three stages a GPU version has (permute, grouped GEMM, unpermute), so that a
// CUDA backend can put its own kernels behind the same arguments (topk ids/weights in, out rows out):
//   1. permute: a counting sort of the T*k (token, slot) pairs by expert gives every expert one
//      contiguous block of rows (tokens in ascending order inside it), and x's rows are gathered
//      into that order;
//   2. grouped GEMM: for every expert with rows, g|u = x_e Wgu_e^T, h = silu(g) * u, y_e = h Wd_e^T,
//      with the packed linear kernel (kernels/cpu/linear.h). The work is split into tiles of
//      (expert, range of 16-column panels) over the pool, so a decode step (a few rows in k experts)
//      still uses every thread and a prefill spreads its experts over them;
//   3. unpermute: out[t] = sum over t's k slots, in ascending expert id (the order transformers'
//      index_add_ loop adds them), of weight * y[row].
// Determinism: every y element is the linear kernel's FMA chain over its own row (independent of the
// other rows and of the tiling) and the combine order is fixed, so a token's output is bitwise the
// same whatever else is in the batch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "kernels/cpu/linear.h"

namespace ferrite::kernels::cpu {

// logits [tokens, num_experts] -> topk_ids [tokens, top_k], topk_weights [tokens, top_k].
// Requires 1 <= top_k <= num_experts.
void moe_topk_softmax(const float* logits, std::int64_t tokens, std::int64_t num_experts, std::int64_t top_k,
                      bool renormalize, std::int32_t* topk_ids, float* topk_weights);

// DeepSeek's grouped router (V2: softmax, V3: sigmoid with a score-correction bias):
//   s = softmax(logits) or sigmoid(logits);  c = s + correction_bias (bias only with sigmoid; may be null)
//   groups: the experts in num_groups equal consecutive groups, each scored by max(c) (kMax) or by the
//   sum of its two largest c (kTop2Sum); the topk_groups best groups stay eligible;
//   ids = the top_k largest c among eligible experts; weights = s[ids] (never the bias);
//   renormalised to sum 1 (plus 1e-20, as DeepSeek-V3) when `renormalize`; times routed_scaling.
// Ties (groups and experts) go to the lower index. Order of the k ids: descending c.
enum class MoeScoring { kSoftmax, kSigmoid };
enum class MoeGroupScore { kMax, kTop2Sum };

struct MoeGroupedRouting {
  std::int64_t num_experts = 0;
  std::int64_t top_k = 0;
  MoeScoring scoring = MoeScoring::kSoftmax;
  std::int64_t num_groups = 1;   // divides num_experts
  std::int64_t topk_groups = 1;  // <= num_groups; top_k <= topk_groups * num_experts / num_groups
  MoeGroupScore group_score = MoeGroupScore::kMax;
  const float* correction_bias = nullptr;  // [num_experts] or null
  bool renormalize = false;
  float routed_scaling = 1.0f;
};

// logits [tokens, num_experts] -> topk_ids [tokens, top_k], topk_weights [tokens, top_k].
void moe_route_grouped(const float* logits, std::int64_t tokens, const MoeGroupedRouting& r, std::int32_t* topk_ids,
                       float* topk_weights);

struct MoeExpertsArgs {
  const float* x = nullptr;  // [tokens, hidden], rows `hidden` floats apart
  std::int64_t tokens = 0;
  std::int64_t hidden = 0;
  const std::int32_t* topk_ids = nullptr;  // [tokens, top_k], each in [0, num_experts)
  const float* topk_weights = nullptr;     // [tokens, top_k]
  std::int64_t top_k = 0;
  std::int64_t num_experts = 0;
  std::int64_t inter = 0;  // per-expert intermediate size
  WeightType type = WeightType::kF32;
  // Per expert, packed as pack_linear_weight makes them:
  const void* const* gate_up = nullptr;  // [2 * inter, hidden]: the gate rows, then the up rows
  const void* const* down = nullptr;     // [hidden, inter]
  float* out = nullptr;                  // [tokens, hidden], overwritten
};

// Bytes of workspace moe_experts needs (64-byte aligned inside).
std::size_t moe_workspace_bytes(std::int64_t tokens, std::int64_t top_k, std::int64_t hidden, std::int64_t inter,
                                std::int64_t num_experts);

void moe_experts(const MoeExpertsArgs& args, void* workspace, base::ThreadPool& pool);

// a[t, :] += sigmoid(gate[t]) * b[t, :] for t < rows (Qwen2-MoE's gated shared expert).
void add_sigmoid_gated(float* a, const float* b, const float* gate, std::int64_t rows, std::int64_t dim);

}  // namespace ferrite::kernels::cpu
