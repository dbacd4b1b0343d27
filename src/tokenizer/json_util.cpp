#include "tokenizer/json_util.h"

#include "tokenizer/unicode.h"

namespace ferrite::tokenizer::json_util {

std::string child_path(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string index_path(const std::string& path, std::size_t index) { return path + "[" + std::to_string(index) + "]"; }

Status error_at(const std::string& path, const std::string& message) {
  return invalid_argument(path.empty() ? message : path + ": " + message);
}

Result<Json> parse_document(std::string_view text, const std::string& file_name) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return data_loss(file_name + ": malformed JSON: " + e.what());
  }
}

Result<const Json*> required(const Json& object, std::string_view key, const std::string& path) {
  if (!object.is_object()) return error_at(path, "expected an object");
  auto it = object.find(key);
  if (it == object.end()) return error_at(child_path(path, key), "missing required field");
  return &*it;
}

Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key, const std::string& path) {
  if (!object.is_object()) return error_at(path, "expected an object");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return error_at(child_path(path, key), "expected a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> required_string(const Json& object, std::string_view key, const std::string& path) {
  FERRITE_ASSIGN_OR_RETURN(const Json* v, required(object, key, path));
  if (!v->is_string()) return error_at(child_path(path, key), "expected a string");
  return v->get<std::string>();
}

Result<bool> bool_or(const Json& object, std::string_view key, const std::string& path, bool fallback) {
  if (!object.is_object()) return error_at(path, "expected an object");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return error_at(child_path(path, key), "expected true or false");
  return it->get<bool>();
}

Result<std::int64_t> int_or(const Json& object, std::string_view key, const std::string& path, std::int64_t fallback) {
  if (!object.is_object()) return error_at(path, "expected an object");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return error_at(child_path(path, key), "expected an integer");
  return it->get<std::int64_t>();
}

Result<std::string> type_tag(const Json& object, const std::string& path) {
  if (!object.is_object()) return error_at(path, "expected an object");
  return required_string(object, "type", path);
}

Result<std::string> single_char(const Json& object, std::string_view key, const std::string& path,
                                std::string_view fallback) {
  FERRITE_ASSIGN_OR_RETURN(auto value, optional_string(object, key, path));
  std::string s = value ? *value : std::string(fallback);
  std::size_t i = 0;
  if (s.empty() || !unicode::is_valid_utf8(s) || (unicode::next_code_point(s, i), i != s.size()))
    return error_at(child_path(path, key), "expected a single character");
  return s;
}

}  // namespace ferrite::tokenizer::json_util
