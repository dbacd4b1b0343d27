#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/mmap_file.h"

namespace ferrite::model {

namespace {

using json = nlohmann::json;

enum class Family { kLlama, kMistral, kQwen2, kQwen3, kMixtral, kQwen2Moe, kQwen3Moe, kDeepseekV2, kDeepseekV3 };

struct ArchInfo {
  const char* architecture;
  const char* model_type;
  Family family;
  std::int64_t default_max_positions;  // the transformers config class defaults
};

constexpr ArchInfo kArchs[] = {
    {"LlamaForCausalLM", "llama", Family::kLlama, 2048},
    {"MistralForCausalLM", "mistral", Family::kMistral, 4096 * 32},
    {"Qwen2ForCausalLM", "qwen2", Family::kQwen2, 32768},
    {"Qwen3ForCausalLM", "qwen3", Family::kQwen3, 32768},
    {"MixtralForCausalLM", "mixtral", Family::kMixtral, 4096 * 32},
    {"Qwen2MoeForCausalLM", "qwen2_moe", Family::kQwen2Moe, 32768},
    {"Qwen3MoeForCausalLM", "qwen3_moe", Family::kQwen3Moe, 32768},
    {"DeepseekV2ForCausalLM", "deepseek_v2", Family::kDeepseekV2, 2048},
    {"DeepseekV3ForCausalLM", "deepseek_v3", Family::kDeepseekV3, 4096},
};

// Dimensions beyond this are certainly corrupt, and keeping them small means products of two
// of them (vocab * hidden, heads * head_dim) never overflow later.
constexpr std::int64_t kMaxDim = std::int64_t{1} << 26;

std::string supported_list() {
  std::string s;
  for (const auto& a : kArchs) {
    if (!s.empty()) s += ", ";
    s += a.architecture;
  }
  return s;
}

// A short description of a JSON value for error messages; containers by type only, since their
// text may be huge.
std::string describe(const json& v) {
  if (v.is_structured()) return v.type_name();
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + text;
}

// Where fields are read from: the file (for messages) and, inside nested objects, a prefix
// such as "rope_scaling.".
struct Ctx {
  const std::string& path;
  std::string prefix;

  Status error(std::string_view key, const std::string& msg) const {
    return invalid_argument(path + ": field '" + prefix + std::string(key) + "': " + msg);
  }
  Status missing(std::string_view key) const {
    return invalid_argument(path + ": missing required field '" + prefix + std::string(key) + "'");
  }
};

// Each reader leaves *out alone and returns false when the key is absent or null; a value of the
// wrong type is an error.
Result<bool> read_int(const json& obj, const Ctx& c, const char* key, std::int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return c.error(key, "integer out of range: " + describe(*it));
    *out = static_cast<std::int64_t>(u);
    return true;
  }
  if (!it->is_number_integer()) return c.error(key, "expected an integer, got " + describe(*it));
  *out = it->get<std::int64_t>();
  return true;
}

Result<bool> read_double(const json& obj, const Ctx& c, const char* key, double* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_number()) return c.error(key, "expected a number, got " + describe(*it));
  *out = it->get<double>();
  if (!std::isfinite(*out)) return c.error(key, "expected a finite number");
  return true;
}

Result<bool> read_bool(const json& obj, const Ctx& c, const char* key, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) return c.error(key, "expected true or false, got " + describe(*it));
  *out = it->get<bool>();
  return true;
}

Result<bool> read_string(const json& obj, const Ctx& c, const char* key, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_string()) return c.error(key, "expected a string, got " + describe(*it));
  *out = it->get<std::string>();
  return true;
}

// A token id field that may be an integer, a list of integers, or null.
Status read_token_ids(const json& obj, const Ctx& c, const char* key, std::vector<std::int64_t>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return ok_status();
  auto one = [&](const json& v) -> Status {
    if (!v.is_number_integer()) return c.error(key, "expected an integer or a list of integers, got " + describe(v));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxDim))
      return c.error(key, "token id out of range: " + describe(v));
    const auto id = v.get<std::int64_t>();
    if (id < 0) return c.error(key, "token ids must not be negative, got " + std::to_string(id));
    out->push_back(id);
    return ok_status();
  };
  if (it->is_array()) {
    for (const auto& v : *it) FERRITE_RETURN_IF_ERROR(one(v));
    return ok_status();
  }
  return one(*it);
}

Status require_positive_int(const json& obj, const Ctx& c, const char* key, std::int64_t* out) {
  FERRITE_ASSIGN_OR_RETURN(bool present, read_int(obj, c, key, out));
  if (!present) return c.missing(key);
  if (*out <= 0) return c.error(key, "must be a positive integer, got " + std::to_string(*out));
  if (*out > kMaxDim) return c.error(key, "value " + std::to_string(*out) + " is implausibly large");
  return ok_status();
}

Status optional_positive_int(const json& obj, const Ctx& c, const char* key, std::int64_t* out) {
  FERRITE_ASSIGN_OR_RETURN(bool present, read_int(obj, c, key, out));
  if (!present) return ok_status();
  if (*out <= 0) return c.error(key, "must be a positive integer, got " + std::to_string(*out));
  if (*out > kMaxDim) return c.error(key, "value " + std::to_string(*out) + " is implausibly large");
  return ok_status();
}

