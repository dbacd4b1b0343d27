// Factories of the architecture families; model.cpp maps config.json names to them.
#pragma once

#include "model/model.h"

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

}  // namespace ferrite::model
