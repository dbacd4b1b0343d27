// Between nlohmann JSON and template values, and Python's json.dumps (what HF's tojson filter
// calls) byte for byte: separators, indent, float repr, ensure_ascii, sort_keys.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chat/value.h"

namespace ferrite::chat {

// Object key order is kept with ordered_json (as in the Python dict HF would see); nlohmann::json
// has already sorted it.
Value from_json(const nlohmann::ordered_json& j);
Value from_json(const nlohmann::json& j);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;                         // the indent string; none: single line
  std::optional<std::string> item_separator, key_separator;  // none: Python's defaults
  bool sort_keys = false;
  std::size_t max_bytes = kNoLimit;
};

// Throws a TypeError (as Python does) for values JSON cannot hold: undefined, namespaces, ...
std::string json_dumps(const Value& v, const JsonDumpOptions& options);

}  // namespace ferrite::chat