Status optional_positive_double(const json& obj, const Ctx& c, const char* key, double* out) {
  FERRITE_ASSIGN_OR_RETURN(bool present, read_double(obj, c, key, out));
  if (present && !(*out > 0)) return c.error(key, "must be > 0, got " + std::to_string(*out));
  return ok_status();
}

Status require_positive_double(const json& obj, const Ctx& c, const char* key, double* out) {
  FERRITE_ASSIGN_OR_RETURN(bool present, read_double(obj, c, key, out));
  if (!present) return c.missing(key);
  if (!(*out > 0)) return c.error(key, "must be > 0, got " + std::to_string(*out));
  return ok_status();
}

// Parses JSON text into an object, turning nlohmann's exception into a Status with its position.
Result<json> parse_json_object(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep "parse error at line L, column C: ...".
    if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != std::string::npos)
      what = what.substr(pos + 2);
    return invalid_argument(path + ": malformed JSON: " + what);
  }
  if (!j.is_object()) return invalid_argument(path + ": expected a JSON object at the top level, got " + describe(j));
  return j;
}

// rope_scaling (or the scaling part of rope_parameters). `obj` is an object.
Status parse_rope_scaling(const json& obj, const Ctx& c, bool type_optional, RopeScaling* out) {
  std::string type;
  FERRITE_ASSIGN_OR_RETURN(bool has_type, read_string(obj, c, "rope_type", &type));
  if (!has_type) {
    FERRITE_ASSIGN_OR_RETURN(has_type, read_string(obj, c, "type", &type));
  }
  if (!has_type) {
    if (type_optional)
      type = "default";
    else
      return c.missing("type' or '" + c.prefix + "rope_type");
  }
  *out = RopeScaling{};
  if (type == "default") return ok_status();
  if (type == "linear" || type == "dynamic") {
    out->type = type == "linear" ? RopeType::kLinear : RopeType::kDynamic;
    return require_positive_double(obj, c, "factor", &out->factor);
  }
  if (type == "llama3") {
    out->type = RopeType::kLlama3;
    FERRITE_RETURN_IF_ERROR(require_positive_double(obj, c, "factor", &out->factor));
    FERRITE_RETURN_IF_ERROR(require_positive_double(obj, c, "low_freq_factor", &out->low_freq_factor));
    FERRITE_RETURN_IF_ERROR(require_positive_double(obj, c, "high_freq_factor", &out->high_freq_factor));
    FERRITE_RETURN_IF_ERROR(
        require_positive_int(obj, c, "original_max_position_embeddings", &out->original_max_position_embeddings));
    // The llama3 ramp divides by (high - low).
    if (!(out->high_freq_factor > out->low_freq_factor))
      return c.error("high_freq_factor", "must be greater than low_freq_factor (" +
                                             std::to_string(out->low_freq_factor) + "), got " +
                                             std::to_string(out->high_freq_factor));
    return ok_status();
  }
  if (type == "yarn") {
    out->type = RopeType::kYarn;
    FERRITE_RETURN_IF_ERROR(require_positive_double(obj, c, "factor", &out->factor));
    FERRITE_RETURN_IF_ERROR(
        optional_positive_int(obj, c, "original_max_position_embeddings", &out->original_max_position_embeddings));
    FERRITE_RETURN_IF_ERROR(read_double(obj, c, "beta_fast", &out->beta_fast).status());
    FERRITE_RETURN_IF_ERROR(read_double(obj, c, "beta_slow", &out->beta_slow).status());
    double v = 0;
    FERRITE_ASSIGN_OR_RETURN(bool has, read_double(obj, c, "mscale", &v));
    if (has) out->mscale = v;
    FERRITE_ASSIGN_OR_RETURN(has, read_double(obj, c, "mscale_all_dim", &v));
    if (has) out->mscale_all_dim = v;
    FERRITE_RETURN_IF_ERROR(optional_positive_double(obj, c, "attention_factor", &v));
    if (obj.contains("attention_factor") && !obj["attention_factor"].is_null()) out->attention_factor = v;
    FERRITE_RETURN_IF_ERROR(read_bool(obj, c, "truncate", &out->truncate).status());
    return ok_status();
  }
  return unimplemented(c.path + ": field '" + c.prefix + (obj.contains("rope_type") ? "rope_type" : "type") +
                       "': unsupported rope scaling type '" + type +
                       "' (supported: default, linear, dynamic, llama3, yarn)");
}

