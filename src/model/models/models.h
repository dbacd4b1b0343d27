// Factories of the architecture families; model.cpp maps config.json names to them.
#pragma once

#include <utility>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"
#include "model/rope_scaling.h"

namespace ferrite::model {

// LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, and with a mixture of
// experts (models/moe.h) MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM.
Result<std::unique_ptr<CausalLM>> make_llama_family(const ModelConfig& config, WeightSource& weights,
                                                    backend::Backend& backend, backend::DType weight_dtype,
                                                    bool show_progress);
// One rank's shard of the same families (model/tensor_parallel.h).
Result<std::unique_ptr<CausalLM>> make_llama_family_shard(const ModelConfig& config, WeightSource& weights,
                                                          backend::Backend& backend, backend::DType weight_dtype,
                                                          bool show_progress, parallel::Communicator& comm);
// Number of parameters a checkpoint of this configuration holds (tied embeddings counted once).
std::int64_t llama_family_parameter_count(const ModelConfig& config);

// DeepseekV2ForCausalLM and DeepseekV3ForCausalLM: multi-head latent attention over a latent KV
// cache, and DeepSeek's mixture of experts (grouped routing, shared experts).
Result<std::unique_ptr<CausalLM>> make_deepseek_family(const ModelConfig& config, WeightSource& weights,
                                                       backend::Backend& backend, backend::DType weight_dtype,
                                                       bool show_progress);
std::int64_t deepseek_family_parameter_count(const ModelConfig& config);

// What every architecture's forward pass uploads first (helpers in models/batch_inputs.cpp).
// A host i32 tensor holding `v`.
backend::Tensor host_i32(const std::vector<std::int32_t>& v, backend::Shape shape);
// The flat batch's attention metadata (query starts, context lengths, block tables, slots), uploaded.
backend::AttentionMeta upload_attention_meta(backend::Backend& be, const ForwardBatch& batch, std::int64_t block_size);
// RoPE cos and sin tables [tokens, rot_dim / 2], one row per token at its position (dynamic NTK
// sees its sequence's length after the step), uploaded.
std::pair<backend::Tensor, backend::Tensor> rope_tables(backend::Backend& be, const RotaryEmbedding& rope,
                                                        const ForwardBatch& batch);

}  // namespace ferrite::model
