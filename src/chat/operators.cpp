#include "chat/operators.h"

#include <cmath>
#include <limits>
#include <optional>

#include "chat/builtins.h"
#include "chat/errors.h"
#include "chat/interpreter.h"
#include "chat/utf8.h"

namespace ferrite::chat {
namespace {

// Wide enough for any product or sum of two int64 values; overflow is then checked against int64.
__extension__ typedef __int128 Int128;

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kFloorDiv:
      return "//";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinOp op, const Value& a, const Value& b) {
  type_error(std::string("unsupported operand type(s) for ") + op_symbol(op) + ": '" + type_name(a) + "' and '" +
             type_name(b) + "'");
}

[[noreturn]] void overflow() { fail(ErrorType::kType, "integer overflow (beyond 64 bits)"); }

Value int_result(Int128 v) {
  if (v > std::numeric_limits<std::int64_t>::max() || v < std::numeric_limits<std::int64_t>::min()) overflow();
  return Value::integer(static_cast<std::int64_t>(v));
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// CPython's float_floor_div / float_rem.
double float_mod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

double float_floordiv(double a, double b) {
  const double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div != 0.0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, a / b);
}

Value repeat(Interpreter& interp, const Value& seq, std::int64_t n) {
  if (n <= 0)
    return seq.is_string() ? Value::string("") : (seq.kind() == Kind::kTuple ? Value::tuple({}) : Value::list({}));
  const auto times = static_cast<std::size_t>(n);
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && times > interp.limits().max_output_bytes / s.size())
      interp.check_string_size(interp.limits().max_output_bytes + 1);
    std::string out;
    out.reserve(s.size() * times);
    for (std::size_t i = 0; i < times; ++i) out += s;
    return Value::string(std::move(out));
  }
  const auto& items = seq.as_list();
  if (!items.empty() && times > interp.limits().max_items / items.size())
    interp.check_items(interp.limits().max_items + 1);
  std::vector<Value> out;
  out.reserve(items.size() * times);
  for (std::size_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.kind() == Kind::kTuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

bool is_dict_method(std::string_view name) {
  static const std::string_view kMethods[] = {"clear", "copy",    "fromkeys",   "get",    "items", "keys",
                                              "pop",   "popitem", "setdefault", "update", "values"};
  for (auto m : kMethods)
    if (m == name) return true;
  return false;
}

Value missing_attribute(const Value& obj, std::string_view name) {
  if (obj.is_none()) return Value::undefined("'None' has no attribute '" + std::string(name) + "'");
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + std::string(name) + "'");
}

Value missing_element(const Value& obj, const Value& key) {
  if (key.is_string()) return missing_attribute(obj, key.as_string());
  return Value::undefined(object_type_repr(obj) + " has no element " + repr(key));
}

}  // namespace

void undefined_error(const Value& undefined) {
  fail(undefined.is_unsafe() ? ErrorType::kSecurity : ErrorType::kUndefined, undefined.undefined_message());
}