Status parse_rope(const json& j, const Ctx& c, ModelConfig* cfg) {
  // Newer transformers write rope_parameters {"rope_type", "rope_theta", ...} instead of
  // rope_theta + rope_scaling; read either.
  const json* params = nullptr;
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return c.error("rope_parameters", "expected an object or null, got " + describe(*it));
    params = &*it;
  }
  Ctx pc{c.path, "rope_parameters."};
  FERRITE_ASSIGN_OR_RETURN(bool has_theta, read_double(j, c, "rope_theta", &cfg->rope_theta));
  if (has_theta && !(cfg->rope_theta > 0)) return c.error("rope_theta", "must be > 0");
  if (!has_theta && params != nullptr) {
    FERRITE_RETURN_IF_ERROR(optional_positive_double(*params, pc, "rope_theta", &cfg->rope_theta));
  }
  FERRITE_ASSIGN_OR_RETURN(bool has_prf, read_double(j, c, "partial_rotary_factor", &cfg->partial_rotary_factor));
  if (!has_prf && params != nullptr) {
    FERRITE_ASSIGN_OR_RETURN(has_prf, read_double(*params, pc, "partial_rotary_factor", &cfg->partial_rotary_factor));
  }
  if (!(cfg->partial_rotary_factor > 0 && cfg->partial_rotary_factor <= 1))
    return c.error("partial_rotary_factor", "must be in (0, 1], got " + std::to_string(cfg->partial_rotary_factor));

  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return c.error("rope_scaling", "expected an object or null, got " + describe(*it));
    return parse_rope_scaling(*it, Ctx{c.path, "rope_scaling."}, /*type_optional=*/false, &cfg->rope_scaling);
  }
  if (params != nullptr) return parse_rope_scaling(*params, pc, /*type_optional=*/true, &cfg->rope_scaling);
  return ok_status();
}

Status parse_sliding_window(const json& j, const Ctx& c, Family family, ModelConfig* cfg) {
  switch (family) {
    case Family::kLlama:
      // transformers' Llama attention never uses a sliding window, whatever the config says.
      cfg->sliding_window = 0;
      return ok_status();
    case Family::kMistral: {
      // MistralConfig defaults to 4096 when the key is absent; null turns it off.
      cfg->sliding_window = j.contains("sliding_window") ? 0 : 4096;
      FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "sliding_window", &cfg->sliding_window));
      cfg->use_sliding_window = true;
      cfg->max_window_layers = 0;
      return ok_status();
    }
    case Family::kDeepseekV2:
    case Family::kDeepseekV3:
      cfg->sliding_window = 0;  // MLA attends to the whole context
      return ok_status();
    case Family::kMixtral:
      // MixtralConfig defaults to no window (unlike Mistral); every layer uses the one given.
      cfg->sliding_window = 0;
      FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "sliding_window", &cfg->sliding_window));
      cfg->use_sliding_window = true;
      cfg->max_window_layers = 0;
      return ok_status();
    case Family::kQwen2:
    case Family::kQwen3:
    case Family::kQwen2Moe:
    case Family::kQwen3Moe: {
      cfg->use_sliding_window = false;
      FERRITE_RETURN_IF_ERROR(read_bool(j, c, "use_sliding_window", &cfg->use_sliding_window).status());
      cfg->sliding_window = 4096;
      if (j.contains("sliding_window") && j["sliding_window"].is_null()) cfg->sliding_window = 0;
      // Qwen2MoeConfig writes 0 for "no window" when use_sliding_window is false.
      if (auto it = j.find("sliding_window"); it != j.end() && it->is_number_integer() && it->get<std::int64_t>() == 0)
        cfg->sliding_window = 0;
      else
        FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "sliding_window", &cfg->sliding_window));
      cfg->max_window_layers = 28;
      FERRITE_ASSIGN_OR_RETURN(bool has, read_int(j, c, "max_window_layers", &cfg->max_window_layers));
      if (has && cfg->max_window_layers < 0)
        return c.error("max_window_layers", "must not be negative, got " + std::to_string(cfg->max_window_layers));
      // Off unless asked for, as in transformers (sliding_window = None unless use_sliding_window).
      if (!cfg->use_sliding_window) cfg->sliding_window = 0;
      // Qwen3MoeAttention applies the window to every layer (no max_window_layers).
      if (family == Family::kQwen3Moe) cfg->max_window_layers = 0;
      // Qwen2MoeConfig derives its own layer_types when none are given: sliding on even layers
      // below max_window_layers.
      if (family == Family::kQwen2Moe && cfg->use_sliding_window && cfg->sliding_window > 0 &&
          (j.find("layer_types") == j.end() || j["layer_types"].is_null())) {
        for (std::int64_t i = 0; i < cfg->num_hidden_layers; ++i)
          cfg->sliding_layers.push_back((i + 1) % 2 == 1 && i < cfg->max_window_layers);
      }
      break;
    }
  }
  // Newer configs spell the per-layer choice out; it wins over the rule.
  if (auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return c.error("layer_types", "expected a list of strings, got " + describe(*it));
    if (static_cast<std::int64_t>(it->size()) != cfg->num_hidden_layers)
      return c.error("layer_types", "has " + std::to_string(it->size()) + " entries but num_hidden_layers is " +
                                        std::to_string(cfg->num_hidden_layers));
    for (const auto& t : *it) {
      if (t == "sliding_attention") {
        cfg->sliding_layers.push_back(true);
      } else if (t == "full_attention") {
        cfg->sliding_layers.push_back(false);
      } else {
        return c.error("layer_types",
                       "unsupported layer type " + describe(t) + " (supported: full_attention, sliding_attention)");
      }
    }
    bool any_sliding = false;
    for (bool s : cfg->sliding_layers) any_sliding = any_sliding || s;
    if (any_sliding && cfg->sliding_window == 0)
      return c.error("layer_types", "lists sliding_attention layers but no sliding_window is set");
  }
  return ok_status();
}

