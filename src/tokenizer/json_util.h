// Reading tokenizer.json-style files with errors that name the JSON path of the bad value
// ("pre_tokenizer.pretokenizers[1].behavior: expected a string"). Internal to the module.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ferrite/status.h"

namespace ferrite::tokenizer::json_util {

using Json = nlohmann::json;

std::string child_path(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, std::size_t index);

// "<path>: <message>" as an InvalidArgument status.
Status error_at(const std::string& path, const std::string& message);

// Parses a whole document; a syntax error names the file and the byte offset.
Result<Json> parse_document(std::string_view text, const std::string& file_name);

Result<const Json*> required(const Json& object, std::string_view key, const std::string& path);
// A missing key or JSON null gives nullopt.
Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key, const std::string& path);
Result<std::string> required_string(const Json& object, std::string_view key, const std::string& path);
Result<bool> bool_or(const Json& object, std::string_view key, const std::string& path, bool fallback);
Result<std::int64_t> int_or(const Json& object, std::string_view key, const std::string& path, std::int64_t fallback);
// The "type" tag of a component, or an error that says which component kind lacks it.
Result<std::string> type_tag(const Json& object, const std::string& path);

// A single code point given as a one-character string (Metaspace replacement, Strip content).
Result<std::string> single_char(const Json& object, std::string_view key, const std::string& path,
                                std::string_view fallback);

}  // namespace ferrite::tokenizer::json_util
