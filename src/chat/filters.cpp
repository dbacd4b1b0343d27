// Jinja's built-in filters (3.1 semantics) plus HF's tojson. Filters that return generators in
// Jinja (select, map, unique, ...) return iterator values: truthy, printable as a generator,
// without len(), as in Python.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "chat/builtin_util.h"
#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/json_value.h"
#include "chat/operators.h"
#include "chat/utf8.h"

namespace ferrite::chat {

std::string py_title(const std::string& s) {
  std::string out;
  bool previous_cased = false;
  for (char32_t c : utf8::decode(s)) {
    utf8::append(out, previous_cased ? utf8::to_lower(c) : utf8::to_upper(c));
    previous_cased = utf8::is_cased(c);
  }
  return out;
}

std::string py_capitalize(const std::string& s) {
  std::string out;
  bool first = true;
  for (char32_t c : utf8::decode(s)) {
    utf8::append(out, first ? utf8::to_upper(c) : utf8::to_lower(c));
    first = false;
  }
  return out;
}

std::string py_replace(Interpreter& interp, const std::string& s, const std::string& old, const std::string& repl,
                       std::int64_t count) {
  std::string out;
  std::int64_t done = 0;
  if (old.empty()) {
    const std::vector<char32_t> cps = utf8::decode(s);
    for (std::size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (i < cps.size()) utf8::append(out, cps[i]);
      interp.check_string_size(out.size());
    }
    return out;
  }
  std::size_t start = 0;
  while (count < 0 || done < count) {
    const std::size_t p = s.find(old, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += repl;
    interp.check_string_size(out.size());
    start = p + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

std::string py_center(const std::string& s, std::int64_t width, const std::string& fill) {
  const auto len = static_cast<std::int64_t>(utf8::length(s));
  const std::int64_t marg = width - len;
  if (marg <= 0) return s;
  const std::int64_t left = marg / 2 + (marg & width & 1);
  std::string out;
  for (std::int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (std::int64_t i = 0; i < marg - left; ++i) out += fill;
  return out;
}

namespace {

Value str_value(const Value& v) { return v.is_string() ? v : Value::string(to_str(v)); }

// Jinja's make_attrgetter: "a.b.0" looks up each part with getitem (digits as ints).
Value attr_path(const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return get_item(item, attribute);
  Value v = item;
  const std::string& path = attribute.as_string();
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    v = get_item(v, digits ? Value::integer(std::atoll(part.c_str())) : Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// Sort / unique / min / max key: lower-cased strings unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(utf8::lower(v.as_string()));
  return v;
}

Value f_trim(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("trim", args, {"chars"});
  std::optional<std::string> chars;
  if (a.has(0) && !a[0].is_none()) chars = to_str(a[0]);
  return Value::string(utf8::strip(to_str(in), true, true, chars ? &*chars : nullptr));
}

Value f_length(Interpreter&, const Value& in, CallArgs&) {
  return Value::integer(static_cast<std::int64_t>(length_of(in)));
}
Value f_upper(Interpreter&, const Value& in, CallArgs&) { return Value::string(utf8::upper(to_str(in))); }
Value f_lower(Interpreter&, const Value& in, CallArgs&) { return Value::string(utf8::lower(to_str(in))); }
Value f_capitalize(Interpreter&, const Value& in, CallArgs&) { return Value::string(py_capitalize(to_str(in))); }

Value f_title(Interpreter&, const Value& in, CallArgs&) {
  // Jinja's own title: words begin after runs of '-', whitespace, '(', '{', '[' or '<'.
  std::string out;
  bool at_start = true;
  for (char32_t c : utf8::decode(to_str(in))) {
    const bool delim = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || utf8::is_space(c);
    if (delim) {
      utf8::append(out, c);
      at_start = true;
    } else {
      utf8::append(out, at_start ? utf8::to_upper(c) : utf8::to_lower(c));
      at_start = false;
    }
  }
  return Value::string(std::move(out));
}

Value f_default(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("default", args, {"default_value", "boolean"});
  const bool boolean = a.has(1) && truthy(a[1]);
  if (in.is_undefined() || (boolean && !truthy(in))) return a.get(0, Value::string(""));
  return in;
}

Value f_join(Interpreter& interp, const Value& in, CallArgs& args) {
  BoundArgs a("join", args, {"d", "attribute"});
  const std::string sep = a.has(0) ? to_str(a[0]) : "";
  std::string out;
  bool first = true;
  for (const auto& item : iterate(in)) {
    if (!first) out += sep;
    first = false;
    append_str(out, a.has(1) && !a[1].is_none() ? attr_path(item, a[1]) : item, interp.limits().max_output_bytes);
    interp.check_string_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_replace(Interpreter& interp, const Value& in, CallArgs& args) {
  BoundArgs a("replace", args, {"old", "new", "count"});
  a.require("replace", 2);
  const std::int64_t count = a.has(2) && !a[2].is_none() ? need_int(a[2], "count") : -1;
  return Value::string(py_replace(interp, to_str(in), to_str(a[0]), to_str(a[1]), count));
}

Value f_first(Interpreter&, const Value& in, CallArgs&) {
  std::vector<Value> items = iterate(in);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter&, const Value& in, CallArgs&) {
  if (in.kind() == Kind::kIterator) type_error("'generator' object is not reversible");
  std::vector<Value> items = iterate(in);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_list(Interpreter&, const Value& in, CallArgs&) { return Value::list(iterate(in)); }

Value f_items(Interpreter&, const Value& in, CallArgs&) {
  if (in.is_undefined()) return Value::iterator({}, "generator");
  if (!in.is_dict()) type_error("Can only get item pairs from a mapping.");
  std::vector<Value> items;
  for (const auto& [k, v] : in.as_dict().entries) items.push_back(Value::tuple({k, v}));
  return Value::iterator(std::move(items), "generator");
}

Value select_impl(Interpreter& interp, const Value& in, CallArgs& args, bool attr, bool reject) {
  std::vector<Value> out;
  if (!truthy(in)) return Value::iterator({}, "generator");
  std::size_t off = 0;
  Value attribute;
  if (attr) {
    if (args.positional.empty()) type_error("Missing parameter for attribute name");
    attribute = args.positional[0];
    off = 1;
  }
  TestFn test = nullptr;
  CallArgs test_args;
  if (args.positional.size() > off) {
    const std::string name = to_str(args.positional[off]);
    test = find_test(name);
    if (test == nullptr) type_error("No test named '" + name + "'.");
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off + 1), args.positional.end());
    test_args.named = args.named;
  }
  for (const auto& item : iterate(in)) {
    const Value subject = attr ? attr_path(item, attribute) : item;
    bool keep;
    if (test != nullptr) {
      CallArgs a = test_args;
      keep = test(interp, subject, a);
    } else {
      keep = truthy(subject);
    }
    if (keep != reject) out.push_back(item);
  }
  return Value::iterator(std::move(out), "generator");
}

Value f_select(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, false, false); }
Value f_reject(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, false, true); }
Value f_selectattr(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, true, false); }
Value f_rejectattr(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, true, true); }

Value f_map(Interpreter& interp, const Value& in, CallArgs& args) {
  if (!truthy(in)) return Value::iterator({}, "generator");
  std::vector<Value> out;
  if (args.positional.empty()) {
    Value attribute, dflt = Value::none();
    bool has_attribute = false;
    for (const auto& [k, v] : args.named) {
      if (k == "attribute")
        attribute = v, has_attribute = true;
      else if (k == "default")
        dflt = v;
      else
        type_error("Unexpected keyword argument '" + k + "'");
    }
    if (!has_attribute) type_error("map requires a filter argument");
    for (const auto& item : iterate(in)) {
      Value v = attr_path(item, attribute);
      if (v.is_undefined() && !dflt.is_none()) v = dflt;
      out.push_back(std::move(v));
    }
  } else {
    const std::string name = to_str(args.positional[0]);
    FilterFn f = find_filter(name);
    if (f == nullptr) type_error("No filter named '" + name + "'.");
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.named = args.named;
    for (const auto& item : iterate(in)) {
      CallArgs a = rest;
      out.push_back(f(interp, item, a));
    }
  }
  return Value::iterator(std::move(out), "generator");
}

Value f_string(Interpreter&, const Value& in, CallArgs&) { return str_value(in); }

std::optional<double> parse_float(const std::string& text) {
  std::string s = utf8::strip(text, true, true, nullptr);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  std::string low = utf8::lower(s);
  const std::size_t sign = (low[0] == '+' || low[0] == '-') ? 1 : 0;
  const std::string body = low.substr(sign);
  const double neg = low[0] == '-' ? -1.0 : 1.0;
  if (body == "inf" || body == "infinity") return neg * HUGE_VAL;
  if (body == "nan") return std::nan("");
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return v;
}

std::optional<std::int64_t> parse_int(const std::string& text, int base) {
  std::string s = utf8::strip(text, true, true, nullptr);
  if (s.empty()) return std::nullopt;
  bool neg = false;
  std::size_t i = 0;
  if (s[0] == '+' || s[0] == '-') neg = s[0] == '-', i = 1;
  if (base == 16 && s.compare(i, 2, "0x") == 0) i += 2;
  if (base == 8 && s.compare(i, 2, "0o") == 0) i += 2;
  if (base == 2 && s.compare(i, 2, "0b") == 0) i += 2;
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits.push_back(s[i]);
  }
  if (digits.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE || digits[0] == '-' || digits[0] == '+') return std::nullopt;
  return neg ? -v : v;
}

Value f_int(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("int", args, {"default", "base"});
  const Value dflt = a.get(0, Value::integer(0));
  const int base = a.has(1) ? static_cast<int>(need_int(a[1], "base")) : 10;
  if (in.is_integral()) return Value::integer(in.as_int());
  if (in.kind() == Kind::kFloat) {
    if (!std::isfinite(in.as_float())) type_error("cannot convert float infinity or NaN to integer");
    return Value::integer(static_cast<std::int64_t>(in.as_float()));
  }
  if (in.is_string()) {
    if (auto v = parse_int(in.as_string(), base)) return Value::integer(*v);
    if (auto f = parse_float(in.as_string()); f && std::isfinite(*f))
      return Value::integer(static_cast<std::int64_t>(*f));
  }
  return dflt;
}

Value f_float(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("float", args, {"default"});
  if (in.is_number()) return Value::number(in.as_float());
  if (in.is_string())
    if (auto f = parse_float(in.as_string())) return Value::number(*f);
  return a.get(0, Value::number(0.0));
}

Value f_abs(Interpreter&, const Value& in, CallArgs&) {
  if (in.kind() == Kind::kFloat) return Value::number(std::fabs(in.as_float()));
  if (in.is_integral()) return Value::integer(in.as_int() < 0 ? -in.as_int() : in.as_int());
  type_error("bad operand type for abs(): '" + type_name(in) + "'");
}

Value f_round(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("round", args, {"precision", "method"});
  const std::int64_t precision = a.has(0) ? need_int(a[0], "precision") : 0;
  const std::string method = a.has(1) ? to_str(a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") type_error("method must be common, ceil or floor");
  if (!in.is_number()) type_error("type " + type_name(in) + " doesn't define __round__ method");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method != "common") {
    const double x = in.as_float() * scale;
    return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (in.is_integral()) {
    if (precision >= 0) return Value::integer(in.as_int());
    const double r = std::nearbyint(static_cast<double>(in.as_int()) / std::pow(10.0, static_cast<double>(-precision)));
    return Value::integer(static_cast<std::int64_t>(r * std::pow(10.0, static_cast<double>(-precision))));
  }
  const double x = in.as_float();
  if (!std::isfinite(x)) return in;
  if (precision >= 0 && precision < 300) {
    // printf rounds the exact binary value half-to-even, which is what Python's round() does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), x);
    return Value::number(std::strtod(buf, nullptr));
  }
  return Value::number(std::nearbyint(x / std::pow(10.0, static_cast<double>(-precision))) *
                       std::pow(10.0, static_cast<double>(-precision)));
}

Value f_safe(Interpreter&, const Value& in, CallArgs&) { return str_value(in); }

Value f_escape(Interpreter&, const Value& in, CallArgs&) {
  std::string out;
  for (char c : to_str(in)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return Value::string(std::move(out));
}

Value f_indent(Interpreter& interp, const Value& in, CallArgs& args) {
  BoundArgs a("indent", args, {"width", "first", "blank"});
  std::string indention;
  const Value width = a.get(0, Value::integer(4));
  if (width.is_string()) {
    indention = width.as_string();
  } else {
    const std::int64_t w = need_int(width, "width");
    if (w > 0) indention.assign(static_cast<std::size_t>(w), ' ');
  }
  const bool first = a.has(1) && truthy(a[1]);
  const bool blank = a.has(2) && truthy(a[2]);
  const std::vector<std::string> lines = utf8::splitlines(to_str(in) + "\n");
  std::string rv;
  if (blank) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) rv += "\n" + indention;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (std::size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
      interp.check_string_size(rv.size());
    }
  }
  if (first) rv = indention + rv;
  return Value::string(std::move(rv));
}

Value f_dictsort(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("dictsort", args, {"case_sensitive", "by", "reverse"});
  const bool cs = a.has(0) && truthy(a[0]);
  const std::string by = a.has(1) ? to_str(a[1]) : "key";
  const bool rev = a.has(2) && truthy(a[2]);
  if (by != "key" && by != "value") type_error("You can only sort by either \"key\" or \"value\"");
  if (!in.is_dict()) type_error("'" + type_name(in) + "' object has no attribute 'items'");
  const std::size_t pos = by == "key" ? 0 : 1;
  std::vector<Value> items;
  for (const auto& [k, v] : in.as_dict().entries) items.push_back(Value::tuple({k, v}));
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key(x.as_list()[pos], cs), ky = sort_key(y.as_list()[pos], cs);
    return rev ? compare(ky, kx) < 0 : compare(kx, ky) < 0;
  });
  return Value::list(std::move(items));
}

Value f_sort(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool rev = a.has(0) && truthy(a[0]);
  const bool cs = a.has(1) && truthy(a[1]);
  const bool by_attr = a.has(2) && !a[2].is_none();
  std::vector<Value> items = iterate(in);
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& v : items) keyed.emplace_back(sort_key(by_attr ? attr_path(v, a[2]) : v, cs), v);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return rev ? compare(y.first, x.first) < 0 : compare(x.first, y.first) < 0;
  });
  std::vector<Value> out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return Value::list(std::move(out));
}

