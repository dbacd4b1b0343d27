// Python's two string-formatting mini languages: `fmt % args` (also the `format` filter) and
// str.format (the `.format()` method HF's sandbox allows).
#include <cmath>
#include <cstdio>

#include "chat/errors.h"
#include "chat/operators.h"
#include "chat/utf8.h"

namespace ferrite::chat {
namespace {

struct Spec {
  char fill = ' ';
  char align = 0;  // '<' '>' '^' '='
  char sign = '-';
  bool alt = false;
  bool zero = false;
  int width = -1;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

std::string pad(const std::string& body, const Spec& spec, char default_align) {
  const auto len = static_cast<int>(utf8::length(body));
  if (spec.width <= len) return body;
  const auto fill_count = static_cast<std::size_t>(spec.width - len);
  const char align = spec.align ? spec.align : default_align;
  const std::string fill(1, spec.fill);
  auto repeat = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += fill;
    return s;
  };
  if (align == '<') return body + repeat(fill_count);
  if (align == '^') return repeat(fill_count / 2) + body + repeat(fill_count - fill_count / 2);
  if (align == '=' && !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' '))
    return body.substr(0, 1) + repeat(fill_count) + body.substr(1);
  return repeat(fill_count) + body;
}

std::string group_digits(const std::string& digits, char sep) {
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out;
}

std::string format_int(std::int64_t v, const Spec& spec) {
  const bool neg = v < 0;
  const unsigned long long mag = neg ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  std::string digits;
  char buf[80];
  switch (spec.type) {
    case 'x':
      std::snprintf(buf, sizeof(buf), "%llx", mag);
      digits = buf;
      if (spec.alt) digits = "0x" + digits;
      break;
    case 'X':
      std::snprintf(buf, sizeof(buf), "%llX", mag);
      digits = buf;
      if (spec.alt) digits = "0X" + digits;
      break;
    case 'o':
      std::snprintf(buf, sizeof(buf), "%llo", mag);
      digits = buf;
      if (spec.alt) digits = "0o" + digits;
      break;
    case 'b': {
      unsigned long long m = mag;
      do {
        digits.insert(digits.begin(), static_cast<char>('0' + (m & 1)));
        m >>= 1;
      } while (m);
      if (spec.alt) digits = "0b" + digits;
      break;
    }
    default:
      digits = std::to_string(mag);
      if (spec.grouping) digits = group_digits(digits, spec.grouping);
  }
  std::string sign = neg ? "-" : (spec.sign == '+' ? "+" : (spec.sign == ' ' ? " " : ""));
  if (spec.zero && !spec.align && spec.width > 0) {
    while (static_cast<int>(sign.size() + digits.size()) < spec.width) digits.insert(digits.begin(), '0');
  }
  return sign + digits;
}

std::string format_float(double v, const Spec& spec) {
  char type = spec.type;
  int precision = spec.precision;
  std::string body;
  if (type == 0 && precision < 0) {
    body = float_repr(std::fabs(v));
  } else {
    if (type == 0) type = 'g';
    if (precision < 0) precision = 6;
    const double x = type == '%' ? std::fabs(v) * 100.0 : std::fabs(v);
    const char conv = type == '%' ? 'f' : (type == 'n' ? 'g' : type);
    char fmt[16];
    std::snprintf(fmt, sizeof(fmt), "%%%s.%d%c", spec.alt ? "#" : "", precision, conv);
    char buf[512];
    std::snprintf(buf, sizeof(buf), fmt, x);
    body = buf;
    if (type == '%') body += "%";
  }
  if (std::isinf(v)) body = spec.type >= 'A' && spec.type <= 'Z' ? "INF" : "inf";
  if (std::isnan(v)) body = spec.type >= 'A' && spec.type <= 'Z' ? "NAN" : "nan";
  if (spec.grouping) {
    const std::size_t dot = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, dot), spec.grouping) + (dot == std::string::npos ? "" : body.substr(dot));
  }
  const bool neg = std::signbit(v) && !std::isnan(v);
  std::string sign = neg ? "-" : (spec.sign == '+' ? "+" : (spec.sign == ' ' ? " " : ""));
  if (spec.zero && !spec.align && spec.width > 0)
    while (static_cast<int>(sign.size() + body.size()) < spec.width) body.insert(body.begin(), '0');
  return sign + body;
}

Spec parse_spec(const std::string& s) {
  Spec spec;
  std::size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    spec.fill = s[0];
    spec.align = s[1];
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    spec.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == '#') spec.alt = true, ++i;
  if (i < s.size() && s[i] == '0') spec.zero = true, ++i;
  int width = 0;
  bool has_width = false;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') width = width * 10 + (s[i++] - '0'), has_width = true;
  if (has_width) spec.width = width;
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    int p = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') p = p * 10 + (s[i++] - '0');
    spec.precision = p;
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) type_error("Invalid format specifier '" + s + "'");
  return spec;
}

