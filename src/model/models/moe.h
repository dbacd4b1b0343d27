// The sparse MLP of Mixtral, Qwen2-MoE and Qwen3-MoE, used by the Llama-family decoder layer
// (models/llama.cpp) in the layers ModelConfig::layer_is_sparse picks:
//   probs = softmax(router(x));  ids, w = top-k(probs), renormalised when norm_topk_prob
//   out = sum_j w_j * down_e(silu(gate_e(x)) * up_e(x)),  e = ids_j
//   Qwen2-MoE adds  sigmoid(shared_expert_gate(x)) * shared_expert(x)
// DeepSeek-V2/V3 route with Backend::moe_route_grouped (groups, sigmoid scores with a correction
// bias, routed scaling; ModelConfig describes the options) and add an ungated shared_experts MLP of
// n_shared_experts * moe_intermediate_size.
// Checkpoint layouts accepted: one tensor per expert (Hub checkpoints, and what transformers 5
// save_pretrained writes), Mixtral's block_sparse_moe.experts.{e}.w1/w3/w2 and Qwen's
// mlp.experts.{e}.gate_proj/up_proj/down_proj; or transformers 5's fused in-memory form,
// mlp.experts.gate_up_proj [E, 2I, H] and mlp.experts.down_proj [E, H, I].
#pragma once

#include <string>

#include "backend/backend.h"
#include "model/config.h"
#include "model/model.h"
#include "model/tensor_parallel.h"

namespace ferrite::model {

class SparseMoeBlock {
 public:
  // `layer` is the layer's weight prefix, e.g. "model.layers.3". Adds what it loads to *params and *bytes.
  // Under tensor parallelism (`tp` of several ranks) this rank keeps rows [r * I / tp, (r+1) * I / tp)
  // of every expert's (and the shared expert's) intermediate dimension; the router and the shared
  // expert's gate are replicated, and forward() gives a partial sum for the caller to all-reduce.
  Status load(WeightSource& w, backend::Backend& be, const ModelConfig& c, const std::string& layer,
              backend::DType dtype, std::int64_t* params, std::size_t* bytes, const TpShard& tp = {});
  // out [T, hidden] = the block applied to x [T, hidden] (this rank's part of it under tensor parallelism).
  void forward(backend::Backend& be, const backend::Tensor& x, backend::Tensor& out) const;

 private:
  Status load_shard(WeightSource& w, backend::Backend& be, const ModelConfig& c, const std::string& layer,
                    backend::DType dtype, std::int64_t* params, std::size_t* bytes, const TpShard& tp);

  std::int64_t top_k_ = 0;
  bool renormalize_ = false;
  bool grouped_ = false;  // DeepSeek's router
  backend::MoeRouting routing_;
  backend::Tensor correction_bias_;  // f32 [E] (DeepSeek-V3), or undefined
  backend::LinearWeight router_;
  backend::MoeWeights experts_;
  bool shared_ = false;
  bool shared_gated_ = false;  // Qwen2-MoE's sigmoid gate
  backend::LinearWeight shared_gate_proj_, shared_up_, shared_down_, shared_gate_;
};

// Parameters of one sparse MLP of this configuration (router, experts, shared expert).
std::int64_t sparse_moe_parameter_count(const ModelConfig& c);

}  // namespace ferrite::model
