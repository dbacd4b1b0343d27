// Walks a parsed template and renders it. Scoping follows Jinja: each for-loop iteration, macro
// call, block set, filter block and `with` gets a fresh scope whose lookups fall through to the
// enclosing one; `if` has no scope of its own; macros see their defining scope as it is when
// they are called. Every loop iteration and macro call is counted against RenderLimits, and
// every write to the output is checked against its size limit, so no template can hang a server
// or exhaust its memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/ast.h"
#include "chat/render_limits.h"
#include "chat/value.h"

namespace ferrite::chat {

class Frame {
 public:
  explicit Frame(std::shared_ptr<Frame> parent) : parent_(std::move(parent)) {}
  const Value* lookup(std::string_view name) const;
  void set(std::string_view name, Value value);

 private:
  std::shared_ptr<Frame> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : limits_(limits) {}

  // `context` is a dict of the template's variables. Throws TemplateError.
  std::string render(const Program& program, const Value& context);

  // For builtins, filters and callables.
  Value call(const Value& callee, CallArgs& args);
  Value call_macro(const Stmt& def, const std::shared_ptr<Frame>& closure, CallArgs& args, const Value& caller);
  const RenderLimits& limits() const { return limits_; }
  void count_steps(std::uint64_t n);
  // Throws kLimit when a string or list about to be built would pass the limits.
  void check_string_size(std::size_t bytes) const;
  void check_items(std::size_t items) const;

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec(const Body& body, const std::shared_ptr<Frame>& frame);
  Flow exec_stmt(const Stmt& s, const std::shared_ptr<Frame>& frame);
  Flow exec_for(const Stmt& s, const std::shared_ptr<Frame>& frame);
  void exec_call_block(const Stmt& s, const std::shared_ptr<Frame>& frame);
  std::string capture(const Body& body, const std::shared_ptr<Frame>& frame);
  void assign(const Target& target, const Value& value, Frame& frame);
  void write(std::string_view text);
  void write(const Value& v);

  Value eval(const Expr& e, Frame& frame);
  Value eval_compare(const Expr& e, Frame& frame);
  void eval_args(const Expr& e, std::size_t first, Frame& frame, CallArgs& args);

  const RenderLimits& limits_;
  std::string* out_ = nullptr;
  std::uint64_t steps_ = 0;
  int call_depth_ = 0;
  Value block_input_;
};

}  // namespace ferrite::chat