// The mixture-of-experts fields. The router options transformers reads for these families are
// fixed (softmax, greedy top-k); a config asking for another scoring is refused, not ignored.
Status parse_moe(const json& j, const Ctx& c, Family family, ModelConfig* cfg) {
  if (family != Family::kMixtral && family != Family::kQwen2Moe && family != Family::kQwen3Moe) return ok_status();
  const bool mixtral = family == Family::kMixtral;
  // MixtralConfig and Qwen3MoeConfig map num_experts to num_local_experts (and save the latter);
  // Hub checkpoints of Qwen MoE carry num_experts. Either is read; both must agree.
  const char* experts_key = "num_experts";
  std::int64_t alias = 0;
  FERRITE_ASSIGN_OR_RETURN(bool has_local, read_int(j, c, "num_local_experts", &alias));
  FERRITE_ASSIGN_OR_RETURN(bool has_experts, read_int(j, c, "num_experts", &cfg->num_experts));
  if (!has_experts && !has_local)
    return invalid_argument(c.path + ": missing required field '" + (mixtral ? "num_local_experts" : "num_experts") +
                            "' (the number of experts)");
  if (has_local && has_experts && alias != cfg->num_experts)
    return c.error("num_experts", std::to_string(cfg->num_experts) + " disagrees with num_local_experts (" +
                                      std::to_string(alias) + ")");
  if (!has_experts) experts_key = "num_local_experts";
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, experts_key, &cfg->num_experts));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "num_experts_per_tok", &cfg->num_experts_per_tok));
  if (cfg->num_experts_per_tok > cfg->num_experts)
    return c.error("num_experts_per_tok", std::to_string(cfg->num_experts_per_tok) + " is more than " + experts_key +
                                              " (" + std::to_string(cfg->num_experts) + ")");
  if (mixtral) {
    cfg->moe_intermediate_size = cfg->intermediate_size;
    cfg->norm_topk_prob = true;
  } else {
    FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "moe_intermediate_size", &cfg->moe_intermediate_size));
    cfg->norm_topk_prob = false;
    FERRITE_RETURN_IF_ERROR(read_bool(j, c, "norm_topk_prob", &cfg->norm_topk_prob).status());
    cfg->decoder_sparse_step = 1;
    FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "decoder_sparse_step", &cfg->decoder_sparse_step));
    if (auto it = j.find("mlp_only_layers"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) return c.error("mlp_only_layers", "expected a list of layer indices, got " + describe(*it));
      for (const auto& v : *it) {
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= cfg->num_hidden_layers)
          return c.error("mlp_only_layers", "entry " + describe(v) + " is not a layer index in [0, " +
                                                std::to_string(cfg->num_hidden_layers) + ")");
        cfg->mlp_only_layers.push_back(v.get<std::int64_t>());
      }
    }
  }
  if (family == Family::kQwen2Moe) {
    FERRITE_RETURN_IF_ERROR(
        require_positive_int(j, c, "shared_expert_intermediate_size", &cfg->shared_expert_intermediate_size));
  }
  // Options of other MoE families (DeepSeek, ...) that would change the routing.
  std::string s;
  FERRITE_ASSIGN_OR_RETURN(bool has, read_string(j, c, "scoring_func", &s));
  if (has && s != "softmax")
    return unimplemented(c.path + ": field 'scoring_func': unsupported router scoring '" + s +
                         "' (supported: softmax)");
  FERRITE_ASSIGN_OR_RETURN(has, read_string(j, c, "topk_method", &s));
  if (has && s != "greedy")
    return unimplemented(c.path + ": field 'topk_method': unsupported top-k method '" + s + "' (supported: greedy)");
  for (const char* key : {"n_group", "topk_group"}) {
    std::int64_t v = 0;
    FERRITE_ASSIGN_OR_RETURN(has, read_int(j, c, key, &v));
    if (has && v != 1)
      return unimplemented(c.path + ": field '" + key + "': grouped expert routing is not supported (got " +
                           std::to_string(v) + ")");
  }
  double scale = 1.0;
  FERRITE_ASSIGN_OR_RETURN(has, read_double(j, c, "routed_scaling_factor", &scale));
  if (has && scale != 1.0)
    return unimplemented(c.path + ": field 'routed_scaling_factor': scaled routing weights are not supported (got " +
                         std::to_string(scale) + ")");
  // router_aux_loss_coef, router_jitter_noise and output_router_logits only matter in training.
  return ok_status();
}


