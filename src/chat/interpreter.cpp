#include "chat/interpreter.h"

#include "chat/builtins.h"
#include "chat/errors.h"
#include "chat/operators.h"

namespace ferrite::chat {
namespace {

// The `loop` variable of a for loop. One state per loop, advanced in place each iteration.
struct LoopState {
  std::vector<Value> items;
  std::size_t index0 = 0;
  bool has_last_changed = false;
  Value last_changed;
};

class LoopObject final : public Object {
 public:
  explicit LoopObject(std::shared_ptr<LoopState> s) : s_(std::move(s)) {}
  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override {
    return "<LoopContext " + std::to_string(s_->index0 + 1) + "/" + std::to_string(s_->items.size()) + ">";
  }
  Value get_attr(std::string_view name) const override {
    const auto n = static_cast<std::int64_t>(s_->items.size());
    const auto i = static_cast<std::int64_t>(s_->index0);
    if (name == "index") return Value::integer(i + 1);
    if (name == "index0") return Value::integer(i);
    if (name == "revindex") return Value::integer(n - i);
    if (name == "revindex0") return Value::integer(n - i - 1);
    if (name == "first") return Value::boolean(i == 0);
    if (name == "last") return Value::boolean(i == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(1);
    if (name == "depth0") return Value::integer(0);
    if (name == "previtem") {
      if (i == 0) return Value::undefined("there is no previous item");
      return s_->items[static_cast<std::size_t>(i - 1)];
    }
    if (name == "nextitem") {
      if (i + 1 >= n) return Value::undefined("there is no next item");
      return s_->items[static_cast<std::size_t>(i + 1)];
    }
    if (name == "cycle" || name == "changed") return Value::object(std::make_shared<LoopMethod>(s_, std::string(name)));
    return Object::get_attr(name);
  }

 private:
  class LoopMethod final : public Object {
   public:
    LoopMethod(std::shared_ptr<LoopState> s, std::string name) : s_(std::move(s)), name_(std::move(name)) {}
    std::string type_name() const override { return "method"; }
    bool callable() const override { return true; }
    Value call(Interpreter&, CallArgs& args) const override {
      if (name_ == "cycle") {
        if (args.positional.empty()) type_error("no items for cycling given");
        return args.positional[s_->index0 % args.positional.size()];
      }
      // changed(*values): true when the values differ from the previous call's.
      Value current = Value::tuple(args.positional);
      if (s_->has_last_changed && equals(current, s_->last_changed)) return Value::boolean(false);
      s_->has_last_changed = true;
      s_->last_changed = std::move(current);
      return Value::boolean(true);
    }

   private:
    std::shared_ptr<LoopState> s_;
    std::string name_;
  };

  std::shared_ptr<LoopState> s_;
};

class MacroObject final : public Object {
 public:
  MacroObject(const Stmt* def, std::shared_ptr<Frame> closure) : def_(def), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override {
    return "<Macro '" + (def_->kind == StmtKind::kMacro ? def_->text : std::string("caller")) + "'>";
  }
  bool callable() const override { return true; }
  Value get_attr(std::string_view name) const override {
    if (name == "name") return Value::string(def_->kind == StmtKind::kMacro ? def_->text : "caller");
    return Object::get_attr(name);
  }
  Value call(Interpreter& interp, CallArgs& args) const override {
    Value caller;
    for (auto it = args.named.begin(); it != args.named.end(); ++it) {
      if (it->first == "caller" && def_->uses_caller) {
        caller = it->second;
        args.named.erase(it);
        break;
      }
    }
    return interp.call_macro(*def_, closure_, args, caller);
  }

 private:
  const Stmt* def_;
  std::shared_ptr<Frame> closure_;
};

class OutputRedirect {
 public:
  OutputRedirect(std::string*& out, std::string* to) : out_(out), saved_(out) { out_ = to; }
  ~OutputRedirect() { out_ = saved_; }

