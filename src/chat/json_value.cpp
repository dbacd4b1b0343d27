#include "chat/json_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "chat/errors.h"
#include "chat/utf8.h"

namespace ferrite::chat {
namespace {

template <typename Json>
Value convert(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<std::uint64_t>();
      // Python would keep a big int; beyond int64 we can only offer the nearest float.
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(convert(e));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      DictData d;
      d.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.entries.emplace_back(Value::string(it.key()), convert(it.value()));
      return Value::dict(std::move(d));
    }
    default:  // binary, discarded
      return Value::none();
  }
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& o) : o_(o) {
    item_sep_ = o.item_separator ? *o.item_separator : (o.indent ? "," : ", ");
    key_sep_ = o.key_separator ? *o.key_separator : ": ";
  }

  void dump(const Value& v, int level) {
    if (out_.size() > o_.max_bytes) fail(ErrorType::kLimit, "output limit exceeded in tojson");
    switch (v.kind()) {
      case Kind::kNone:
        out_ += "null";
        return;
      case Kind::kBool:
        out_ += v.as_bool() ? "true" : "false";
        return;
      case Kind::kInt:
        append_str(out_, v);
        return;
      case Kind::kFloat:
        out_ += float_text(v.as_float());
        return;
      case Kind::kString:
        string(v.as_string());
        return;
      case Kind::kList:
      case Kind::kTuple:
        list(v.as_list(), level);
        return;
      case Kind::kDict:
        dict(v.as_dict(), level);
        return;
      default: {
        std::string name = type_name(v);
        if (v.kind() == Kind::kNamespace) name = "TemplateNamespace";
        type_error("Object of type " + name + " is not JSON serializable");
      }
    }
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string float_text(double f) {
    if (std::isnan(f)) return "NaN";
    if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
    return float_repr(f);
  }

  void newline(int level) {
    out_.push_back('\n');
    for (int i = 0; i < level; ++i) out_ += *o_.indent;
  }

  void string(const std::string& s) {
    out_.push_back('"');
    const bool ascii = utf8::is_ascii(s);
    auto escape = [&](char32_t c) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          return;
        case '\\':
          out_ += "\\\\";
          return;
        case '\n':
          out_ += "\\n";
          return;
        case '\r':
          out_ += "\\r";
          return;
        case '\t':
          out_ += "\\t";
          return;
        case '\b':
          out_ += "\\b";
          return;
        case '\f':
          out_ += "\\f";
          return;
        default:
          break;
      }
      char buf[16];
      if (c < 0x20) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
        out_ += buf;
      } else if (c < 0x80 || !o_.ensure_ascii) {
        utf8::append(out_, c);
      } else if (c < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
        out_ += buf;
      } else {
        const char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
        out_ += buf;
      }
    };
    if (ascii) {
      for (char c : s) escape(static_cast<unsigned char>(c));
    } else {
      for (char32_t c : utf8::decode(s)) escape(c);
    }
    out_.push_back('"');
  }

  void list(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out_ += "[]";
      return;
    }
    out_.push_back('[');
    if (o_.indent) newline(level + 1);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) {
        out_ += item_sep_;
        if (o_.indent) newline(level + 1);
      }
      dump(items[i], level + 1);
    }
    if (o_.indent) newline(level);
    out_.push_back(']');
  }

  static std::string key_text(const Value& k) {
    switch (k.kind()) {
      case Kind::kString:
        return k.as_string();
      case Kind::kInt:
        return to_str(k);
      case Kind::kFloat:
        return float_text(k.as_float());
      case Kind::kBool:
        return k.as_bool() ? "true" : "false";
      case Kind::kNone:
        return "null";
      default:
        type_error("keys must be str, int, float, bool or None, not " + type_name(k));
    }
  }

  void dict(const DictData& d, int level) {
    if (d.entries.empty()) {
      out_ += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> entries;
    entries.reserve(d.entries.size());
    for (const auto& e : d.entries) entries.push_back(&e);
    if (o_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto* a, const auto* b) { return compare(a->first, b->first) < 0; });
    }
    out_.push_back('{');
    if (o_.indent) newline(level + 1);
    bool first = true;
    for (const auto* e : entries) {
      if (!first) {
        out_ += item_sep_;
        if (o_.indent) newline(level + 1);
      }
      first = false;
      string(key_text(e->first));
      out_ += key_sep_;
      dump(e->second, level + 1);
    }
    if (o_.indent) newline(level);
    out_.push_back('}');
  }

  const JsonDumpOptions& o_;
  std::string item_sep_, key_sep_;
  std::string out_;
};

}  // namespace

Value from_json(const nlohmann::ordered_json& j) { return convert(j); }
Value from_json(const nlohmann::json& j) { return convert(j); }

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  Dumper d(options);
  d.dump(v, 0);
  return d.take();
}

}  // namespace ferrite::chat