// Multi-head latent attention (DeepSeek-V2/V3). transformers defaults q_lora_rank to 1536 when the
// key is absent and uses a plain q_proj when it is null; the other dimensions have no sensible
// default for a checkpoint and are required.
Status parse_mla(const json& j, const Ctx& c, Family family, ModelConfig* cfg) {
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "kv_lora_rank", &cfg->kv_lora_rank));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "qk_nope_head_dim", &cfg->qk_nope_head_dim));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "qk_rope_head_dim", &cfg->qk_rope_head_dim));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "v_head_dim", &cfg->v_head_dim));
  if (cfg->qk_rope_head_dim % 2 != 0)
    return c.error("qk_rope_head_dim", "must be even (it is rotated in pairs), got " + std::to_string(cfg->qk_rope_head_dim));
  if (auto it = j.find("q_lora_rank"); it == j.end()) {
    cfg->q_lora_rank = 1536;
  } else if (it->is_null()) {
    cfg->q_lora_rank = 0;
  } else {
    FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "q_lora_rank", &cfg->q_lora_rank));
  }
  // Every head has its own K and V expanded from the one latent: there are no shared KV heads.
  if (cfg->num_key_value_heads != cfg->num_attention_heads)
    return c.error("num_key_value_heads", std::to_string(cfg->num_key_value_heads) + " differs from num_attention_heads (" +
                                              std::to_string(cfg->num_attention_heads) +
                                              "); multi-head latent attention has one K and V per query head");
  cfg->rope_interleave = true;  // DeepSeek-V2 always rotates interleaved pairs
  if (family == Family::kDeepseekV3) {
    FERRITE_RETURN_IF_ERROR(read_bool(j, c, "rope_interleave", &cfg->rope_interleave).status());
  }
  // transformers sets head_dim to the rotary dimension whatever the file says.
  cfg->head_dim = cfg->qk_rope_head_dim;
  return ok_status();
}

// DeepSeek's mixture of experts. Defaults are the transformers config classes'. Routing options
// that transformers would not run, or would run differently from the DeepSeek code, are refused.
Status parse_deepseek_moe(const json& j, const Ctx& c, Family family, ModelConfig* cfg) {
  const bool v3 = family == Family::kDeepseekV3;
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "n_routed_experts", &cfg->num_experts));
  for (const char* alias : {"num_experts", "num_local_experts"}) {
    std::int64_t v = 0;
    FERRITE_ASSIGN_OR_RETURN(bool has, read_int(j, c, alias, &v));
    if (has && v != cfg->num_experts)
      return c.error(alias, std::to_string(v) + " disagrees with n_routed_experts (" + std::to_string(cfg->num_experts) + ")");
  }
  const std::int64_t e_n = cfg->num_experts;
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "num_experts_per_tok", &cfg->num_experts_per_tok));
  if (cfg->num_experts_per_tok > e_n)
    return c.error("num_experts_per_tok", std::to_string(cfg->num_experts_per_tok) + " is more than n_routed_experts (" +
                                              std::to_string(e_n) + ")");
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "moe_intermediate_size", &cfg->moe_intermediate_size));
  cfg->n_shared_experts = v3 ? 1 : 2;
  FERRITE_ASSIGN_OR_RETURN(bool has, read_int(j, c, "n_shared_experts", &cfg->n_shared_experts));
  if (has && (cfg->n_shared_experts < 0 || cfg->n_shared_experts > 1024))
    return c.error("n_shared_experts", "must be in [0, 1024], got " + std::to_string(cfg->n_shared_experts));
  cfg->first_k_dense_replace = v3 ? 3 : 0;
  FERRITE_ASSIGN_OR_RETURN(has, read_int(j, c, "first_k_dense_replace", &cfg->first_k_dense_replace));
  if (has && cfg->first_k_dense_replace < 0)
    return c.error("first_k_dense_replace", "must not be negative, got " + std::to_string(cfg->first_k_dense_replace));
  cfg->moe_layer_freq = 1;
  FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "moe_layer_freq", &cfg->moe_layer_freq));
  cfg->routed_scaling_factor = v3 ? 2.5 : 1.0;
  FERRITE_RETURN_IF_ERROR(optional_positive_double(j, c, "routed_scaling_factor", &cfg->routed_scaling_factor));

  std::string scoring = v3 ? "sigmoid" : "softmax";
  FERRITE_RETURN_IF_ERROR(read_string(j, c, "scoring_func", &scoring).status());
  if (scoring != (v3 ? "sigmoid" : "softmax"))
    return unimplemented(c.path + ": field 'scoring_func': unsupported router scoring '" + scoring + "' for " +
                         cfg->architecture + " (supported: " + (v3 ? "sigmoid" : "softmax") + ")");
  std::string method = v3 ? "noaux_tc" : "greedy";
  FERRITE_RETURN_IF_ERROR(read_string(j, c, "topk_method", &method).status());
  if (v3 ? method != "noaux_tc" : (method != "greedy" && method != "group_limited_greedy"))
    return unimplemented(c.path + ": field 'topk_method': unsupported top-k method '" + method + "' for " +
                         cfg->architecture + " (supported: " + (v3 ? "noaux_tc" : "greedy, group_limited_greedy") + ")");

  if (v3) {
    cfg->norm_topk_prob = true;
    FERRITE_RETURN_IF_ERROR(read_bool(j, c, "norm_topk_prob", &cfg->norm_topk_prob).status());
  } else {
    // transformers' DeepSeek-V2 router never renormalises while DeepSeek's own code does when the
    // flag is set; rather than pick one, refuse (every released V2 checkpoint has it false).
    bool norm = false;
    FERRITE_RETURN_IF_ERROR(read_bool(j, c, "norm_topk_prob", &norm).status());
    if (norm)
      return unimplemented(c.path + ": field 'norm_topk_prob': true is not supported for DeepseekV2ForCausalLM "
                           "(transformers ignores it, DeepSeek's reference code renormalises)");
    cfg->norm_topk_prob = false;
  }
  cfg->router_scoring = v3 ? RouterScoring::kSigmoid : RouterScoring::kSoftmax;
  cfg->group_score = v3 ? GroupScore::kTop2Sum : GroupScore::kMax;
  cfg->score_correction_bias = v3;
  cfg->num_expert_groups = cfg->topk_groups = 1;
  if (v3 || method == "group_limited_greedy") {
    std::int64_t groups = v3 ? 8 : 0, keep = v3 ? 4 : 0;
    FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "n_group", &groups));
    FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "topk_group", &keep));
    if (groups == 0) return c.missing("n_group");
    if (keep == 0) return c.missing("topk_group");
    if (e_n % groups != 0)
      return c.error("n_group", std::to_string(groups) + " does not divide n_routed_experts (" + std::to_string(e_n) + ")");
    if (v3 && e_n / groups < 2)
      return c.error("n_group", std::to_string(groups) + " groups of n_routed_experts (" + std::to_string(e_n) +
                                    ") leave fewer than 2 experts per group; groups are scored by their top 2");
    if (keep > groups)
      return c.error("topk_group", std::to_string(keep) + " is more than n_group (" + std::to_string(groups) + ")");
    if (cfg->num_experts_per_tok > keep * (e_n / groups))
      return c.error("num_experts_per_tok", std::to_string(cfg->num_experts_per_tok) + " is more than the " +
                                                std::to_string(keep * (e_n / groups)) + " experts of topk_group (" +
                                                std::to_string(keep) + ") groups");
    cfg->num_expert_groups = groups;
    cfg->topk_groups = keep;
  }
  return ok_status();
}

