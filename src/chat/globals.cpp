// Jinja's tests (`x is defined`, ...) and the globals of HF's environment: range (with the
// sandbox's 100000-item cap), dict, namespace, raise_exception, strftime_now, cycler, joiner.
#include <ctime>

#include "chat/builtin_util.h"
#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/operators.h"
#include "chat/utf8.h"

namespace ferrite::chat {
namespace {

// Wide enough for any product or sum of two int64 values; overflow is then checked against int64.
__extension__ typedef __int128 Int128;

constexpr std::int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

// ---- tests ---------------------------------------------------------------------------------
const Value& arg0(const char* test, CallArgs& args) {
  if (args.positional.empty()) type_error(std::string("test '") + test + "' requires an argument");
  return args.positional[0];
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.kind() == Kind::kInt; }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.kind() == Kind::kFloat; }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.kind() == Kind::kBool; }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.kind() == Kind::kBool && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.kind() == Kind::kBool && !v.as_bool(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
// Jinja's Undefined defines __iter__, __len__, __getitem__ and __call__, so it passes these.
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_list_like() || v.is_dict();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.kind() == Kind::kList || v.kind() == Kind::kTuple || v.is_dict();
}
bool t_callable(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined() || v.is_callable(); }

Value mod_by(Interpreter& interp, const Value& v, const Value& n) { return binary_op(interp, BinOp::kMod, v, n); }
bool t_odd(Interpreter& i, const Value& v, CallArgs&) {
  return equals(mod_by(i, v, Value::integer(2)), Value::integer(1));
}
bool t_even(Interpreter& i, const Value& v, CallArgs&) {
  return equals(mod_by(i, v, Value::integer(2)), Value::integer(0));
}
bool t_divisibleby(Interpreter& i, const Value& v, CallArgs& a) {
  return equals(mod_by(i, v, arg0("divisibleby", a)), Value::integer(0));
}
bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return equals(v, arg0("eq", a)); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !equals(v, arg0("ne", a)); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return compare(v, arg0("lt", a)) < 0; }
bool t_le(Interpreter&, const Value& v, CallArgs& a) { return compare(v, arg0("le", a)) <= 0; }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return compare(v, arg0("gt", a)) > 0; }
bool t_ge(Interpreter&, const Value& v, CallArgs& a) { return compare(v, arg0("ge", a)) >= 0; }
bool t_in(Interpreter&, const Value& v, CallArgs& a) { return contains(arg0("in", a), v); }
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value& o = arg0("sameas", a);
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::kNone:
    case Kind::kUndefined:
      return v.is_none();
    case Kind::kBool:
      return v.as_bool() == o.as_bool();
    case Kind::kInt:  // CPython caches small ints
      return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kIterator:
      return &v.as_list() == &o.as_list();
    case Kind::kDict:
    case Kind::kNamespace:
      return &v.as_dict() == &o.as_dict();
    case Kind::kObject:
      return &v.as_object() == &o.as_object();
    default:
      return false;
  }
}
bool t_lower(Interpreter&, const Value& v, CallArgs&) {
  const std::string s = to_str(v);
  return s == utf8::lower(s) && s != utf8::upper(s);
}
bool t_upper(Interpreter&, const Value& v, CallArgs&) {
  const std::string s = to_str(v);
  return s == utf8::upper(s) && s != utf8::lower(s);
}
bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_filter(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.as_string()) != nullptr; }

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

const TestEntry kTests[] = {
    {"defined", t_defined},
    {"undefined", t_undefined},
    {"none", t_none},
    {"string", t_string},
    {"number", t_number},
    {"integer", t_integer},
    {"float", t_float},
    {"boolean", t_boolean},
    {"true", t_true},
    {"false", t_false},
    {"mapping", t_mapping},
    {"iterable", t_iterable},
    {"sequence", t_sequence},
    {"callable", t_callable},
    {"odd", t_odd},
    {"even", t_even},
    {"divisibleby", t_divisibleby},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"==", t_eq},
    {"ne", t_ne},
    {"!=", t_ne},
    {"lt", t_lt},
    {"lessthan", t_lt},
    {"<", t_lt},
    {"le", t_le},
    {"<=", t_le},
    {"gt", t_gt},
    {"greaterthan", t_gt},
    {">", t_gt},
    {"ge", t_ge},
    {">=", t_ge},
    {"in", t_in},
    {"sameas", t_sameas},
    {"lower", t_lower},
    {"upper", t_upper},
    {"escaped", t_escaped},
    {"filter", t_filter},
    {"test", t_test},
};

