#include "chat/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/errors.h"
#include "chat/utf8.h"

namespace ferrite::chat {
namespace {
thread_local std::size_t t_print_limit = kNoLimit;
}  // namespace

PrintLimitScope::PrintLimitScope(std::size_t max_bytes) : saved_(t_print_limit) { t_print_limit = max_bytes; }
PrintLimitScope::~PrintLimitScope() { t_print_limit = saved_; }

std::string Object::repr() const { return "<" + type_name() + " object>"; }

Value Object::get_attr(std::string_view name) const {
  return Value::undefined("'" + type_name() + " object' has no attribute '" + std::string(name) + "'");
}

Value Object::call(Interpreter&, CallArgs&) const { type_error("'" + type_name() + "' object is not callable"); }

Value Value::undefined(std::string message) {
  Value v;
  v.ptr_ = std::make_shared<const std::string>(std::move(message));
  return v;
}

Value Value::unsafe(std::string message) {
  Value v = undefined(std::move(message));
  v.b_ = true;
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}

Value Value::integer(std::int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}

Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = f;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::kList;
  v.ptr_ = std::make_shared<const ListData>(ListData{std::move(items), nullptr});
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::iterator(std::vector<Value> items, const char* type_name) {
  Value v;
  v.kind_ = Kind::kIterator;
  v.ptr_ = std::make_shared<const ListData>(ListData{std::move(items), type_name});
  return v;
}

Value Value::dict(DictData d) { return dict(std::make_shared<const DictData>(std::move(d))); }

Value Value::dict(std::shared_ptr<const DictData> d) {
  Value v;
  v.kind_ = Kind::kDict;
  v.ptr_ = std::move(d);
  return v;
}

Value Value::make_namespace(DictData d) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.ptr_ = std::make_shared<DictData>(std::move(d));
  return v;
}

Value Value::object(std::shared_ptr<const Object> o) {
  Value v;
  v.kind_ = Kind::kObject;
  v.ptr_ = std::move(o);
  return v;
}

bool Value::is_callable() const { return kind_ == Kind::kObject && as_object().callable(); }

// A namespace is created mutable (make_namespace); only `set ns.attr` writes through this.
DictData& Value::namespace_attrs() const { return const_cast<DictData&>(as_dict()); }

std::string Value::undefined_message() const {
  if (ptr_ == nullptr) return "undefined value";
  return *static_cast<const std::string*>(ptr_.get());
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

const Value* DictData::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.as_string() == key) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  for (auto& [k, v] : entries) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.as_bool();
    case Kind::kInt:
      return v.as_int() != 0;
    case Kind::kFloat:
      return v.as_float() != 0.0;
    case Kind::kString:
      return !v.as_string().empty();
    case Kind::kList:
    case Kind::kTuple:
      return !v.as_list().empty();
    case Kind::kDict:
      return !v.as_dict().entries.empty();
    case Kind::kIterator:
    case Kind::kNamespace:
    case Kind::kObject:
      return true;
  }
  return true;
}

namespace {

bool same_object(const Value& a, const Value& b) {
  // Identity of shared containers/objects: compare the addresses they point at.
  switch (a.kind()) {
    case Kind::kNamespace:
      return &a.as_dict() == &b.as_dict();
    case Kind::kObject:
      return &a.as_object() == &b.as_object();
    case Kind::kIterator:
      return &a.as_list() == &b.as_list();
    default:
      return false;
  }
}

int compare_numbers(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    const auto x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const double x = a.as_float(), y = b.as_float();
  return x < y ? -1 : (x > y ? 1 : 0);
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::kFloat || b.kind() == Kind::kFloat) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.as_string() == b.as_string();
    case Kind::kList:
    case Kind::kTuple: {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (&x == &y) return true;  // as CPython: identity first (shared children stay cheap)
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case Kind::kDict: {
      const auto& x = a.as_dict().entries;
      const auto& y = b.as_dict();
      if (&x == &y.entries) return true;
      if (x.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* other = y.find(k);
        if (other == nullptr || !equals(v, *other)) return false;
      }
      return true;
    }
    default:
      return same_object(a, b);
  }
}

int compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b);
  if (a.kind() == b.kind()) {
    if (a.is_string()) {
      const int c = a.as_string().compare(b.as_string());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.kind() == Kind::kList || a.kind() == Kind::kTuple) {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
        if (!equals(x[i], y[i])) return compare(x[i], y[i]);
      }
      return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
  }
  if (a.is_undefined() || b.is_undefined()) fail(ErrorType::kUndefined, (a.is_undefined() ? a : b).undefined_message());
  type_error("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kIterator:
      return v.iterator_type();
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kObject:
      return v.as_object().type_name();
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  if (f == 0.0) return std::signbit(f) ? "-0.0" : "0.0";
  // Shortest round-trip digits (what CPython's repr picks), then CPython's layout rules.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string out;
  std::size_t pos = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    pos = 1;
  }
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (std::size_t i = pos; i < e_pos; ++i)
    if (sci[i] != '.') digits.push_back(sci[i]);
  const int exp = std::stoi(sci.substr(e_pos + 1));
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      std::string int_part = digits.substr(0, std::min<std::size_t>(digits.size(), static_cast<std::size_t>(exp) + 1));
      while (int_part.size() < static_cast<std::size_t>(exp) + 1) int_part.push_back('0');
      std::string frac = digits.size() > static_cast<std::size_t>(exp) + 1 ? digits.substr(exp + 1) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + ebuf;
}

std::string string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t cp : utf8::decode(s)) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (utf8::is_printable(cp)) {
      utf8::append(out, cp);
    } else {
      char buf[16];
      if (cp < 0x100)
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(cp));
      else if (cp < 0x10000)
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
      else
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(cp));
      out += buf;
    }
  }
  out.push_back(quote);
  return out;
}

namespace {

void check_size(const std::string& out, std::size_t max_bytes) {
  if (out.size() > max_bytes || out.size() > t_print_limit)
    fail(ErrorType::kLimit, "output limit exceeded while printing a value");
}

void append_repr(std::string& out, const Value& v, std::size_t max_bytes) {
  switch (v.kind()) {
    case Kind::kUndefined:
      out += "Undefined";
      return;
    case Kind::kString:
      out += string_repr(v.as_string());
      return;
    case Kind::kList:
    case Kind::kTuple: {
      const bool tuple = v.kind() == Kind::kTuple;
      out.push_back(tuple ? '(' : '[');
      const auto& items = v.as_list();
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        append_repr(out, items[i], max_bytes);
        check_size(out, max_bytes);
      }
      if (tuple && items.size() == 1) out.push_back(',');
      out.push_back(tuple ? ')' : ']');
      return;
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      if (v.kind() == Kind::kNamespace) out += "<Namespace ";
      out.push_back('{');
      bool first = true;
      for (const auto& [k, val] : v.as_dict().entries) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, k, max_bytes);
        out += ": ";
        append_repr(out, val, max_bytes);
        check_size(out, max_bytes);
      }
      out.push_back('}');
      if (v.kind() == Kind::kNamespace) out.push_back('>');
      return;
    }
    case Kind::kIterator:
      out += std::string("<") + v.iterator_type() + " object>";
      return;
    case Kind::kObject:
      out += v.as_object().repr();
      return;
    default:
      append_str(out, v, max_bytes);
  }
}

}  // namespace

void append_str(std::string& out, const Value& v, std::size_t max_bytes) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return;
    case Kind::kNone:
      out += "None";
      return;
    case Kind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case Kind::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.as_int());
      out.append(buf, r.ptr);
      return;
    }
    case Kind::kFloat:
      out += float_repr(v.as_float());
      return;
    case Kind::kString:
      out += v.as_string();
      return;
    default:
      append_repr(out, v, max_bytes);
  }
}

std::string to_str(const Value& v, std::size_t max_bytes) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v, max_bytes);
  return out;
}

std::string repr(const Value& v, std::size_t max_bytes) {
  std::string out;
  if (v.is_undefined() || v.is_string() || v.kind() >= Kind::kList)
    append_repr(out, v, max_bytes);
  else
    append_str(out, v, max_bytes);
  return out;
}

std::size_t length_of(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return 0;
    case Kind::kString:
      return utf8::length(v.as_string());
    case Kind::kList:
    case Kind::kTuple:
      return v.as_list().size();
    case Kind::kDict:
      return v.as_dict().entries.size();
    default:
      type_error("object of type '" + type_name(v) + "' has no len()");
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
      return {};
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kIterator:
      return v.as_list();
    case Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.as_dict().entries.size());
      for (const auto& [k, val] : v.as_dict().entries) keys.push_back(k);
      return keys;
    }
    case Kind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.as_string();
      for (std::size_t i = 0; i < s.size();) {
        std::size_t n = 1;
        while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
        chars.push_back(Value::string(s.substr(i, n)));
        i += n;
      }
      return chars;
    }
    default:
      type_error("'" + type_name(v) + "' object is not iterable");
  }
}

}  // namespace ferrite::chat