Status parse_into(const json& j, const std::string& path, ModelConfig* cfg) {
  const Ctx c{path, ""};

  // Architecture: architectures[0], else model_type (configs written by hand often omit the former).
  const ArchInfo* arch = nullptr;
  std::string model_type;
  FERRITE_ASSIGN_OR_RETURN(bool has_model_type, read_string(j, c, "model_type", &model_type));
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string())
      return c.error("architectures", "expected a non-empty list of strings, got " + describe(*it));
    const std::string name = (*it)[0].get<std::string>();
    for (const auto& a : kArchs)
      if (name == a.architecture) arch = &a;
    if (arch == nullptr)
      return unimplemented(path + ": unsupported architecture '" + name + "' (supported: " + supported_list() + ")");
  } else if (has_model_type) {
    for (const auto& a : kArchs)
      if (model_type == a.model_type) arch = &a;
    if (arch == nullptr)
      return unimplemented(path + ": unsupported model_type '" + model_type +
                           "' and no 'architectures' field (supported: " + supported_list() + ")");
  } else {
    return c.missing("architectures");
  }
  cfg->architecture = arch->architecture;
  cfg->model_type = has_model_type ? model_type : arch->model_type;
  const Family family = arch->family;

  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "vocab_size", &cfg->vocab_size));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "hidden_size", &cfg->hidden_size));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "intermediate_size", &cfg->intermediate_size));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "num_hidden_layers", &cfg->num_hidden_layers));
  FERRITE_RETURN_IF_ERROR(require_positive_int(j, c, "num_attention_heads", &cfg->num_attention_heads));
  cfg->num_key_value_heads = cfg->num_attention_heads;
  FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "num_key_value_heads", &cfg->num_key_value_heads));
  if (cfg->num_attention_heads % cfg->num_key_value_heads != 0)
    return c.error("num_key_value_heads", std::to_string(cfg->num_key_value_heads) +
                                              " does not divide num_attention_heads (" +
                                              std::to_string(cfg->num_attention_heads) + ")");

  const bool deepseek = family == Family::kDeepseekV2 || family == Family::kDeepseekV3;
  // head_dim: given (and not null) wins; Qwen3Config defaults to 128, the others derive it.
  // DeepSeek's is the rotary part of its MLA heads.
  bool has_head_dim = false;
  if (!deepseek) {
    FERRITE_ASSIGN_OR_RETURN(has_head_dim, read_int(j, c, "head_dim", &cfg->head_dim));
  }
  if (deepseek) {
    FERRITE_RETURN_IF_ERROR(parse_mla(j, c, family, cfg));
  } else if (has_head_dim) {
    FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "head_dim", &cfg->head_dim));
  } else if (family == Family::kQwen3) {
    cfg->head_dim = 128;
  } else {
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
      return c.error("num_attention_heads", std::to_string(cfg->num_attention_heads) +
                                                " does not divide hidden_size (" + std::to_string(cfg->hidden_size) +
                                                ") and no head_dim is given");
    cfg->head_dim = cfg->hidden_size / cfg->num_attention_heads;
  }

  FERRITE_RETURN_IF_ERROR(optional_positive_double(j, c, "rms_norm_eps", &cfg->rms_norm_eps));
  FERRITE_RETURN_IF_ERROR(parse_rope(j, c, cfg));
  const double rot = static_cast<double>(cfg->head_dim) * cfg->partial_rotary_factor;
  if (rot != std::floor(rot) || static_cast<std::int64_t>(rot) % 2 != 0 || rot < 2)
    return c.error(cfg->partial_rotary_factor == 1.0 ? "head_dim" : "partial_rotary_factor",
                   "head_dim (" + std::to_string(cfg->head_dim) + ") * " + std::to_string(cfg->partial_rotary_factor) +
                       " must be a positive even integer");

  cfg->max_position_embeddings = arch->default_max_positions;
  FERRITE_RETURN_IF_ERROR(optional_positive_int(j, c, "max_position_embeddings", &cfg->max_position_embeddings));
  cfg->tie_word_embeddings = false;
  FERRITE_RETURN_IF_ERROR(read_bool(j, c, "tie_word_embeddings", &cfg->tie_word_embeddings).status());
  FERRITE_RETURN_IF_ERROR(parse_sliding_window(j, c, family, cfg));

  // Bias and norm layout per family, as the transformers modules build them.
  bool attention_bias = false;
  bool mlp_bias = false;
  FERRITE_RETURN_IF_ERROR(read_bool(j, c, "attention_bias", &attention_bias).status());
  FERRITE_RETURN_IF_ERROR(read_bool(j, c, "mlp_bias", &mlp_bias).status());
  switch (family) {
    case Family::kLlama:
      cfg->attention_bias = cfg->o_proj_bias = attention_bias;
      cfg->mlp_bias = mlp_bias;
      break;
    case Family::kMistral:
      cfg->attention_bias = cfg->o_proj_bias = cfg->mlp_bias = false;
      break;
    case Family::kQwen2:
      cfg->attention_bias = true;
      cfg->o_proj_bias = false;
      cfg->mlp_bias = false;
      break;
    case Family::kQwen3:
    case Family::kQwen3Moe:
      cfg->attention_bias = cfg->o_proj_bias = attention_bias;
      cfg->mlp_bias = false;
      cfg->qk_norm = true;
      break;
    case Family::kMixtral:
      cfg->attention_bias = cfg->o_proj_bias = cfg->mlp_bias = false;
      break;
    case Family::kDeepseekV2:
    case Family::kDeepseekV3:
      // attention_bias: q_a_proj, kv_a_proj_with_mqa and o_proj (q_proj, q_b_proj, kv_b_proj never).
      cfg->attention_bias = cfg->o_proj_bias = attention_bias;
      if (family == Family::kDeepseekV2 && mlp_bias)
        return unimplemented(path + ": field 'mlp_bias': biased MLPs are not supported for DeepseekV2ForCausalLM");
      cfg->mlp_bias = false;
      break;
    case Family::kQwen2Moe: {
      bool qkv_bias = true;
      FERRITE_RETURN_IF_ERROR(read_bool(j, c, "qkv_bias", &qkv_bias).status());
      cfg->attention_bias = qkv_bias;
      cfg->o_proj_bias = false;
      cfg->mlp_bias = false;
      break;
    }
  }
  if (deepseek) {
    FERRITE_RETURN_IF_ERROR(parse_deepseek_moe(j, c, family, cfg));
  } else {
    FERRITE_RETURN_IF_ERROR(parse_moe(j, c, family, cfg));
  }

  cfg->hidden_act = "silu";
  FERRITE_RETURN_IF_ERROR(read_string(j, c, "hidden_act", &cfg->hidden_act).status());
  if (cfg->hidden_act != "silu")
    return unimplemented(path + ": field 'hidden_act': activation '" + cfg->hidden_act +
                         "' is not implemented (supported: silu)");

  std::string dtype_name;
  const char* dtype_key = "torch_dtype";
  FERRITE_ASSIGN_OR_RETURN(bool has_dtype, read_string(j, c, dtype_key, &dtype_name));
  if (!has_dtype) {
    dtype_key = "dtype";
    FERRITE_ASSIGN_OR_RETURN(has_dtype, read_string(j, c, dtype_key, &dtype_name));
  }
  cfg->torch_dtype = backend::DType::kF32;
  if (has_dtype) {
    auto dt = backend::parse_dtype(dtype_name);
    if (!dt.ok() || !backend::is_float(*dt))
      return unimplemented(path + ": field '" + dtype_key + "': unsupported dtype '" + dtype_name +
                           "' (supported: float32, float16, bfloat16)");
    cfg->torch_dtype = *dt;
  }

  FERRITE_RETURN_IF_ERROR(read_token_ids(j, c, "bos_token_id", &cfg->bos_token_ids));
  FERRITE_RETURN_IF_ERROR(read_token_ids(j, c, "eos_token_id", &cfg->eos_token_ids));
  return ok_status();
}