std::string format_value(const Value& v, const std::string& spec_text) {
  if (spec_text.empty()) return to_str(v);
  const Spec spec = parse_spec(spec_text);
  if (v.is_string()) {
    if (spec.type != 0 && spec.type != 's')
      type_error(std::string("Unknown format code '") + spec.type + "' for object of type 'str'");
    std::string s = v.as_string();
    if (spec.precision >= 0) {
      auto cps = utf8::decode(s);
      if (cps.size() > static_cast<std::size_t>(spec.precision)) cps.resize(static_cast<std::size_t>(spec.precision));
      s = utf8::encode(cps);
    }
    return pad(s, spec, '<');
  }
  if (v.is_integral() && (spec.type == 0 || std::string("dbxXon,").find(spec.type) != std::string::npos))
    return pad(format_int(v.as_int(), spec), spec, '>');
  if (v.is_number()) return pad(format_float(v.as_float(), spec), spec, '>');
  return pad(to_str(v), spec, '<');
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  std::vector<Value> positional;
  const Value* mapping = nullptr;
  if (args.kind() == Kind::kTuple) {
    positional = args.as_list();
  } else if (args.is_dict()) {
    mapping = &args;
    positional.push_back(args);
  } else {
    positional.push_back(args);
  }
  std::size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) type_error("incomplete format");
    Value arg;
    bool have_arg = false;
    if (fmt[i] == '(') {
      const std::size_t close = fmt.find(')', i);
      if (close == std::string::npos || mapping == nullptr) type_error("format requires a mapping");
      const Value* v = mapping->as_dict().find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (v == nullptr) type_error("KeyError: '" + fmt.substr(i + 1, close - i - 1) + "'");
      arg = *v;
      have_arg = used_mapping = true;
      i = close + 1;
    }
    Spec spec;
    for (; i < fmt.size(); ++i) {
      const char c = fmt[i];
      if (c == '-')
        spec.align = '<';
      else if (c == '+')
        spec.sign = '+';
      else if (c == ' ') {
        if (spec.sign != '+') spec.sign = ' ';
      } else if (c == '#')
        spec.alt = true;
      else if (c == '0')
        spec.zero = true;
      else
        break;
    }
    int width = -1;
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width = (width < 0 ? 0 : width * 10) + (fmt[i++] - '0');
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      spec.precision = 0;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') spec.precision = spec.precision * 10 + (fmt[i++] - '0');
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) type_error("incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_arg) {
      if (next >= positional.size()) type_error("not enough arguments for format string");
      arg = positional[next++];
    }
    spec.width = width;
    if (spec.align == '<') spec.zero = false;
    std::string body;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        spec.zero = false;
        body = conv == 's' ? to_str(arg) : repr(arg);
        if (spec.precision >= 0) {
          auto cps = utf8::decode(body);
          if (cps.size() > static_cast<std::size_t>(spec.precision))
            cps.resize(static_cast<std::size_t>(spec.precision));
          body = utf8::encode(cps);
        }
        spec.zero = false;
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        if (!arg.is_number())
          type_error(std::string("%") + conv + " format: a real number is required, not " + type_name(arg));
        const std::int64_t v = arg.kind() == Kind::kFloat ? static_cast<std::int64_t>(arg.as_float()) : arg.as_int();
        Spec s = spec;
        s.type = (conv == 'x' || conv == 'X' || conv == 'o') ? conv : 'd';
        body = format_int(v, s);
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg.is_number()) type_error("must be real number, not " + type_name(arg));
        Spec s = spec;
        s.type = conv;
        if (s.precision < 0) s.precision = 6;
        body = format_float(arg.as_float(), s);
        break;
      }
      case 'c':
        if (arg.is_string())
          body = arg.as_string();
        else
          utf8::append(body, static_cast<char32_t>(arg.as_int()));
        break;
      default:
        type_error(std::string("unsupported format character '") + conv + "'");
    }
    out += pad(body, spec, '>');
  }
  if (!used_mapping && mapping == nullptr && next < positional.size())
    type_error("not all arguments converted during string formatting");
  return out;
}

std::string str_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  std::size_t auto_index = 0;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}')
        ++i;
      else
        type_error("Single '}' encountered in format string");
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const std::size_t close = fmt.find('}', i);
    if (close == std::string::npos) type_error("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    std::string spec, conv;
    if (auto colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    if (auto bang = field.find('!'); bang != std::string::npos) {
      conv = field.substr(bang + 1);
      field.resize(bang);
    }
    std::size_t name_end = field.find_first_of(".[");
    const std::string name = field.substr(0, name_end);
    Value v;
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
      const std::size_t idx = name.empty() ? auto_index++ : std::stoul(name);
      if (idx >= args.positional.size())
        type_error("Replacement index " + std::to_string(idx) + " out of range for positional args tuple");
      v = args.positional[idx];
    } else {
      bool found = false;
      for (const auto& [k, val] : args.named)
        if (k == name) v = val, found = true;
      if (!found) type_error("KeyError: '" + name + "'");
    }
    while (name_end != std::string::npos && name_end < field.size()) {
      if (field[name_end] == '.') {
        const std::size_t e = field.find_first_of(".[", name_end + 1);
        v = get_attr(v, field.substr(name_end + 1, e == std::string::npos ? std::string::npos : e - name_end - 1));
        name_end = e;
      } else {
        const std::size_t e = field.find(']', name_end);
        if (e == std::string::npos) type_error("Missing ']' in format string");
        const std::string key = field.substr(name_end + 1, e - name_end - 1);
        const bool numeric = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
        v = get_item(v, numeric ? Value::integer(std::stoll(key)) : Value::string(key));
        name_end = e + 1;
      }
    }
    if (conv == "r" || conv == "a")
      v = Value::string(repr(v));
    else if (conv == "s")
      v = Value::string(to_str(v));
    out += format_value(v, spec);
  }
  return out;
}

}  // namespace ferrite::chat