 private:
  std::string*& out_;
  std::string* saved_;
};

}  // namespace

const Value* Frame::lookup(std::string_view name) const {
  for (const Frame* f = this; f != nullptr; f = f->parent_.get())
    for (const auto& [k, v] : f->vars_)
      if (k == name) return &v;
  return nullptr;
}

void Frame::set(std::string_view name, Value value) {
  for (auto& [k, v] : vars_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars_.emplace_back(std::string(name), std::move(value));
}

std::string Interpreter::render(const Program& program, const Value& context) {
  auto root = std::make_shared<Frame>(nullptr);
  if (context.is_dict())
    for (const auto& [k, v] : context.as_dict().entries)
      if (k.is_string()) root->set(k.as_string(), v);
  std::string out;
  out_ = &out;
  PrintLimitScope print_limit(limits_.max_output_bytes);
  exec(program.body, root);
  out_ = nullptr;
  return out;
}

void Interpreter::count_steps(std::uint64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps)
    fail(ErrorType::kLimit,
         "render step limit exceeded (" + std::to_string(limits_.max_steps) + " loop iterations and macro calls)");
}

void Interpreter::check_string_size(std::size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    fail(ErrorType::kLimit, "string size limit exceeded (" + std::to_string(limits_.max_output_bytes) + " bytes)");
}

void Interpreter::check_items(std::size_t items) const {
  if (items > limits_.max_items)
    fail(ErrorType::kLimit, "list size limit exceeded (" + std::to_string(limits_.max_items) + " items)");
}

void Interpreter::write(std::string_view text) {
  out_->append(text);
  check_string_size(out_->size());
}

void Interpreter::write(const Value& v) {
  append_str(*out_, v, limits_.max_output_bytes);
  check_string_size(out_->size());
}

Interpreter::Flow Interpreter::exec(const Body& body, const std::shared_ptr<Frame>& frame) {
  for (const auto& s : body) {
    const Flow f = exec_stmt(*s, frame);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

std::string Interpreter::capture(const Body& body, const std::shared_ptr<Frame>& frame) {
  std::string captured;
  OutputRedirect redirect(out_, &captured);
  exec(body, frame);
  return captured;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, const std::shared_ptr<Frame>& frame) {
  try {
    switch (s.kind) {
      case StmtKind::kText:
        write(s.text);
        return Flow::kNormal;
      case StmtKind::kPrint:
        write(eval(*s.expr, *frame));
        return Flow::kNormal;
      case StmtKind::kIf:
        for (const auto& [cond, body] : s.branches)
          if (truthy(eval(*cond, *frame))) return exec(body, frame);
        return exec(s.else_body, frame);
      case StmtKind::kFor:
        return exec_for(s, frame);
      case StmtKind::kSet:
        assign(s.target, eval(*s.expr, *frame), *frame);
        return Flow::kNormal;
      case StmtKind::kSetBlock: {
        block_input_ = Value::string(capture(s.body, std::make_shared<Frame>(frame)));
        assign(s.target, eval(*s.expr, *frame), *frame);
        return Flow::kNormal;
      }
      case StmtKind::kMacro:
        frame->set(s.text, Value::object(std::make_shared<MacroObject>(&s, frame)));
        return Flow::kNormal;
      case StmtKind::kCallBlock:
        exec_call_block(s, frame);
        return Flow::kNormal;
      case StmtKind::kFilterBlock: {
        block_input_ = Value::string(capture(s.body, std::make_shared<Frame>(frame)));
        write(eval(*s.expr, *frame));
        return Flow::kNormal;
      }
      case StmtKind::kWith: {
        auto inner = std::make_shared<Frame>(frame);
        for (const auto& [target, value] : s.assignments) assign(target, eval(*value, *frame), *inner);
        return exec(s.body, inner);
      }
      case StmtKind::kBreak:
        return Flow::kBreak;
      case StmtKind::kContinue:
        return Flow::kContinue;
      case StmtKind::kScope:
        return exec(s.body, std::make_shared<Frame>(frame));
    }
  } catch (TemplateError& e) {
    if (e.line() == 0) e.set_position(s.line, s.column);
    throw;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const std::shared_ptr<Frame>& frame) {
  auto state = std::make_shared<LoopState>();
  std::vector<Value> all = iterate(eval(*s.expr, *frame));
  if (s.cond) {
    // `for x in xs if cond`: filter first, so loop.index and loop.length count kept items only.
    for (auto& item : all) {
      count_steps(1);
      Frame probe(frame);
      assign(s.target, item, probe);
      if (truthy(eval(*s.cond, probe))) state->items.push_back(std::move(item));
    }
  } else {
    state->items = std::move(all);
  }
  if (state->items.empty()) return exec(s.else_body, std::make_shared<Frame>(frame));
  const Value loop = Value::object(std::make_shared<LoopObject>(state));
  for (std::size_t i = 0; i < state->items.size(); ++i) {
    count_steps(1);
    state->index0 = i;
    auto inner = std::make_shared<Frame>(frame);
    assign(s.target, state->items[i], *inner);
    inner->set("loop", loop);
    if (exec(s.body, inner) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::exec_call_block(const Stmt& s, const std::shared_ptr<Frame>& frame) {
  const Expr& call = *s.expr;
  Value callee = eval(*call.children[0], *frame);
  CallArgs args;
  eval_args(call, 1, *frame, args);
  args.named.emplace_back("caller", Value::object(std::make_shared<MacroObject>(&s, frame)));
  write(this->call(callee, args));
}

void Interpreter::assign(const Target& target, const Value& value, Frame& frame) {
  switch (target.kind) {
    case Target::Kind::kName:
      frame.set(target.name, value);
      return;
    case Target::Kind::kTuple: {
      const std::vector<Value> items = iterate(value);
      if (items.size() < target.items.size())
        type_error("not enough values to unpack (expected " + std::to_string(target.items.size()) + ", got " +
                   std::to_string(items.size()) + ")");
      if (items.size() > target.items.size())
        type_error("too many values to unpack (expected " + std::to_string(target.items.size()) + ")");
      for (std::size_t i = 0; i < items.size(); ++i) assign(target.items[i], items[i], frame);
      return;
    }
    case Target::Kind::kAttr: {
      const Value* ns = frame.lookup(target.name);
      if (ns == nullptr || ns->kind() != Kind::kNamespace)
        type_error("cannot assign attribute on non-namespace object");
      if (!target.attr.empty() && target.attr[0] == '_')
        fail(ErrorType::kSecurity,
             "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + target.attr +
                 "'. Please rename the attribute.");
      ns->namespace_attrs().set(Value::string(target.attr), value);
      return;
    }
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) undefined_error(callee);
  if (!callee.is_callable()) type_error("'" + type_name(callee) + "' object is not callable");
  return callee.as_object().call(*this, args);
}

Value Interpreter::call_macro(const Stmt& def, const std::shared_ptr<Frame>& closure, CallArgs& args,
                              const Value& caller) {
  count_steps(1);
  if (call_depth_ >= limits_.max_call_depth)
    fail(ErrorType::kLimit, "macro recursion limit exceeded (depth " + std::to_string(limits_.max_call_depth) + ")");
  const std::string name = def.kind == StmtKind::kMacro ? def.text : "caller";
  auto frame = std::make_shared<Frame>(closure);
  const auto& params = def.params;
  std::vector<bool> bound(params.size(), false);
  std::vector<Value> extra_positional;
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    if (i < params.size()) {
      frame->set(params[i].name, args.positional[i]);
      bound[i] = true;
    } else {
      extra_positional.push_back(args.positional[i]);
    }
  }
  if (!extra_positional.empty() && !def.uses_varargs)
    type_error("macro '" + name + "' takes not more than " + std::to_string(params.size()) + " argument(s)");
  DictData extra_named;
  for (auto& [key, value] : args.named) {
    bool found = false;
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i].name == key) {
        if (bound[i]) type_error("macro '" + name + "' got multiple values for argument '" + key + "'");
        frame->set(key, value);
        bound[i] = found = true;
        break;
      }
    }
    if (!found) {
      if (!def.uses_kwargs) type_error("macro '" + name + "' takes no keyword argument '" + key + "'");
      extra_named.set(Value::string(key), value);
    }
  }
  ++call_depth_;
  struct DepthRestore {
    int& d;
    ~DepthRestore() { --d; }
  } restore{call_depth_};
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (bound[i]) continue;
    if (params[i].default_value) {
      frame->set(params[i].name, eval(*params[i].default_value, *frame));
    } else {
      frame->set(params[i].name, Value::undefined("parameter '" + params[i].name + "' was not provided"));
    }
  }
  if (def.uses_varargs) frame->set("varargs", Value::tuple(std::move(extra_positional)));
  if (def.uses_kwargs) frame->set("kwargs", Value::dict(std::move(extra_named)));
  if (def.uses_caller && def.kind == StmtKind::kMacro) {
    frame->set("caller", caller.is_undefined() ? Value::undefined("No caller defined") : caller);
  }
  return Value::string(capture(def.body, frame));
}

void Interpreter::eval_args(const Expr& e, std::size_t first, Frame& frame, CallArgs& args) {
  args.positional.reserve(e.children.size() - first);
  for (std::size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i], frame));
  for (const auto& [k, v] : e.kwargs) args.named.emplace_back(k, eval(*v, frame));
}

Value Interpreter::eval_compare(const Expr& e, Frame& frame) {
  Value left = eval(*e.children[0], frame);
  for (std::size_t i = 0; i < e.cmp_ops.size(); ++i) {
    Value right = eval(*e.children[i + 1], frame);
    if (!compare_values(e.cmp_ops[i], left, right)) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval(const Expr& e, Frame& frame) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName: {
      if (const Value* v = frame.lookup(e.name)) return *v;
      Value g = find_global(e.name);
      if (!g.is_undefined()) return g;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::kGetAttr:
      return get_attr(eval(*e.children[0], frame), e.name);
    case ExprKind::kGetItem: {
      Value obj = eval(*e.children[0], frame);
      const Expr& idx = *e.children[1];
      if (idx.kind == ExprKind::kSlice) {
        auto part = [&](std::size_t i) { return idx.children[i] ? eval(*idx.children[i], frame) : Value::none(); };
        return slice_value(*this, obj, part(0), part(1), part(2));
      }
      return get_item(obj, eval(idx, frame));
    }
    case ExprKind::kSlice:
      type_error("slice outside of a subscript");
    case ExprKind::kCall: {
      Value callee = eval(*e.children[0], frame);
      CallArgs args;
      eval_args(e, 1, frame, args);
      return call(callee, args);
    }
    case ExprKind::kFilter: {
      Value input = eval(*e.children[0], frame);
      CallArgs args;
      eval_args(e, 1, frame, args);
      return e.filter(*this, input, args);
    }
    case ExprKind::kTest: {
      if (e.test == nullptr) type_error("No test named '" + e.name + "' found.");
      Value subject = eval(*e.children[0], frame);
      CallArgs args;
      eval_args(e, 1, frame, args);
      return Value::boolean(e.test(*this, subject, args) != e.negated);
    }
    case ExprKind::kNeg:
      return negate(eval(*e.children[0], frame));
    case ExprKind::kPos: {
      Value v = eval(*e.children[0], frame);
      if (v.is_undefined()) undefined_error(v);
      if (!v.is_number()) type_error("bad operand type for unary +: '" + type_name(v) + "'");
      return v.kind() == Kind::kBool ? Value::integer(v.as_int()) : v;
    }
    case ExprKind::kNot:
      return Value::boolean(!truthy(eval(*e.children[0], frame)));
    case ExprKind::kBinary:
      return binary_op(*this, e.bin_op, eval(*e.children[0], frame), eval(*e.children[1], frame));
    case ExprKind::kConcat: {
      std::string s;
      for (const auto& c : e.children) {
        append_str(s, eval(*c, frame), limits_.max_output_bytes);
        check_string_size(s.size());
      }
      return Value::string(std::move(s));
    }
    case ExprKind::kCompare:
      return eval_compare(e, frame);
    case ExprKind::kAnd: {
      Value left = eval(*e.children[0], frame);
      return truthy(left) ? eval(*e.children[1], frame) : left;
    }
    case ExprKind::kOr: {
      Value left = eval(*e.children[0], frame);
      return truthy(left) ? left : eval(*e.children[1], frame);
    }
    case ExprKind::kCond:
      if (truthy(eval(*e.children[0], frame))) return eval(*e.children[1], frame);
      if (e.children[2]) return eval(*e.children[2], frame);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.children.size());
      for (const auto& c : e.children) items.push_back(eval(*c, frame));
      return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      DictData d;
      for (std::size_t i = 0; i + 1 < e.children.size(); i += 2) {
        Value k = eval(*e.children[i], frame);
        if (k.kind() >= Kind::kList && k.kind() != Kind::kTuple) type_error("unhashable type: '" + type_name(k) + "'");
        d.set(std::move(k), eval(*e.children[i + 1], frame));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::kBlockInput:
      return block_input_;
  }
  return Value();
}

}  // namespace ferrite::chat