// ---- globals -------------------------------------------------------------------------------
Value g_range(Interpreter& interp, CallArgs& args) {
  if (!args.named.empty()) type_error("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) type_error("range expected at most 3 arguments, got " + std::to_string(p.size()));
  std::int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = need_int(p[0], "range() argument");
  } else {
    start = need_int(p[0], "range() argument");
    stop = need_int(p[1], "range() argument");
    if (p.size() == 3) step = need_int(p[2], "range() argument");
  }
  if (step == 0) type_error("range() arg 3 must not be zero");
  const Int128 span = step > 0 ? static_cast<Int128>(stop) - start : static_cast<Int128>(start) - stop;
  const Int128 abs_step = step > 0 ? step : -static_cast<Int128>(step);
  const Int128 n = span <= 0 ? 0 : (span + abs_step - 1) / abs_step;
  if (n > kMaxRange)
    fail(ErrorType::kLimit, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  interp.count_steps(0);
  std::vector<Value> items;
  items.reserve(static_cast<std::size_t>(n));
  for (Int128 i = 0; i < n; ++i) items.push_back(Value::integer(static_cast<std::int64_t>(start + i * step)));
  return Value::list(std::move(items));
}

DictData build_dict(CallArgs& args, const char* fn) {
  DictData d;
  if (args.positional.size() > 1)
    type_error(std::string(fn) + " expected at most 1 argument, got " + std::to_string(args.positional.size()));
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict() || src.kind() == Kind::kNamespace) {
      d = src.as_dict();
    } else {
      for (const auto& pair : iterate(src)) {
        const std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2)
          type_error("dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.named) d.set(Value::string(k), v);
  return d;
}

Value g_dict(Interpreter&, CallArgs& args) { return Value::dict(build_dict(args, "dict")); }

Value g_fromkeys(Interpreter&, CallArgs& args) {
  BoundArgs a("fromkeys", args, {"iterable", "value"});
  a.require("fromkeys", 1);
  DictData d;
  for (const auto& k : iterate(a[0])) d.set(k, a.get(1, Value::none()));
  return Value::dict(std::move(d));
}

// HF's TemplateDict: callable, plus dict.fromkeys.
class DictGlobal final : public Object {
 public:
  std::string type_name() const override { return "TemplateDict"; }
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) const override { return g_dict(interp, args); }
  Value get_attr(std::string_view name) const override {
    if (name == "fromkeys") return Value::object(std::make_shared<BuiltinFunction>("fromkeys", g_fromkeys));
    return Object::get_attr(name);
  }
};

Value g_namespace(Interpreter&, CallArgs& args) {
  DictData d = build_dict(args, "namespace");
  for (const auto& [k, v] : d.entries)
    if (k.is_string() && !k.as_string().empty() && k.as_string()[0] == '_')
      fail(ErrorType::kSecurity,
           "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + k.as_string() +
               "'. Please rename the attribute.");
  return Value::make_namespace(std::move(d));
}

Value g_raise_exception(Interpreter&, CallArgs& args) {
  BoundArgs a("raise_exception", args, {"message"});
  a.require("raise_exception", 1);
  fail(ErrorType::kRaised, to_str(a[0]));
}

Value g_strftime_now(Interpreter&, CallArgs& args) {
  BoundArgs a("strftime_now", args, {"format"});
  a.require("strftime_now", 1);
  const std::string& fmt = need_string(a[0], "format");
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::string buf(fmt.size() * 4 + 64, '\0');
  const std::size_t n = fmt.empty() ? 0 : std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return Value::string(std::move(buf));
}

struct CyclerState {
  std::vector<Value> items;
  std::size_t pos = 0;
};

class CyclerMethod final : public Object {
 public:
  CyclerMethod(std::shared_ptr<CyclerState> s, bool reset) : s_(std::move(s)), reset_(reset) {}
  std::string type_name() const override { return "method"; }
  bool callable() const override { return true; }
  Value call(Interpreter&, CallArgs&) const override {
    if (reset_) {
      s_->pos = 0;
      return Value::none();
    }
    Value v = s_->items[s_->pos];
    s_->pos = (s_->pos + 1) % s_->items.size();
    return v;
  }

 private:
  std::shared_ptr<CyclerState> s_;
  bool reset_;
};

class Cycler final : public Object {
 public:
  explicit Cycler(std::shared_ptr<CyclerState> s) : s_(std::move(s)) {}
  std::string type_name() const override { return "Cycler"; }
  Value get_attr(std::string_view name) const override {
    if (name == "current") return s_->items[s_->pos];
    if (name == "next" || name == "reset") return Value::object(std::make_shared<CyclerMethod>(s_, name == "reset"));
    return Object::get_attr(name);
  }

 private:
  std::shared_ptr<CyclerState> s_;
};

Value g_cycler(Interpreter&, CallArgs& args) {
  if (args.positional.empty()) type_error("at least one item has to be provided");
  auto s = std::make_shared<CyclerState>();
  s->items = args.positional;
  return Value::object(std::make_shared<Cycler>(s));
}

class Joiner final : public Object {
 public:
  explicit Joiner(std::string sep) : sep_(std::move(sep)) {}
  std::string type_name() const override { return "Joiner"; }
  bool callable() const override { return true; }
  Value call(Interpreter&, CallArgs&) const override {
    if (!used_) {
      used_ = true;
      return Value::string("");
    }
    return Value::string(sep_);
  }

 private:
  std::string sep_;
  mutable bool used_ = false;
};

Value g_joiner(Interpreter&, CallArgs& args) {
  BoundArgs a("joiner", args, {"sep"});
  return Value::object(std::make_shared<Joiner>(a.has(0) ? to_str(a[0]) : ", "));
}

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& t : kTests)
    if (t.name == name) return t.fn;
  return nullptr;
}

Value find_global(std::string_view name) {
  static const Value kRange = Value::object(std::make_shared<BuiltinFunction>("range", g_range));
  static const Value kDict = Value::object(std::make_shared<DictGlobal>());
  static const Value kNamespace = Value::object(std::make_shared<BuiltinFunction>("namespace", g_namespace));
  static const Value kRaise = Value::object(std::make_shared<BuiltinFunction>("raise_exception", g_raise_exception));
  static const Value kStrftime = Value::object(std::make_shared<BuiltinFunction>("strftime_now", g_strftime_now));
  static const Value kCycler = Value::object(std::make_shared<BuiltinFunction>("cycler", g_cycler));
  static const Value kJoiner = Value::object(std::make_shared<BuiltinFunction>("joiner", g_joiner));
  if (name == "range") return kRange;
  if (name == "dict") return kDict;
  if (name == "namespace") return kNamespace;
  if (name == "raise_exception") return kRaise;
  if (name == "strftime_now") return kStrftime;
  if (name == "cycler") return kCycler;
  if (name == "joiner") return kJoiner;
  return Value();
}

}  // namespace ferrite::chat
