// --speculative-config: the JSON object vLLM takes, checked key by key.
#include <nlohmann/json.hpp>

#include "ferrite/engine.h"

namespace ferrite {

namespace {

Result<std::int64_t> int_field(const nlohmann::json& j, const char* key, std::int64_t lo, std::int64_t hi) {
  const auto& v = j.at(key);
  if (!v.is_number_integer()) return invalid_argument(std::string("--speculative-config: '") + key + "' must be an integer");
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi)
    return invalid_argument(std::string("--speculative-config: '") + key + "' must be between " + std::to_string(lo) +
                            " and " + std::to_string(hi) + ", got " + std::to_string(x));
  return x;
}

}  // namespace

Result<SpeculativeConfig> parse_speculative_config(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("--speculative-config is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return invalid_argument("--speculative-config must be a JSON object");
  static const char* const kKeys[] = {"method", "num_speculative_tokens", "prompt_lookup_min", "prompt_lookup_max",
                                      "model", "disable_by_batch_size"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKeys) known = known || key == k;
    if (!known)
      return invalid_argument("--speculative-config: unknown key '" + key +
                              "' (known: method, num_speculative_tokens, prompt_lookup_min, prompt_lookup_max, model, "
                              "disable_by_batch_size)");
  }
  SpeculativeConfig c;
  std::string method, model;
  if (j.contains("method")) {
    if (!j["method"].is_string()) return invalid_argument("--speculative-config: 'method' must be a string");
    method = j["method"].get<std::string>();
  }
  if (j.contains("model")) {
    if (!j["model"].is_string()) return invalid_argument("--speculative-config: 'model' must be a string");
    model = j["model"].get<std::string>();
  }
  // As vLLM: "model": "ngram" (or "[ngram]") names the method; a model without a method is a draft.
  if (method.empty() && (model == "ngram" || model == "[ngram]")) {
    method = "ngram";
    model.clear();
  }
  if (method.empty() && !model.empty()) method = "draft_model";
  if (method == "ngram") {
    c.method = SpeculativeConfig::Method::kNgram;
    if (!model.empty()) return invalid_argument("--speculative-config: method 'ngram' takes no 'model'");
  } else if (method == "draft_model") {
    c.method = SpeculativeConfig::Method::kDraftModel;
    if (model.empty()) return invalid_argument("--speculative-config: method 'draft_model' needs 'model': the draft's directory");
    if (j.contains("prompt_lookup_min") || j.contains("prompt_lookup_max"))
      return invalid_argument("--speculative-config: prompt_lookup_min/max apply to method 'ngram' only");
  } else if (method.empty()) {
    return invalid_argument("--speculative-config needs 'method': 'ngram' or 'draft_model'");
  } else {
    return invalid_argument("--speculative-config: unsupported method '" + method +
                            "' (supported: ngram, draft_model; EAGLE and MTP heads are not implemented yet)");
  }
  c.model = model;
  if (!j.contains("num_speculative_tokens"))
    return invalid_argument("--speculative-config needs 'num_speculative_tokens'");
  FERRITE_ASSIGN_OR_RETURN(auto k, int_field(j, "num_speculative_tokens", 1, 32));
  c.num_speculative_tokens = static_cast<std::int32_t>(k);
  if (c.method == SpeculativeConfig::Method::kNgram) {
    // vLLM's defaults: both 5 when neither is given, else the one given for both.
    std::int64_t lo = 0, hi = 0;
    if (j.contains("prompt_lookup_min")) {
      FERRITE_ASSIGN_OR_RETURN(lo, int_field(j, "prompt_lookup_min", 1, 1024));
    }
    if (j.contains("prompt_lookup_max")) {
      FERRITE_ASSIGN_OR_RETURN(hi, int_field(j, "prompt_lookup_max", 1, 1024));
    }
    if (lo == 0 && hi == 0) lo = hi = 5;
    if (lo == 0) lo = hi;
    if (hi == 0) hi = lo;
    if (lo > hi)
      return invalid_argument("--speculative-config: prompt_lookup_min (" + std::to_string(lo) +
                              ") is greater than prompt_lookup_max (" + std::to_string(hi) + ")");
    c.prompt_lookup_min = static_cast<std::int32_t>(lo);
    c.prompt_lookup_max = static_cast<std::int32_t>(hi);
  }
  if (j.contains("disable_by_batch_size")) {
    FERRITE_ASSIGN_OR_RETURN(c.disable_by_batch_size, int_field(j, "disable_by_batch_size", 0, 1 << 30));
  }
  return c;
}

}  // namespace ferrite