Value binary_op(Interpreter& interp, BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (a.is_number() && b.is_number()) {
    const bool ints = a.is_integral() && b.is_integral();
    const std::int64_t x = ints ? a.as_int() : 0, y = ints ? b.as_int() : 0;
    const double fx = a.as_float(), fy = b.as_float();
    switch (op) {
      case BinOp::kAdd:
        return ints ? int_result(static_cast<Int128>(x) + y) : Value::number(fx + fy);
      case BinOp::kSub:
        return ints ? int_result(static_cast<Int128>(x) - y) : Value::number(fx - fy);
      case BinOp::kMul:
        return ints ? int_result(static_cast<Int128>(x) * y) : Value::number(fx * fy);
      case BinOp::kDiv:
        if (fy == 0.0) type_error(ints ? "division by zero" : "float division by zero");
        return Value::number(ints ? static_cast<double>(x) / static_cast<double>(y) : fx / fy);
      case BinOp::kFloorDiv:
        if (ints) {
          if (y == 0) type_error("integer division or modulo by zero");
          if (x == std::numeric_limits<std::int64_t>::min() && y == -1) overflow();
          return Value::integer(floor_div(x, y));
        }
        if (fy == 0.0) type_error("float floor division by zero");
        return Value::number(float_floordiv(fx, fy));
      case BinOp::kMod:
        if (ints) {
          if (y == 0) type_error("integer division or modulo by zero");
          if (y == -1) return Value::integer(0);
          std::int64_t m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) m += y;
          return Value::integer(m);
        }
        if (fy == 0.0) type_error("float modulo");
        return Value::number(float_mod(fx, fy));
      case BinOp::kPow:
        if (ints && y >= 0) {
          Int128 r = 1, base = x;
          std::int64_t e = y;
          while (e > 0) {
            if (e & 1) {
              r *= base;
              if (r > std::numeric_limits<std::int64_t>::max() || r < std::numeric_limits<std::int64_t>::min())
                overflow();
            }
            e >>= 1;
            if (e > 0) {
              base *= base;
              if (base > std::numeric_limits<std::int64_t>::max() || base < std::numeric_limits<std::int64_t>::min())
                overflow();
            }
          }
          return Value::integer(static_cast<std::int64_t>(r));
        }
        if (fx == 0.0 && fy < 0) type_error("0.0 cannot be raised to a negative power");
        return Value::number(std::pow(fx, fy));
    }
  }
  switch (op) {
    case BinOp::kAdd:
      if (a.is_string() && b.is_string()) {
        interp.check_string_size(a.as_string().size() + b.as_string().size());
        std::string s;
        s.reserve(a.as_string().size() + b.as_string().size());
        s += a.as_string();
        s += b.as_string();
        return Value::string(std::move(s));
      }
      if ((a.kind() == Kind::kList || a.kind() == Kind::kTuple) && a.kind() == b.kind()) {
        interp.check_items(a.as_list().size() + b.as_list().size());
        std::vector<Value> items = a.as_list();
        items.insert(items.end(), b.as_list().begin(), b.as_list().end());
        return a.kind() == Kind::kTuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
      }
      if (a.is_string() || a.kind() == Kind::kList || a.kind() == Kind::kTuple)
        type_error("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
      unsupported(op, a, b);
    case BinOp::kMul:
      if ((a.is_string() || a.kind() == Kind::kList || a.kind() == Kind::kTuple) && b.is_integral())
        return repeat(interp, a, b.as_int());
      if ((b.is_string() || b.kind() == Kind::kList || b.kind() == Kind::kTuple) && a.is_integral())
        return repeat(interp, b, a.as_int());
      if (a.is_string() || b.is_string() || a.is_list_like() || b.is_list_like())
        type_error("can't multiply sequence by non-int of type '" + type_name(a.is_number() ? a : b) + "'");
      unsupported(op, a, b);
    case BinOp::kMod:
      if (a.is_string()) {
        std::string s = percent_format(a.as_string(), b);
        interp.check_string_size(s.size());
        return Value::string(std::move(s));
      }
      unsupported(op, a, b);
    default:
      unsupported(op, a, b);
  }
}

Value negate(const Value& v) {
  if (v.is_undefined()) undefined_error(v);
  if (v.kind() == Kind::kFloat) return Value::number(-v.as_float());
  if (v.is_integral()) {
    if (v.as_int() == std::numeric_limits<std::int64_t>::min()) overflow();
    return Value::integer(-v.as_int());
  }
  type_error("bad operand type for unary -: '" + type_name(v) + "'");
}