Value f_unique(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("unique", args, {"case_sensitive", "attribute"});
  const bool cs = a.has(0) && truthy(a[0]);
  std::vector<Value> seen, out;
  for (const auto& v : iterate(in)) {
    Value key = sort_key(a.has(1) && !a[1].is_none() ? attr_path(v, a[1]) : v, cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) {
      seen.push_back(std::move(key));
      out.push_back(v);
    }
  }
  return Value::iterator(std::move(out), "generator");
}

Value f_reverse(Interpreter&, const Value& in, CallArgs&) {
  if (in.is_string()) {
    std::vector<char32_t> cps = utf8::decode(in.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value::string(utf8::encode(cps));
  }
  std::vector<Value> items = iterate(in);
  std::reverse(items.begin(), items.end());
  if (in.kind() == Kind::kIterator) return Value::list(std::move(items));
  return Value::iterator(std::move(items), in.is_dict() ? "dict_reversekeyiterator" : "list_reverseiterator");
}

Value min_max(const Value& in, CallArgs& args, bool want_max) {
  BoundArgs a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const bool cs = a.has(0) && truthy(a[0]);
  std::vector<Value> items = iterate(in);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& v) { return sort_key(a.has(1) && !a[1].is_none() ? attr_path(v, a[1]) : v, cs); };
  std::size_t best = 0;
  Value best_key = key(items[0]);
  for (std::size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? compare(k, best_key) > 0 : compare(k, best_key) < 0) best = i, best_key = std::move(k);
  }
  return items[best];
}
Value f_max(Interpreter&, const Value& in, CallArgs& args) { return min_max(in, args, true); }
Value f_min(Interpreter&, const Value& in, CallArgs& args) { return min_max(in, args, false); }