Result<std::string> read_optional_text(const std::string& path, bool* exists) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  *exists = std::filesystem::exists(st);
  if (!*exists) return std::string();
  if (!std::filesystem::is_regular_file(st)) return invalid_argument(path + ": not a regular file");
  return base::read_file(path);
}

}  // namespace

bool ModelConfig::layer_uses_sliding_window(std::int64_t layer) const {
  if (sliding_window <= 0) return false;
  if (!sliding_layers.empty()) {
    return layer >= 0 && layer < static_cast<std::int64_t>(sliding_layers.size()) &&
           sliding_layers[static_cast<std::size_t>(layer)];
  }
  return use_sliding_window && layer >= max_window_layers;
}

bool ModelConfig::layer_is_sparse(std::int64_t layer) const {
  if (num_experts <= 0) return false;
  if (is_mla()) return layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  for (std::int64_t l : mlp_only_layers)
    if (l == layer) return false;
  return (layer + 1) % decoder_sparse_step == 0;
}

std::int64_t ModelConfig::rotary_dim() const {
  return static_cast<std::int64_t>(static_cast<double>(head_dim) * partial_rotary_factor);
}

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : kArchs) v.emplace_back(a.architecture);
    return v;
  }();
  return names;
}

Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& path) {
  FERRITE_ASSIGN_OR_RETURN(json j, parse_json_object(json_text, path));
  ModelConfig cfg;
  try {
    FERRITE_RETURN_IF_ERROR(parse_into(j, path, &cfg));
  } catch (const json::exception& e) {  // the readers check types first; this is a last guard
    return invalid_argument(path + ": " + e.what());
  }
  return cfg;
}