Value get_attr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      undefined_error(obj);
    case Kind::kDict: {
      if (!is_dict_method(name)) {
        if (const Value* v = obj.as_dict().find(name)) return *v;
        return missing_attribute(obj, name);
      }
      return method_of(obj, name);
    }
    case Kind::kNamespace:
      if (const Value* v = obj.as_dict().find(name)) return *v;
      return Value::undefined("'Namespace' object has no attribute '" + std::string(name) + "'");
    case Kind::kString:
    case Kind::kList:
    case Kind::kTuple: {
      Value m = method_of(obj, name);
      if (m.is_undefined() && !m.is_unsafe()) return missing_attribute(obj, name);
      return m;
    }
    case Kind::kObject:
      return obj.as_object().get_attr(name);
    default:
      return missing_attribute(obj, name);
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::kUndefined:
      undefined_error(obj);
    case Kind::kDict: {
      if (const Value* v = obj.as_dict().find(key)) return *v;
      if (key.is_string() && is_dict_method(key.as_string())) return method_of(obj, key.as_string());
      return missing_element(obj, key);
    }
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kString: {
      if (!key.is_integral()) {
        if (key.is_string()) return get_attr(obj, key.as_string());
        return missing_element(obj, key);
      }
      std::int64_t i = key.as_int();
      if (obj.is_string()) {
        const std::string& s = obj.as_string();
        if (utf8::is_ascii(s)) {
          const auto n = static_cast<std::int64_t>(s.size());
          if (i < 0) i += n;
          if (i < 0 || i >= n) return missing_element(obj, key);
          return Value::string(std::string(1, s[static_cast<std::size_t>(i)]));
        }
        const std::vector<char32_t> cps = utf8::decode(s);
        const auto n = static_cast<std::int64_t>(cps.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return missing_element(obj, key);
        std::string out;
        utf8::append(out, cps[static_cast<std::size_t>(i)]);
        return Value::string(std::move(out));
      }
      const auto& items = obj.as_list();
      const auto n = static_cast<std::int64_t>(items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return missing_element(obj, key);
      return items[static_cast<std::size_t>(i)];
    }
    case Kind::kNamespace:
    case Kind::kObject:
      if (key.is_string()) return get_attr(obj, key.as_string());
      return missing_element(obj, key);
    default:
      return missing_element(obj, key);
  }
}

Value slice_value(Interpreter& interp, const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) undefined_error(obj);
  auto index = [](const Value& v, const char* what) -> std::optional<std::int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_integral()) type_error(std::string("slice ") + what + " must be an integer or None");
    return v.as_int();
  };
  const bool is_str = obj.is_string();
  if (!is_str && obj.kind() != Kind::kList && obj.kind() != Kind::kTuple)
    return Value::undefined(object_type_repr(obj) + " has no element slice");
  std::vector<char32_t> cps;
  if (is_str) cps = utf8::decode(obj.as_string());
  const auto n = static_cast<std::int64_t>(is_str ? cps.size() : obj.as_list().size());
  const std::int64_t st = index(step, "step").value_or(1);
  if (st == 0) type_error("slice step cannot be zero");
  // PySlice_AdjustIndices
  auto adjust = [&](std::optional<std::int64_t> v, std::int64_t dflt) {
    if (!v) return dflt;
    std::int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= n) {
      x = st < 0 ? n - 1 : n;
    }
    return x;
  };
  const std::int64_t b = adjust(index(start, "start"), st < 0 ? n - 1 : 0);
  const std::int64_t e = adjust(index(stop, "stop"), st < 0 ? -1 : n);
  std::vector<std::size_t> picks;
  for (std::int64_t i = b; st > 0 ? i < e : i > e; i += st) picks.push_back(static_cast<std::size_t>(i));
  interp.check_items(picks.size());
  if (is_str) {
    std::string out;
    for (auto i : picks) utf8::append(out, cps[i]);
    return Value::string(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(picks.size());
  for (auto i : picks) items.push_back(obj.as_list()[i]);
  return obj.kind() == Kind::kTuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (!item.is_string()) type_error("'in <string>' requires string as left operand, not " + type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kIterator:
      for (const auto& v : container.as_list())
        if (equals(v, item)) return true;
      return false;
    case Kind::kDict:
      return container.as_dict().find(item) != nullptr;
    default:
      type_error("argument of type '" + type_name(container) + "' is not iterable");
  }
}

bool compare_values(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::kEq:
      return equals(a, b);
    case CmpOp::kNe:
      return !equals(a, b);
    case CmpOp::kLt:
      return compare(a, b) < 0;
    case CmpOp::kLe:
      return compare(a, b) <= 0;
    case CmpOp::kGt:
      return compare(a, b) > 0;
    case CmpOp::kGe:
      return compare(a, b) >= 0;
    case CmpOp::kIn:
      return contains(b, a);
    case CmpOp::kNotIn:
      return !contains(b, a);
  }
  return false;
}

}  // namespace ferrite::chat