Value f_sum(Interpreter& interp, const Value& in, CallArgs& args) {
  BoundArgs a("sum", args, {"attribute", "start"});
  Value total = a.get(1, Value::integer(0));
  if (total.is_string()) type_error("sum() can't sum strings [use ''.join(seq) instead]");
  for (const auto& v : iterate(in))
    total = binary_op(interp, BinOp::kAdd, total, a.has(0) && !a[0].is_none() ? attr_path(v, a[0]) : v);
  return total;
}

Value f_batch(Interpreter& interp, const Value& in, CallArgs& args) {
  BoundArgs a("batch", args, {"linecount", "fill_with"});
  a.require("batch", 1);
  const std::int64_t n = need_int(a[0], "linecount");
  if (n <= 0) type_error("batch size must be positive");
  std::vector<Value> out, tmp;
  for (const auto& v : iterate(in)) {
    if (static_cast<std::int64_t>(tmp.size()) == n) out.push_back(Value::list(std::exchange(tmp, {})));
    tmp.push_back(v);
  }
  if (!tmp.empty()) {
    if (a.has(1) && !a[1].is_none()) {
      interp.check_items(static_cast<std::size_t>(n));
      while (static_cast<std::int64_t>(tmp.size()) < n) tmp.push_back(a[1]);
    }
    out.push_back(Value::list(std::move(tmp)));
  }
  return Value::iterator(std::move(out), "generator");
}

