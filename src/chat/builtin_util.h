// Shared plumbing for filters, tests, globals and methods: Python-style argument binding and
// the callable objects that wrap C++ functions.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "chat/errors.h"
#include "chat/value.h"

namespace ferrite::chat {

// Binds positional and keyword arguments to parameter names as Python does, with a TypeError
// for unknown keywords, duplicates and too many positionals (unless the callee takes *args).
class BoundArgs {
 public:
  BoundArgs(const char* fn, CallArgs& args, std::initializer_list<const char*> params, bool star_args = false) {
    values_.resize(params.size());
    given_.assign(params.size(), false);
    std::size_t i = 0;
    for (auto& v : args.positional) {
      if (i < params.size()) {
        values_[i] = v;
        given_[i] = true;
        ++i;
      } else if (star_args) {
        extra_.push_back(v);
      } else {
        type_error(std::string(fn) + "() takes at most " + std::to_string(params.size()) + " argument(s)");
      }
    }
    for (auto& [k, v] : args.named) {
      std::size_t j = 0;
      for (const char* p : params) {
        if (k == p) break;
        ++j;
      }
      if (j == params.size()) type_error(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
      if (given_[j]) type_error(std::string(fn) + "() got multiple values for argument '" + k + "'");
      values_[j] = v;
      given_[j] = true;
    }
  }

  bool has(std::size_t i) const { return given_[i]; }
  Value get(std::size_t i, Value dflt = Value()) const { return given_[i] ? values_[i] : std::move(dflt); }
  const Value& operator[](std::size_t i) const { return values_[i]; }
  const std::vector<Value>& extra() const { return extra_; }
  void require(const char* fn, std::size_t n) const {
    for (std::size_t i = 0; i < n; ++i)
      if (!given_[i]) type_error(std::string(fn) + "() missing required argument " + std::to_string(i + 1));
  }

 private:
  std::vector<Value> values_;
  std::vector<bool> given_;
  std::vector<Value> extra_;
};

using GlobalFn = Value (*)(Interpreter& interp, CallArgs& args);
using MethodFn = Value (*)(Interpreter& interp, const Value& self, CallArgs& args);

class BuiltinFunction final : public Object {
 public:
  BuiltinFunction(std::string name, GlobalFn fn) : name_(std::move(name)), fn_(fn) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) const override { return fn_(interp, args); }

 private:
  std::string name_;
  GlobalFn fn_;
};

class BoundMethod final : public Object {
 public:
  BoundMethod(Value self, std::string name, MethodFn fn) : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override {
    return "<built-in method " + name_ + " of " + chat::type_name(self_) + " object>";
  }
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) const override { return fn_(interp, self_, args); }

 private:
  Value self_;
  std::string name_;
  MethodFn fn_;
};

inline const std::string& need_string(const Value& v, const char* what) {
  if (!v.is_string()) type_error(std::string(what) + " must be str, not " + type_name(v));
  return v.as_string();
}

inline std::int64_t need_int(const Value& v, const char* what) {
  if (!v.is_integral()) type_error(std::string(what) + " must be an integer, not " + type_name(v));
  return v.as_int();
}

}  // namespace ferrite::chat
