// Value: what a template expression evaluates to. It models the Python objects a Jinja template
// sees under Hugging Face's environment (str, int, float, bool, None, list, tuple, dict, Jinja's
// Undefined and Namespace, generators, callables), with Python's semantics for truthiness,
// equality, ordering, str() and repr(). Containers are shared and immutable once built (HF's
// sandbox forbids mutating them); only a Namespace changes in place, through `set ns.x = ...`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferrite::chat {

class Interpreter;
class Value;

enum class Kind : std::uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kIterator,  // a Python generator or iterator (select, map, reverse, ...): truthy, no len()
  kDict,
  kNamespace,
  kObject,  // macros, bound methods, builtins, the loop object
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

// Opaque things with attributes and/or a call operator.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;  // as Python names the type, for messages
  virtual std::string repr() const;
  virtual Value get_attr(std::string_view name) const;
  virtual bool callable() const { return false; }
  virtual Value call(Interpreter& interp, CallArgs& args) const;
};

struct ListData {
  std::vector<Value> items;
  const char* iterator_type = nullptr;  // kIterator only: "generator", "list_reverseiterator"
};

struct DictData;

class Value {
 public:
  Value() : i_(0) {}  // undefined, with the generic message

  static Value undefined(std::string message);
  // An attribute HF's sandbox refuses (list.append): fine to look at, an error to call.
  static Value unsafe(std::string message);
  static Value none();
  static Value boolean(bool b);
  static Value integer(std::int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value iterator(std::vector<Value> items, const char* type_name);
  static Value dict(DictData d);
  static Value dict(std::shared_ptr<const DictData> d);
  static Value make_namespace(DictData d);
  static Value object(std::shared_ptr<const Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  // int, float or bool (bool is an int in Python)
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_integral() const { return kind_ == Kind::kInt || kind_ == Kind::kBool; }
  bool is_list_like() const { return kind_ == Kind::kList || kind_ == Kind::kTuple || kind_ == Kind::kIterator; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_callable() const;

  bool as_bool() const { return b_; }
  std::int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return *static_cast<const std::string*>(ptr_.get()); }
  const std::vector<Value>& as_list() const { return static_cast<const ListData*>(ptr_.get())->items; }
  const char* iterator_type() const { return static_cast<const ListData*>(ptr_.get())->iterator_type; }
  const DictData& as_dict() const { return *static_cast<const DictData*>(ptr_.get()); }
  DictData& namespace_attrs() const;
  const Object& as_object() const { return *static_cast<const Object*>(ptr_.get()); }
  std::shared_ptr<const DictData> dict_ptr() const { return std::static_pointer_cast<const DictData>(ptr_); }

  // For undefined values: what an error says when the value is used.
  std::string undefined_message() const;
  bool is_unsafe() const { return kind_ == Kind::kUndefined && b_; }

 private:
  Kind kind_ = Kind::kUndefined;
  union {
    bool b_;
    std::int64_t i_;
    double f_;
  };
  std::shared_ptr<const void> ptr_;
};

// Insertion-ordered like a Python dict; keys compare with Python equality (1 == 1.0 == True).
struct DictData {
  std::vector<std::pair<Value, Value>> entries;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

// Python semantics.
bool truthy(const Value& v);
bool equals(const Value& a, const Value& b);
// <0, 0, >0; throws a TypeError for types Python cannot order.
int compare(const Value& a, const Value& b);
std::string type_name(const Value& v);
// Jinja's object_type_repr: "dict object", "None", ... for undefined messages.
std::string object_type_repr(const Value& v);
// str(v) (undefined is ""). Containers can share children, so a small value can print as an
// enormous string: printing stops with a kLimit error once `out` passes max_bytes.
constexpr std::size_t kNoLimit = static_cast<std::size_t>(-1);
// While alive, bounds every str()/repr() on this thread (the interpreter sets it for a render,
// so that filters printing values need not pass the limit around).
class PrintLimitScope {
 public:
  explicit PrintLimitScope(std::size_t max_bytes);
  ~PrintLimitScope();
  PrintLimitScope(const PrintLimitScope&) = delete;
  PrintLimitScope& operator=(const PrintLimitScope&) = delete;

 private:
  std::size_t saved_;
};
std::string to_str(const Value& v, std::size_t max_bytes = kNoLimit);
void append_str(std::string& out, const Value& v, std::size_t max_bytes = kNoLimit);
std::string repr(const Value& v, std::size_t max_bytes = kNoLimit);
// Python's len(); throws a TypeError where Python does (generators, numbers).
std::size_t length_of(const Value& v);
// The items a for loop sees: list/tuple items, dict keys, string characters; undefined is empty.
std::vector<Value> iterate(const Value& v);

// Python's float repr ("1.0", "1e+16", "inf") and str repr ('a\n').
std::string float_repr(double f);
std::string string_repr(std::string_view s);

}  // namespace ferrite::chat