Value f_wordcount(Interpreter&, const Value& in, CallArgs&) {
  std::int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8::decode(to_str(in))) {
    const bool w = c == '_' || utf8::is_alnum(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_center(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("center", args, {"width"});
  return Value::string(py_center(to_str(in), a.has(0) ? need_int(a[0], "width") : 80, " "));
}

Value f_format(Interpreter& interp, const Value& in, CallArgs& args) {
  if (!args.positional.empty() && !args.named.empty())
    type_error("can't handle positional and keyword arguments at the same time");
  Value fmt_args;
  if (!args.named.empty()) {
    DictData d;
    for (auto& [k, v] : args.named) d.set(Value::string(k), v);
    fmt_args = Value::dict(std::move(d));
  } else {
    fmt_args = Value::tuple(args.positional);
  }
  std::string s = percent_format(to_str(in), fmt_args);
  interp.check_string_size(s.size());
  return Value::string(std::move(s));
}

Value f_truncate(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("truncate", args, {"length", "killwords", "end", "leeway"});
  const std::int64_t length = a.has(0) ? need_int(a[0], "length") : 255;
  const bool killwords = a.has(1) && truthy(a[1]);
  const std::string end = a.has(2) ? to_str(a[2]) : "...";
  const std::int64_t leeway = a.has(3) && !a[3].is_none() ? need_int(a[3], "leeway") : 5;
  const auto end_len = static_cast<std::int64_t>(utf8::length(end));
  if (length < end_len) type_error("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  const std::vector<char32_t> cps = utf8::decode(to_str(in));
  if (static_cast<std::int64_t>(cps.size()) <= length + leeway) return str_value(in);
  std::string head = utf8::encode(cps.data(), cps.data() + (length - end_len));
  if (!killwords) {
    const std::size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head.resize(sp);
  }
  return Value::string(head + end);
}

Value f_attr(Interpreter&, const Value& in, CallArgs& args) {
  BoundArgs a("attr", args, {"name"});
  a.require("attr", 1);
  // Jinja's attr() is getattr() only: unlike `.name`, it never falls back to a dict key.
  const std::string name = to_str(a[0]);
  if (in.is_dict()) {
    Value m = method_of(in, name);
    if (m.is_undefined() && !m.is_unsafe()) return Value::undefined("'dict object' has no attribute '" + name + "'");
    return m;
  }
  if (in.is_undefined()) undefined_error(in);
  return get_attr(in, name);
}

Value f_tojson(Interpreter& interp, const Value& in, CallArgs& args) {
  // HF's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
  BoundArgs a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = a.has(0) && truthy(a[0]);
  if (a.has(1) && !a[1].is_none()) {
    if (a[1].is_string())
      o.indent = a[1].as_string();
    else
      o.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, need_int(a[1], "indent"))), ' ');
  }
  if (a.has(2) && !a[2].is_none()) {
    const std::vector<Value> seps = iterate(a[2]);
    if (seps.size() != 2) type_error("separators must be an (item_separator, key_separator) pair");
    o.item_separator = need_string(seps[0], "item separator");
    o.key_separator = need_string(seps[1], "key separator");
  }
  o.sort_keys = a.has(3) && truthy(a[3]);
  o.max_bytes = interp.limits().max_output_bytes;
  return Value::string(json_dumps(in, o));
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs", f_abs},           {"attr", f_attr},
    {"batch", f_batch},       {"capitalize", f_capitalize},
    {"center", f_center},     {"count", f_length},
    {"d", f_default},         {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape},     {"first", f_first},
    {"float", f_float},       {"forceescape", f_escape},
    {"format", f_format},     {"indent", f_indent},
    {"int", f_int},           {"items", f_items},
    {"join", f_join},         {"last", f_last},
    {"length", f_length},     {"list", f_list},
    {"lower", f_lower},       {"map", f_map},
    {"max", f_max},           {"min", f_min},
    {"reject", f_reject},     {"rejectattr", f_rejectattr},
    {"replace", f_replace},   {"reverse", f_reverse},
    {"round", f_round},       {"safe", f_safe},
    {"select", f_select},     {"selectattr", f_selectattr},
    {"sort", f_sort},         {"string", f_string},
    {"sum", f_sum},           {"title", f_title},
    {"tojson", f_tojson},     {"trim", f_trim},
    {"truncate", f_truncate}, {"unique", f_unique},
    {"upper", f_upper},       {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& f : kFilters)
    if (f.name == name) return f.fn;
  return nullptr;
}

}  // namespace ferrite::chat
