// Methods of str, dict and list that templates call (`message.content.strip()`,
// `d.items()`, ...), with Python's semantics. The mutating methods of dict and list resolve to
// an "unsafe" undefined, so calling them fails exactly as in HF's ImmutableSandboxedEnvironment.
#include <algorithm>
#include <optional>

#include "chat/builtin_util.h"
#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/operators.h"
#include "chat/utf8.h"

namespace ferrite::chat {

// Shared with filters.cpp.
std::string py_title(const std::string& s);
std::string py_capitalize(const std::string& s);
std::string py_replace(Interpreter& interp, const std::string& s, const std::string& old, const std::string& repl,
                       std::int64_t count);
std::string py_center(const std::string& s, std::int64_t width, const std::string& fill);

namespace {

const std::string& self_str(const Value& self) { return self.as_string(); }

std::optional<std::string> strip_chars(const BoundArgs& a, std::size_t i) {
  if (!a.has(i) || a[i].is_none()) return std::nullopt;
  return need_string(a[i], "strip arg");
}

Value m_strip(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("strip", args, {"chars"});
  auto chars = strip_chars(a, 0);
  return Value::string(utf8::strip(self_str(self), true, true, chars ? &*chars : nullptr));
}
Value m_lstrip(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("lstrip", args, {"chars"});
  auto chars = strip_chars(a, 0);
  return Value::string(utf8::strip(self_str(self), true, false, chars ? &*chars : nullptr));
}
Value m_rstrip(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("rstrip", args, {"chars"});
  auto chars = strip_chars(a, 0);
  return Value::string(utf8::strip(self_str(self), false, true, chars ? &*chars : nullptr));
}

// CPython's split_whitespace / rsplit_whitespace: after maxsplit splits the remainder keeps its
// far-end whitespace.
std::vector<std::string> split_whitespace(const std::string& s, std::int64_t maxsplit, bool from_right) {
  const std::vector<char32_t> cps = utf8::decode(s);
  const auto n = static_cast<std::int64_t>(cps.size());
  std::int64_t count = maxsplit < 0 ? n + 1 : maxsplit;
  auto sp = [&](std::int64_t k) { return utf8::is_space(cps[static_cast<std::size_t>(k)]); };
  auto piece = [&](std::int64_t b, std::int64_t e) { return utf8::encode(cps.data() + b, cps.data() + e); };
  std::vector<std::string> out;
  if (!from_right) {
    std::int64_t i = 0;
    while (count-- > 0) {
      while (i < n && sp(i)) ++i;
      if (i == n) break;
      const std::int64_t j = i++;
      while (i < n && !sp(i)) ++i;
      out.push_back(piece(j, i));
    }
    if (i < n) {
      while (i < n && sp(i)) ++i;
      if (i != n) out.push_back(piece(i, n));
    }
    return out;
  }
  std::int64_t i = n - 1;
  while (count-- > 0) {
    while (i >= 0 && sp(i)) --i;
    if (i < 0) break;
    const std::int64_t j = i--;
    while (i >= 0 && !sp(i)) --i;
    out.push_back(piece(i + 1, j + 1));
  }
  if (i >= 0) {
    while (i >= 0 && sp(i)) --i;
    if (i >= 0) out.push_back(piece(0, i + 1));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> split_sep(const std::string& s, const std::string& sep, std::int64_t maxsplit,
                                   bool from_right) {
  if (sep.empty()) type_error("empty separator");
  std::vector<std::string> out;
  if (!from_right) {
    std::size_t start = 0;
    std::int64_t n = 0;
    while (maxsplit < 0 || n < maxsplit) {
      const std::size_t p = s.find(sep, start);
      if (p == std::string::npos) break;
      out.push_back(s.substr(start, p - start));
      start = p + sep.size();
      ++n;
    }
    out.push_back(s.substr(start));
    return out;
  }
  std::size_t end = s.size();
  std::int64_t n = 0;
  while (maxsplit < 0 || n < maxsplit) {
    if (end < sep.size()) break;
    const std::size_t p = s.rfind(sep, end - sep.size());
    if (p == std::string::npos) break;
    out.push_back(s.substr(p + sep.size(), end - p - sep.size()));
    end = p;
    ++n;
  }
  out.push_back(s.substr(0, end));
  std::reverse(out.begin(), out.end());
  return out;
}

Value split_impl(const char* name, const Value& self, CallArgs& args, bool from_right) {
  BoundArgs a(name, args, {"sep", "maxsplit"});
  const std::int64_t maxsplit = a.has(1) ? need_int(a[1], "maxsplit") : -1;
  std::vector<std::string> parts;
  if (!a.has(0) || a[0].is_none())
    parts = split_whitespace(self_str(self), maxsplit, from_right);
  else
    parts = split_sep(self_str(self), need_string(a[0], "sep"), maxsplit, from_right);
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::list(std::move(items));
}

Value m_split(Interpreter&, const Value& self, CallArgs& args) { return split_impl("split", self, args, false); }
Value m_rsplit(Interpreter&, const Value& self, CallArgs& args) { return split_impl("rsplit", self, args, true); }

Value m_splitlines(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("splitlines", args, {"keepends"});
  std::vector<Value> items;
  for (auto& l : utf8::splitlines(self_str(self))) items.push_back(Value::string(std::move(l)));
  return Value::list(std::move(items));
}

// Code-point bounds [start, end) of an optional start/end pair, as byte offsets.
std::pair<std::size_t, std::size_t> byte_range(const std::string& s, const BoundArgs& a, std::size_t first) {
  if (!a.has(first) && !a.has(first + 1)) return {0, s.size()};
  const std::vector<char32_t> cps = utf8::decode(s);
  const auto n = static_cast<std::int64_t>(cps.size());
  auto norm = [&](std::size_t i, std::int64_t dflt) {
    if (!a.has(i) || a[i].is_none()) return dflt;
    std::int64_t v = need_int(a[i], "slice index");
    if (v < 0) v = std::max<std::int64_t>(0, v + n);
    return std::min(v, n);
  };
  const std::int64_t b = norm(first, 0), e = std::max(norm(first + 1, n), b);
  return {utf8::encode(cps.data(), cps.data() + b).size(), utf8::encode(cps.data(), cps.data() + e).size()};
}

Value affix_impl(const char* name, const Value& self, CallArgs& args, bool prefix) {
  BoundArgs a(name, args, {"prefix", "start", "end"});
  a.require(name, 1);
  const std::string& s = self_str(self);
  auto [b, e] = byte_range(s, a, 1);
  const std::string_view view = std::string_view(s).substr(b, e - b);
  auto test = [&](const Value& v) {
    const std::string& p = need_string(v, name);
    if (p.size() > view.size()) return false;
    return prefix ? view.substr(0, p.size()) == p : view.substr(view.size() - p.size()) == p;
  };
  if (a[0].kind() == Kind::kTuple) {
    for (const auto& v : a[0].as_list())
      if (test(v)) return Value::boolean(true);
    return Value::boolean(false);
  }
  return Value::boolean(test(a[0]));
}

Value m_startswith(Interpreter&, const Value& self, CallArgs& args) {
  return affix_impl("startswith", self, args, true);
}
Value m_endswith(Interpreter&, const Value& self, CallArgs& args) { return affix_impl("endswith", self, args, false); }

Value find_impl(const char* name, const Value& self, CallArgs& args, bool from_right, bool raise) {
  BoundArgs a(name, args, {"sub", "start", "end"});
  a.require(name, 1);
  const std::string& s = self_str(self);
  const std::string& sub = need_string(a[0], "sub");
  auto [b, e] = byte_range(s, a, 1);
  const std::string_view view = std::string_view(s).substr(b, e - b);
  const std::size_t p = from_right ? view.rfind(sub) : view.find(sub);
  if (p == std::string::npos) {
    if (raise) type_error("substring not found");
    return Value::integer(-1);
  }
  return Value::integer(static_cast<std::int64_t>(utf8::length(std::string_view(s).substr(0, b + p))));
}

Value m_find(Interpreter&, const Value& self, CallArgs& args) { return find_impl("find", self, args, false, false); }
Value m_rfind(Interpreter&, const Value& self, CallArgs& args) { return find_impl("rfind", self, args, true, false); }
Value m_sindex(Interpreter&, const Value& self, CallArgs& args) { return find_impl("index", self, args, false, true); }
Value m_rindex(Interpreter&, const Value& self, CallArgs& args) { return find_impl("rindex", self, args, true, true); }

Value m_scount(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("count", args, {"sub", "start", "end"});
  a.require("count", 1);
  const std::string& s = self_str(self);
  const std::string& sub = need_string(a[0], "sub");
  auto [b, e] = byte_range(s, a, 1);
  const std::string_view view = std::string_view(s).substr(b, e - b);
  if (sub.empty()) return Value::integer(static_cast<std::int64_t>(utf8::length(view)) + 1);
  std::int64_t n = 0;
  for (std::size_t p = view.find(sub); p != std::string::npos; p = view.find(sub, p + sub.size())) ++n;
  return Value::integer(n);
}

Value m_upper(Interpreter&, const Value& self, CallArgs&) { return Value::string(utf8::upper(self_str(self))); }
Value m_lower(Interpreter&, const Value& self, CallArgs&) { return Value::string(utf8::lower(self_str(self))); }
Value m_title(Interpreter&, const Value& self, CallArgs&) { return Value::string(py_title(self_str(self))); }
Value m_capitalize(Interpreter&, const Value& self, CallArgs&) { return Value::string(py_capitalize(self_str(self))); }

Value m_swapcase(Interpreter&, const Value& self, CallArgs&) {
  std::string out;
  for (char32_t c : utf8::decode(self_str(self)))
    utf8::append(out, utf8::is_upper(c) ? utf8::to_lower(c) : (utf8::is_lower(c) ? utf8::to_upper(c) : c));
  return Value::string(std::move(out));
}

Value m_replace(Interpreter& interp, const Value& self, CallArgs& args) {
  BoundArgs a("replace", args, {"old", "new", "count"});
  a.require("replace", 2);
  const std::int64_t count = a.has(2) ? need_int(a[2], "count") : -1;
  return Value::string(py_replace(interp, self_str(self), need_string(a[0], "old"), need_string(a[1], "new"), count));
}

Value m_format(Interpreter& interp, const Value& self, CallArgs& args) {
  std::string s = str_format(self_str(self), args);
  interp.check_string_size(s.size());
  return Value::string(std::move(s));
}

Value m_join(Interpreter& interp, const Value& self, CallArgs& args) {
  BoundArgs a("join", args, {"iterable"});
  a.require("join", 1);
  std::string out;
  bool first = true;
  for (const auto& v : iterate(a[0])) {
    if (!first) out += self_str(self);
    first = false;
    out += need_string(v, "sequence item");
    interp.check_string_size(out.size());
  }
  return Value::string(std::move(out));
}

template <bool (*Pred)(char32_t)>
Value char_class(Interpreter&, const Value& self, CallArgs&) {
  const std::vector<char32_t> cps = utf8::decode(self_str(self));
  if (cps.empty()) return Value::boolean(false);
  for (char32_t c : cps)
    if (!Pred(c)) return Value::boolean(false);
  return Value::boolean(true);
}

Value case_check(const Value& self, bool want_upper) {
  bool cased = false;
  for (char32_t c : utf8::decode(self_str(self))) {
    if (want_upper ? utf8::is_lower(c) : utf8::is_upper(c)) return Value::boolean(false);
    if (want_upper ? utf8::is_upper(c) : utf8::is_lower(c)) cased = true;
  }
  return Value::boolean(cased);
}
Value m_islower(Interpreter&, const Value& self, CallArgs&) { return case_check(self, false); }
Value m_isupper(Interpreter&, const Value& self, CallArgs&) { return case_check(self, true); }

Value m_center(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("center", args, {"width", "fillchar"});
  a.require("center", 1);
  return Value::string(
      py_center(self_str(self), need_int(a[0], "width"), a.has(1) ? need_string(a[1], "fillchar") : " "));
}

Value justify(const char* name, const Value& self, CallArgs& args, int mode) {
  BoundArgs a(name, args, {"width", "fillchar"});
  a.require(name, 1);
  const std::string& s = self_str(self);
  const std::int64_t width = need_int(a[0], "width");
  const std::string fill = a.has(1) ? need_string(a[1], "fillchar") : " ";
  const auto len = static_cast<std::int64_t>(utf8::length(s));
  if (width <= len) return self;
  std::string padding;
  for (std::int64_t i = 0; i < width - len; ++i) padding += fill;
  return Value::string(mode == 0 ? s + padding : padding + s);
}
Value m_ljust(Interpreter&, const Value& self, CallArgs& args) { return justify("ljust", self, args, 0); }
Value m_rjust(Interpreter&, const Value& self, CallArgs& args) { return justify("rjust", self, args, 1); }

Value m_zfill(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("zfill", args, {"width"});
  a.require("zfill", 1);
  std::string s = self_str(self);
  const auto len = static_cast<std::int64_t>(utf8::length(s));
  const std::int64_t width = need_int(a[0], "width");
  if (width <= len) return self;
  const std::size_t at = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  s.insert(at, static_cast<std::size_t>(width - len), '0');
  return Value::string(std::move(s));
}

Value partition_impl(const Value& self, CallArgs& args, bool from_right) {
  BoundArgs a("partition", args, {"sep"});
  a.require("partition", 1);
  const std::string& s = self_str(self);
  const std::string& sep = need_string(a[0], "sep");
  if (sep.empty()) type_error("empty separator");
  const std::size_t p = from_right ? s.rfind(sep) : s.find(sep);
  if (p == std::string::npos)
    return from_right ? Value::tuple({Value::string(""), Value::string(""), self})
                      : Value::tuple({self, Value::string(""), Value::string("")});
  return Value::tuple({Value::string(s.substr(0, p)), Value::string(sep), Value::string(s.substr(p + sep.size()))});
}
Value m_partition(Interpreter&, const Value& self, CallArgs& args) { return partition_impl(self, args, false); }
Value m_rpartition(Interpreter&, const Value& self, CallArgs& args) { return partition_impl(self, args, true); }

Value m_removeprefix(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("removeprefix", args, {"prefix"});
  a.require("removeprefix", 1);
  const std::string& s = self_str(self);
  const std::string& p = need_string(a[0], "prefix");
  return s.compare(0, p.size(), p) == 0 ? Value::string(s.substr(p.size())) : self;
}

Value m_removesuffix(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("removesuffix", args, {"suffix"});
  a.require("removesuffix", 1);
  const std::string& s = self_str(self);
  const std::string& p = need_string(a[0], "suffix");
  if (!p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0)
    return Value::string(s.substr(0, s.size() - p.size()));
  return self;
}

// ---- dict ----------------------------------------------------------------------------------
Value m_items(Interpreter&, const Value& self, CallArgs&) {
  std::vector<Value> items;
  for (const auto& [k, v] : self.as_dict().entries) items.push_back(Value::tuple({k, v}));
  return Value::list(std::move(items));
}
Value m_keys(Interpreter&, const Value& self, CallArgs&) { return Value::list(iterate(self)); }
Value m_values(Interpreter&, const Value& self, CallArgs&) {
  std::vector<Value> items;
  for (const auto& [k, v] : self.as_dict().entries) items.push_back(v);
  return Value::list(std::move(items));
}
Value m_get(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("get", args, {"key", "default"});
  a.require("get", 1);
  if (const Value* v = self.as_dict().find(a[0])) return *v;
  return a.get(1, Value::none());
}
Value m_copy(Interpreter&, const Value& self, CallArgs&) { return self; }

// ---- list / tuple --------------------------------------------------------------------------
Value m_lindex(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("index", args, {"value"});
  a.require("index", 1);
  const auto& items = self.as_list();
  for (std::size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], a[0])) return Value::integer(static_cast<std::int64_t>(i));
  type_error(repr(a[0]) + " is not in list");
}
Value m_lcount(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs a("count", args, {"value"});
  a.require("count", 1);
  std::int64_t n = 0;
  for (const auto& v : self.as_list())
    if (equals(v, a[0])) ++n;
  return Value::integer(n);
}

struct MethodEntry {
  std::string_view name;
  MethodFn fn;
};

const MethodEntry kStrMethods[] = {
    {"strip", m_strip},
    {"lstrip", m_lstrip},
    {"rstrip", m_rstrip},
    {"split", m_split},
    {"rsplit", m_rsplit},
    {"splitlines", m_splitlines},
    {"startswith", m_startswith},
    {"endswith", m_endswith},
    {"find", m_find},
    {"rfind", m_rfind},
    {"index", m_sindex},
    {"rindex", m_rindex},
    {"count", m_scount},
    {"upper", m_upper},
    {"lower", m_lower},
    {"casefold", m_lower},
    {"title", m_title},
    {"capitalize", m_capitalize},
    {"swapcase", m_swapcase},
    {"replace", m_replace},
    {"format", m_format},
    {"join", m_join},
    {"center", m_center},
    {"ljust", m_ljust},
    {"rjust", m_rjust},
    {"zfill", m_zfill},
    {"partition", m_partition},
    {"rpartition", m_rpartition},
    {"removeprefix", m_removeprefix},
    {"removesuffix", m_removesuffix},
    {"isdigit", char_class<utf8::is_digit>},
    {"isdecimal", char_class<utf8::is_digit>},
    {"isnumeric", char_class<utf8::is_digit>},
    {"isalpha", char_class<utf8::is_alpha>},
    {"isalnum", char_class<utf8::is_alnum>},
    {"isspace", char_class<utf8::is_space>},
    {"islower", m_islower},
    {"isupper", m_isupper},
};
const MethodEntry kDictMethods[] = {
    {"items", m_items}, {"keys", m_keys}, {"values", m_values}, {"get", m_get}, {"copy", m_copy},
};
const MethodEntry kListMethods[] = {{"index", m_lindex}, {"count", m_lcount}, {"copy", m_copy}};
const std::string_view kUnsafeDict[] = {"clear", "pop", "popitem", "setdefault", "update"};
const std::string_view kUnsafeList[] = {"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"};

template <std::size_t N>
Value lookup(const Value& obj, std::string_view name, const MethodEntry (&table)[N]) {
  for (const auto& m : table)
    if (m.name == name) return Value::object(std::make_shared<BoundMethod>(obj, std::string(name), m.fn));
  return Value();
}

template <std::size_t N>
bool listed(std::string_view name, const std::string_view (&names)[N]) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace

Value method_of(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Kind::kString:
      return lookup(obj, name, kStrMethods);
    case Kind::kDict:
      if (listed(name, kUnsafeDict))
        return Value::unsafe("access to attribute '" + std::string(name) + "' of 'dict' object is unsafe.");
      return lookup(obj, name, kDictMethods);
    case Kind::kList:
      if (listed(name, kUnsafeList))
        return Value::unsafe("access to attribute '" + std::string(name) + "' of 'list' object is unsafe.");
      return lookup(obj, name, kListMethods);
    case Kind::kTuple:
      if (name == "copy") return Value();
      return lookup(obj, name, kListMethods);
    default:
      return Value();
  }
}

}  // namespace ferrite::chat
