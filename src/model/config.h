// ModelConfig: what ferrite reads from a Hugging Face config.json (and generation_config.json).
// Parsed and validated once at load; every later stage trusts it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/dtype.h"
#include "ferrite/status.h"

namespace ferrite::model {

enum class RopeType { kDefault, kLinear, kDynamic, kLlama3, kYarn };
enum class RouterScoring { kSoftmax, kSigmoid };
enum class GroupScore { kMax, kTop2Sum };

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 0;  // 0: not given
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  std::optional<double> attention_factor;
  bool truncate = true;  // yarn: truncate the correction range to integers (HF default)
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama"
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;
  RopeScaling rope_scaling;
  std::int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  // Sliding-window attention: 0 means none. Qwen2/3 apply it only when use_sliding_window is true
  // and only to layers >= max_window_layers; layer_uses_sliding_window() answers per layer.
  std::int64_t sliding_window = 0;
  bool use_sliding_window = true;
  std::int64_t max_window_layers = 0;
  // From "layer_types" when the config lists it (newer transformers): true where a layer uses
  // "sliding_attention". Empty: the rule above decides.
  std::vector<bool> sliding_layers;
  bool attention_bias = false;  // bias on q/k/v (Qwen2 always; Llama when attention_bias)
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;  // Qwen3: RMSNorm over head_dim on q and k
  std::string hidden_act = "silu";
  backend::DType torch_dtype = backend::DType::kF32;
  std::vector<std::int64_t> bos_token_ids;
  std::vector<std::int64_t> eos_token_ids;

  // Mixture of experts (Mixtral, Qwen2-MoE, Qwen3-MoE); num_experts == 0 is a dense model. The
  // router is softmax over the experts, top num_experts_per_tok, renormalised when norm_topk_prob
  // (always for Mixtral). A layer is sparse unless it is in mlp_only_layers or (layer + 1) is not a
  // multiple of decoder_sparse_step; dense layers use intermediate_size.
  std::int64_t num_experts = 0;
  std::int64_t num_experts_per_tok = 0;
  std::int64_t moe_intermediate_size = 0;  // per expert
  bool norm_topk_prob = false;
  std::int64_t shared_expert_intermediate_size = 0;  // Qwen2-MoE's sigmoid-gated shared expert; 0: none
  std::int64_t decoder_sparse_step = 1;
  std::vector<std::int64_t> mlp_only_layers;

  // DeepSeek-V2/V3 routing (moe.h): scores are softmax (V2) or sigmoid (V3) of the router logits;
  // experts come in num_expert_groups groups, each scored by its best score (kMax, V2's
  // group_limited_greedy) or the sum of its two best (kTop2Sum, V3); only the best topk_groups
  // groups are eligible. V3 selects by score + e_score_correction_bias but weighs by the score.
  // The weights are renormalised when norm_topk_prob (V3 only; transformers' V2 ignores the flag),
  // then multiplied by routed_scaling_factor. Other families keep the defaults (softmax, 1 group).
  RouterScoring router_scoring = RouterScoring::kSoftmax;
  GroupScore group_score = GroupScore::kMax;
  std::int64_t num_expert_groups = 1;
  std::int64_t topk_groups = 1;
  bool score_correction_bias = false;
  double routed_scaling_factor = 1.0;
  // DeepSeek's shared experts: one ungated MLP of n_shared_experts * moe_intermediate_size.
  std::int64_t n_shared_experts = 0;
  // DeepSeek: layers below first_k_dense_replace are dense; after that, every moe_layer_freq-th.
  std::int64_t first_k_dense_replace = 0;
  std::int64_t moe_layer_freq = 1;

  // Multi-head latent attention (DeepSeek-V2/V3); kv_lora_rank > 0 marks an MLA model. Per head,
  // q and k are [qk_nope_head_dim | qk_rope_head_dim] and v is v_head_dim; K and V come from one
  // per-token latent of kv_lora_rank (after kv_a_layernorm) and one shared rope key, which is what
  // the KV cache holds. head_dim is qk_rope_head_dim (the rotary dimension), as in transformers.
  std::int64_t q_lora_rank = 0;  // 0: a plain q_proj
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;
  bool rope_interleave = false;  // rotate (x0, x1), (x2, x3), ... pairs (V2 always, V3 by default)
  bool is_mla() const { return kv_lora_rank > 0; }

  // Whether `layer`'s MLP is a mixture of experts.
  bool layer_is_sparse(std::int64_t layer) const;
  // Whether `layer` attends within sliding_window tokens only (false when sliding_window is 0).
  bool layer_uses_sliding_window(std::int64_t layer) const;
  // Dimensions of q/k that get rotary embedding: head_dim * partial_rotary_factor (validated even).
  std::int64_t rotary_dim() const;
};

// Defaults a model's generation_config.json gives to requests that leave a field out.
struct GenerationConfig {
  std::vector<std::int64_t> eos_token_ids;
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> pad_token_id;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<std::int64_t> max_new_tokens;
  std::optional<bool> do_sample;
};

// The architectures this build can run (config.json "architectures"[0]).
const std::vector<std::string>& supported_architectures();

// Parses and validates config.json text; `path` is only used in error messages.
Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& path);
// Reads <dir>/config.json.
Result<ModelConfig> load_model_config(const std::string& model_dir);
Result<GenerationConfig> parse_generation_config(const std::string& json_text, const std::string& path);
// Reads <dir>/generation_config.json; a missing file gives an empty GenerationConfig.
Result<GenerationConfig> load_generation_config(const std::string& model_dir);

}  // namespace ferrite::model
