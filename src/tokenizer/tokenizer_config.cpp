// tokenizer_config.json and generation_config.json.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "tokenizer/backend.h"
#include "tokenizer/json_util.h"

namespace ferrite::tokenizer::detail {
namespace {

using json_util::Json;

// A special token given as "<s>" or as an AddedToken object {"content": "<s>", ...}.
Result<std::optional<std::string>> token_string(const Json& root, const char* key, const std::string& file) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return std::optional<std::string>(content->get<std::string>());
  }
  return json_util::error_at(file + ": " + key, "expected a string or an object with \"content\"");
}

Result<std::optional<bool>> optional_bool(const Json& root, const char* key, const std::string& file) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return json_util::error_at(file + ": " + key, "expected true or false");
  return std::optional<bool>(it->get<bool>());
}

Status parse_tokenizer_config_file(std::string_view text, TokenizerConfig& c) {
  const std::string file = "tokenizer_config.json";
  FERRITE_ASSIGN_OR_RETURN(Json root, json_util::parse_document(text, file));
  if (!root.is_object()) return data_loss(file + ": expected a JSON object at the top level");
  c.present = true;
  if (auto it = root.find("tokenizer_class"); it != root.end() && it->is_string())
    c.tokenizer_class = it->get<std::string>();
  FERRITE_ASSIGN_OR_RETURN(c.bos_token, token_string(root, "bos_token", file));
  FERRITE_ASSIGN_OR_RETURN(c.eos_token, token_string(root, "eos_token", file));
  FERRITE_ASSIGN_OR_RETURN(c.unk_token, token_string(root, "unk_token", file));
  FERRITE_ASSIGN_OR_RETURN(c.pad_token, token_string(root, "pad_token", file));
  FERRITE_ASSIGN_OR_RETURN(c.add_bos_token, optional_bool(root, "add_bos_token", file));
  FERRITE_ASSIGN_OR_RETURN(c.add_eos_token, optional_bool(root, "add_eos_token", file));
  FERRITE_ASSIGN_OR_RETURN(auto cleanup, optional_bool(root, "clean_up_tokenization_spaces", file));
  c.clean_up_tokenization_spaces = cleanup.value_or(false);  // transformers' default since 4.45
  if (auto it = root.find("model_max_length"); it != root.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      c.model_max_length = it->get<std::int64_t>();
    } else if (it->is_number()) {
      // transformers writes "no limit" as 1e30, which JSON gives us as a double.
      const double v = it->get<double>();
      c.model_max_length = v >= 9.2e18 ? INT64_MAX : static_cast<std::int64_t>(std::max(0.0, v));
    } else {
      return json_util::error_at(file + ": model_max_length", "expected a number");
    }
  }
  if (auto it = root.find("added_tokens_decoder"); it != root.end() && !it->is_null()) {
    if (!it->is_object()) return json_util::error_at(file + ": added_tokens_decoder", "expected an object");
    for (const auto& [key, value] : it->items()) {
      const std::string path = file + ": added_tokens_decoder." + key;
      AddedToken t;
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX)
        return json_util::error_at(path, "expected an integer id as the key");
      t.id = static_cast<std::int32_t>(id);
      FERRITE_ASSIGN_OR_RETURN(t.content, json_util::required_string(value, "content", path));
      FERRITE_ASSIGN_OR_RETURN(t.single_word, json_util::bool_or(value, "single_word", path, false));
      FERRITE_ASSIGN_OR_RETURN(t.lstrip, json_util::bool_or(value, "lstrip", path, false));
      FERRITE_ASSIGN_OR_RETURN(t.rstrip, json_util::bool_or(value, "rstrip", path, false));
      FERRITE_ASSIGN_OR_RETURN(t.special, json_util::bool_or(value, "special", path, false));
      FERRITE_ASSIGN_OR_RETURN(t.normalized, json_util::bool_or(value, "normalized", path, !t.special));
      c.added_tokens_decoder.push_back(std::move(t));
    }
    std::sort(c.added_tokens_decoder.begin(), c.added_tokens_decoder.end(),
              [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  }
  return ok_status();
}

Status parse_generation_config_file(std::string_view text, TokenizerConfig& c) {
  const std::string file = "generation_config.json";
  FERRITE_ASSIGN_OR_RETURN(Json root, json_util::parse_document(text, file));
  if (!root.is_object()) return data_loss(file + ": expected a JSON object at the top level");
  auto it = root.find("eos_token_id");
  if (it == root.end() || it->is_null()) return ok_status();
  const auto add = [&](const Json& v) -> Status {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > INT32_MAX)
      return json_util::error_at(file + ": eos_token_id", "expected a token id or a list of them");
    const auto id = v.get<std::int32_t>();
    if (std::find(c.generation_eos_ids.begin(), c.generation_eos_ids.end(), id) == c.generation_eos_ids.end())
      c.generation_eos_ids.push_back(id);
    return ok_status();
  };
  if (it->is_array()) {
    for (const Json& v : *it) FERRITE_RETURN_IF_ERROR(add(v));
  } else {
    FERRITE_RETURN_IF_ERROR(add(*it));
  }
  return ok_status();
}

}  // namespace

Result<TokenizerConfig> parse_tokenizer_config(std::string_view tokenizer_config_json,
                                               std::string_view generation_config_json) {
  TokenizerConfig c;
  if (!tokenizer_config_json.empty()) FERRITE_RETURN_IF_ERROR(parse_tokenizer_config_file(tokenizer_config_json, c));
  if (!generation_config_json.empty()) FERRITE_RETURN_IF_ERROR(parse_generation_config_file(generation_config_json, c));
  return c;
}

}  // namespace ferrite::tokenizer::detail