Result<ModelConfig> load_model_config(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  bool exists = false;
  FERRITE_ASSIGN_OR_RETURN(std::string text, read_optional_text(path, &exists));
  if (!exists) return not_found(path + ": no config.json in model directory " + model_dir);
  return parse_model_config(text, path);
}

Result<GenerationConfig> parse_generation_config(const std::string& json_text, const std::string& path) {
  FERRITE_ASSIGN_OR_RETURN(json j, parse_json_object(json_text, path));
  GenerationConfig g;
  const Ctx c{path, ""};
  try {
    FERRITE_RETURN_IF_ERROR(read_token_ids(j, c, "eos_token_id", &g.eos_token_ids));
    auto opt_int = [&](const char* key, std::optional<std::int64_t>* out, std::int64_t min) -> Status {
      std::int64_t v = 0;
      FERRITE_ASSIGN_OR_RETURN(bool has, read_int(j, c, key, &v));
      if (!has) return ok_status();
      if (v < min) return c.error(key, "must be >= " + std::to_string(min) + ", got " + std::to_string(v));
      *out = v;
      return ok_status();
    };
    // bounds: true where the value must satisfy lo <= v <= hi (hi_open: v < hi is not required).
    auto opt_double = [&](const char* key, std::optional<double>* out, double lo, bool lo_open, double hi) -> Status {
      double v = 0;
      FERRITE_ASSIGN_OR_RETURN(bool has, read_double(j, c, key, &v));
      if (!has) return ok_status();
      if (v < lo || (lo_open && v == lo) || v > hi)
        return c.error(key, "must be in " + std::string(lo_open ? "(" : "[") + std::to_string(lo) + ", " +
                                (std::isinf(hi) ? "inf)" : std::to_string(hi) + "]") + ", got " + std::to_string(v));
      *out = v;
      return ok_status();
    };
    constexpr double kInf = std::numeric_limits<double>::infinity();
    std::vector<std::int64_t> bos;
    FERRITE_RETURN_IF_ERROR(read_token_ids(j, c, "bos_token_id", &bos));
    if (!bos.empty()) g.bos_token_id = bos.front();
    // pad_token_id: some configs use -1 for "none"; keep what is written.
    FERRITE_RETURN_IF_ERROR(opt_int("pad_token_id", &g.pad_token_id, std::numeric_limits<std::int64_t>::min()));
    FERRITE_RETURN_IF_ERROR(opt_double("temperature", &g.temperature, 0.0, false, kInf));
    FERRITE_RETURN_IF_ERROR(opt_double("top_p", &g.top_p, 0.0, true, 1.0));
    FERRITE_RETURN_IF_ERROR(opt_int("top_k", &g.top_k, 0));
    FERRITE_RETURN_IF_ERROR(opt_double("min_p", &g.min_p, 0.0, false, 1.0));
    FERRITE_RETURN_IF_ERROR(opt_double("repetition_penalty", &g.repetition_penalty, 0.0, true, kInf));
    FERRITE_RETURN_IF_ERROR(opt_int("max_new_tokens", &g.max_new_tokens, 1));
    bool do_sample = false;
    FERRITE_ASSIGN_OR_RETURN(bool has_do_sample, read_bool(j, c, "do_sample", &do_sample));
    if (has_do_sample) g.do_sample = do_sample;
  } catch (const json::exception& e) {
    return invalid_argument(path + ": " + e.what());
  }
  return g;
}

Result<GenerationConfig> load_generation_config(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "generation_config.json").string();
  bool exists = false;
  FERRITE_ASSIGN_OR_RETURN(std::string text, read_optional_text(path, &exists));
  if (!exists) return GenerationConfig{};
  return parse_generation_config(text, path);
}

}  // namespace ferrite::model
