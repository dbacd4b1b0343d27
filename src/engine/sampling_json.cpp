#include "engine/sampling_json.h"

#include <cmath>
#include <limits>

namespace ferrite::engine {

namespace {

using nlohmann::json;

Status type_error(const std::string& field, const char* expected) {
  return invalid_argument("'" + field + "' must be " + expected);
}

// Integers arrive as JSON integers; 3.0 is accepted as 3 (some clients send floats).
Result<std::int64_t> get_int(const json& v, const std::string& field) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  return type_error(field, "an integer");
}

Result<double> get_number(const json& v, const std::string& field) {
  if (v.is_number()) return v.get<double>();
  return type_error(field, "a number");
}

Result<bool> get_bool(const json& v, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  return type_error(field, "a boolean");
}

Result<std::int32_t> get_i32(const json& v, const std::string& field) {
  FERRITE_ASSIGN_OR_RETURN(std::int64_t x, get_int(v, field));
  if (x < std::numeric_limits<std::int32_t>::min() || x > std::numeric_limits<std::int32_t>::max())
    return invalid_argument("'" + field + "' is out of range");
  return static_cast<std::int32_t>(x);
}

Result<std::vector<std::int32_t>> get_ids(const json& v, const std::string& field) {
  if (!v.is_array()) return type_error(field, "a list of integers");
  std::vector<std::int32_t> out;
  for (const auto& e : v) {
    FERRITE_ASSIGN_OR_RETURN(std::int32_t id, get_i32(e, field));
    out.push_back(id);
  }
  return out;
}

}  // namespace

Result<SamplingParams> sampling_params_from_json(const json& b) {
  if (!b.is_object()) return invalid_argument("the request body must be a JSON object");
  SamplingParams p;
  auto has = [&](const char* k) { return b.contains(k) && !b.at(k).is_null(); };
  if (has("n")) {
    FERRITE_ASSIGN_OR_RETURN(p.n, get_i32(b.at("n"), "n"));
  }
  if (has("temperature")) {
    FERRITE_ASSIGN_OR_RETURN(p.temperature, get_number(b.at("temperature"), "temperature"));
    p.given.temperature = true;
  }
  if (has("top_p")) {
    FERRITE_ASSIGN_OR_RETURN(p.top_p, get_number(b.at("top_p"), "top_p"));
    p.given.top_p = true;
  }
  if (has("top_k")) {
    FERRITE_ASSIGN_OR_RETURN(p.top_k, get_i32(b.at("top_k"), "top_k"));
    p.given.top_k = true;
  }
  if (has("min_p")) {
    FERRITE_ASSIGN_OR_RETURN(p.min_p, get_number(b.at("min_p"), "min_p"));
    p.given.min_p = true;
  }
  if (has("presence_penalty")) {
    FERRITE_ASSIGN_OR_RETURN(p.presence_penalty, get_number(b.at("presence_penalty"), "presence_penalty"));
  }
  if (has("frequency_penalty")) {
    FERRITE_ASSIGN_OR_RETURN(p.frequency_penalty, get_number(b.at("frequency_penalty"), "frequency_penalty"));
  }
  if (has("repetition_penalty")) {
    FERRITE_ASSIGN_OR_RETURN(p.repetition_penalty, get_number(b.at("repetition_penalty"), "repetition_penalty"));
    p.given.repetition_penalty = true;
  }
  if (has("logit_bias")) {
    const json& lb = b.at("logit_bias");
    if (!lb.is_object()) return type_error("logit_bias", "an object mapping token ids to biases");
    for (const auto& [k, v] : lb.items()) {
      char* end = nullptr;
      const long long id = std::strtoll(k.c_str(), &end, 10);
      if (k.empty() || *end != '\0' || id < 0 || id > std::numeric_limits<std::int32_t>::max())
        return invalid_argument("logit_bias: '" + k + "' is not a token id");
      FERRITE_ASSIGN_OR_RETURN(double bias, get_number(v, "logit_bias[" + k + "]"));
      p.logit_bias[static_cast<std::int32_t>(id)] = static_cast<float>(bias);
    }
  }
  if (has("seed")) {
    FERRITE_ASSIGN_OR_RETURN(std::int64_t seed, get_int(b.at("seed"), "seed"));
    p.seed = static_cast<std::uint64_t>(seed);
  }
  if (has("logprobs")) {
    const json& v = b.at("logprobs");
    if (v.is_boolean()) {
      if (v.get<bool>()) p.logprobs = 0;
    } else {
      FERRITE_ASSIGN_OR_RETURN(std::int32_t n, get_i32(v, "logprobs"));
      p.logprobs = n;
    }
  }
  if (has("prompt_logprobs")) {
    FERRITE_ASSIGN_OR_RETURN(std::int32_t n, get_i32(b.at("prompt_logprobs"), "prompt_logprobs"));
    p.prompt_logprobs = n;
  }
  const char* max_key = has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (has(max_key)) {
    FERRITE_ASSIGN_OR_RETURN(std::int64_t m, get_int(b.at(max_key), max_key));
    p.max_tokens = m;
    p.given.max_tokens = true;
  }
  if (has("min_tokens")) {
    FERRITE_ASSIGN_OR_RETURN(p.min_tokens, get_int(b.at("min_tokens"), "min_tokens"));
  }
  if (has("stop")) {
    const json& v = b.at("stop");
    if (v.is_string()) {
      p.stop.push_back(v.get<std::string>());
    } else if (v.is_array()) {
      for (const auto& s : v) {
        if (!s.is_string()) return type_error("stop", "a string or a list of strings");
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      return type_error("stop", "a string or a list of strings");
    }
  }
  if (has("stop_token_ids")) {
    FERRITE_ASSIGN_OR_RETURN(p.stop_token_ids, get_ids(b.at("stop_token_ids"), "stop_token_ids"));
  }
  if (has("allowed_token_ids")) {
    FERRITE_ASSIGN_OR_RETURN(p.allowed_token_ids, get_ids(b.at("allowed_token_ids"), "allowed_token_ids"));
    if (p.allowed_token_ids.empty()) return invalid_argument("'allowed_token_ids' must not be empty");
  }
  if (has("include_stop_str_in_output")) {
    FERRITE_ASSIGN_OR_RETURN(p.include_stop_str_in_output, get_bool(b.at("include_stop_str_in_output"), "include_stop_str_in_output"));
  }
  if (has("ignore_eos")) {
    FERRITE_ASSIGN_OR_RETURN(p.ignore_eos, get_bool(b.at("ignore_eos"), "ignore_eos"));
  }
  if (has("skip_special_tokens")) {
    FERRITE_ASSIGN_OR_RETURN(p.skip_special_tokens, get_bool(b.at("skip_special_tokens"), "skip_special_tokens"));
  }
  if (has("spaces_between_special_tokens")) {
    FERRITE_ASSIGN_OR_RETURN(p.spaces_between_special_tokens,
                             get_bool(b.at("spaces_between_special_tokens"), "spaces_between_special_tokens"));
  }
  return p;
}

}  // namespace ferrite::engine
