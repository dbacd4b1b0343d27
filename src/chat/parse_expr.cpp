// Expressions, following Jinja's grammar and precedence: condexpr < or < and < not < compare <
// + - < ~ < * / // % < ** < unary, with filters, tests and calls binding tightest.
#include "chat/builtins.h"
#include "chat/parser_impl.h"

namespace ferrite::chat::detail {

bool Parser::is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
  const Token& t = cur();
  if (t.type == TokenType::kVarEnd || t.type == TokenType::kBlockEnd || (t.type == TokenType::kOp && t.value == ")"))
    return true;
  if (t.type == TokenType::kName)
    for (auto e : extra_end)
      if (t.value == e) return true;
  return false;
}

ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parens,
                            std::initializer_list<std::string_view> extra_end) {
  const Token& at = cur();
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) error("expected an expression, got " + describe(cur()));
  }
  auto e = node(ExprKind::kTuple, at);
  e->children = std::move(items);
  return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  DepthGuard guard(*this);
  if (!with_condexpr) return parse_or();
  ExprPtr expr = parse_or();
  while (is_name("if")) {
    const Token& at = next();
    auto e = node(ExprKind::kCond, at);
    e->children.push_back(parse_or());
    e->children.push_back(std::move(expr));
    e->children.push_back(skip_name("else") ? parse_expression(true) : nullptr);
    expr = std::move(e);
  }
  return expr;
}

ExprPtr Parser::binary(ExprKind kind, const Token& at, ExprPtr l, ExprPtr r) {
  auto e = node(kind, at);
  e->children.push_back(std::move(l));
  e->children.push_back(std::move(r));
  return e;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    const Token& at = next();
    left = binary(ExprKind::kOr, at, std::move(left), parse_and());
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    const Token& at = next();
    left = binary(ExprKind::kAnd, at, std::move(left), parse_not());
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    auto e = node(ExprKind::kNot, next());
    e->children.push_back(parse_not());
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token& at = cur();
  ExprPtr first = parse_math1();
  ExprPtr cmp;
  while (true) {
    CmpOp op;
    if (is_op("=="))
      op = CmpOp::kEq;
    else if (is_op("!="))
      op = CmpOp::kNe;
    else if (is_op("<"))
      op = CmpOp::kLt;
    else if (is_op("<="))
      op = CmpOp::kLe;
    else if (is_op(">"))
      op = CmpOp::kGt;
    else if (is_op(">="))
      op = CmpOp::kGe;
    else if (is_name("in"))
      op = CmpOp::kIn;
    else if (is_name("not") && look().type == TokenType::kName && look().value == "in") {
      next();
      op = CmpOp::kNotIn;
    } else {
      break;
    }
    next();
    if (!cmp) {
      cmp = node(ExprKind::kCompare, at);
      cmp->children.push_back(std::move(first));
    }
    cmp->cmp_ops.push_back(op);
    cmp->children.push_back(parse_math1());
  }
  return cmp ? std::move(cmp) : std::move(first);
}

ExprPtr Parser::arith(const Token& at, BinOp op, ExprPtr l, ExprPtr r) {
  auto e = binary(ExprKind::kBinary, at, std::move(l), std::move(r));
  e->bin_op = op;
  return e;
}

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& at = next();
    left = arith(at, at.value == "+" ? BinOp::kAdd : BinOp::kSub, std::move(left), parse_concat());
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const Token& at = cur();
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto e = node(ExprKind::kConcat, at);
  e->children.push_back(std::move(first));
  while (skip_op("~")) e->children.push_back(parse_math2());
  return e;
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& at = next();
    const BinOp op = at.value == "*"    ? BinOp::kMul
                     : at.value == "/"  ? BinOp::kDiv
                     : at.value == "//" ? BinOp::kFloorDiv
                                        : BinOp::kMod;
    left = arith(at, op, std::move(left), parse_pow());
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    const Token& at = next();
    left = arith(at, BinOp::kPow, std::move(left), parse_unary(true));
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard(*this);
  ExprPtr e;
  if (is_op("-") || is_op("+")) {
    const Token& at = next();
    e = node(at.value == "-" ? ExprKind::kNeg : ExprKind::kPos, at);
    e->children.push_back(parse_unary(false));
  } else {
    e = parse_primary();
  }
  e = parse_postfix(std::move(e));
  if (with_filter) e = parse_filter_expr(std::move(e));
  return e;
}

ExprPtr Parser::parse_primary() {
  const Token& t = cur();
  switch (t.type) {
    case TokenType::kName: {
      next();
      auto e = node(ExprKind::kConst, t);
      if (t.value == "true" || t.value == "True")
        e->value = Value::boolean(true);
      else if (t.value == "false" || t.value == "False")
        e->value = Value::boolean(false);
      else if (t.value == "none" || t.value == "None")
        e->value = Value::none();
      else {
        e->kind = ExprKind::kName;
        e->name = t.value;
        for (Stmt* m : open_macros_) {
          if (t.value == "varargs") m->uses_varargs = true;
          if (t.value == "kwargs") m->uses_kwargs = true;
          if (t.value == "caller") m->uses_caller = true;
        }
      }
      return e;
    }
    case TokenType::kString: {
      std::string s = next().value;
      while (cur().type == TokenType::kString) s += next().value;  // adjacent literals join
      auto e = node(ExprKind::kConst, t);
      e->value = Value::string(std::move(s));
      return e;
    }
    case TokenType::kInt:
    case TokenType::kFloat: {
      next();
      auto e = node(ExprKind::kConst, t);
      e->value = t.type == TokenType::kInt ? Value::integer(t.int_value) : Value::number(t.float_value);
      return e;
    }
    case TokenType::kOp:
      if (t.value == "(") {
        next();
        ExprPtr e = parse_tuple(true, true, {});
        expect_op(")");
        return e;
      }
      if (t.value == "[") return parse_list();
      if (t.value == "{") return parse_dict();
      break;
    default:
      break;
  }
  error("unexpected " + describe(t));
}

ExprPtr Parser::parse_list() {
  auto e = node(ExprKind::kList, next());
  while (!is_op("]")) {
    if (!e->children.empty()) expect_op(",");
    if (is_op("]")) break;
    e->children.push_back(parse_expression(true));
  }
  expect_op("]");
  return e;
}

ExprPtr Parser::parse_dict() {
  auto e = node(ExprKind::kDict, next());
  while (!is_op("}")) {
    if (!e->children.empty()) expect_op(",");
    if (is_op("}")) break;
    e->children.push_back(parse_expression(true));
    expect_op(":");
    e->children.push_back(parse_expression(true));
  }
  expect_op("}");
  return e;
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".")) {
      const Token& at = next();
      if (cur().type == TokenType::kName) {
        auto g = node(ExprKind::kGetAttr, at);
        g->name = next().value;
        g->children.push_back(std::move(e));
        e = std::move(g);
      } else if (cur().type == TokenType::kInt) {
        auto idx = node(ExprKind::kConst, cur());
        idx->value = Value::integer(next().int_value);
        e = binary(ExprKind::kGetItem, at, std::move(e), std::move(idx));
      } else {
        error("expected a name or number after '.'");
      }
    } else if (is_op("[")) {
      const Token& at = next();
      std::vector<ExprPtr> args;
      while (!is_op("]")) {
        if (!args.empty()) expect_op(",");
        args.push_back(parse_subscribed());
      }
      expect_op("]");
      ExprPtr index;
      if (args.size() == 1) {
        index = std::move(args[0]);
      } else {
        index = node(ExprKind::kTuple, at);
        index->children = std::move(args);
      }
      e = binary(ExprKind::kGetItem, at, std::move(e), std::move(index));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscribed() {
  const Token& at = cur();
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression(true);
    if (!is_op(":")) return start;
  }
  next();  // ':'
  auto slice = node(ExprKind::kSlice, at);
  slice->children.push_back(std::move(start));
  slice->children.push_back((is_op(":") || is_op("]") || is_op(",")) ? nullptr : parse_expression(true));
  if (skip_op(":"))
    slice->children.push_back((is_op("]") || is_op(",")) ? nullptr : parse_expression(true));
  else
    slice->children.push_back(nullptr);
  return slice;
}

void Parser::parse_call_args(Expr& call) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) {
      expect_op(",");
      if (is_op(")")) break;
    }
    first = false;
    if (is_op("*") || is_op("**")) error("*args and **kwargs in calls are not supported");
    if (cur().type == TokenType::kName && look().type == TokenType::kOp && look().value == "=") {
      std::string key = next().value;
      next();
      call.kwargs.emplace_back(std::move(key), parse_expression(true));
    } else {
      if (!call.kwargs.empty()) error("positional argument after keyword argument");
      call.children.push_back(parse_expression(true));
    }
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto e = node(ExprKind::kCall, cur());
  e->children.push_back(std::move(callee));
  parse_call_args(*e);
  return e;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  while (true) {
    if (is_op("|")) {
      e = parse_filter_chain(std::move(e), false);
    } else if (is_name("is")) {
      e = parse_test(std::move(e));
    } else if (is_op("(")) {
      e = parse_call(std::move(e));
    } else {
      return e;
    }
  }
}

// `| f(args) | g ...`; with start_inline the first `|` is absent (filter blocks).
ExprPtr Parser::parse_filter_chain(ExprPtr e, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    const Token& at = cur();
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    auto f = node(ExprKind::kFilter, at);
    f->name = name;
    f->filter = find_filter(name);
    if (f->filter == nullptr) error_at(at, "no filter named '" + name + "'");
    f->children.push_back(std::move(e));
    if (is_op("(")) parse_call_args(*f);
    e = std::move(f);
  }
  return e;
}

ExprPtr Parser::parse_test(ExprPtr subject) {
  next();  // 'is'
  const bool negated = skip_name("not");
  const Token& at = cur();
  std::string name = expect_name();
  auto t = node(ExprKind::kTest, at);
  t->name = name;
  t->negated = negated;
  t->test = find_test(name);  // unknown: an error when evaluated, as in Jinja 3.1
  t->children.push_back(std::move(subject));
  const Token& c = cur();
  if (is_op("(")) {
    parse_call_args(*t);
  } else if ((c.type == TokenType::kName || c.type == TokenType::kString || c.type == TokenType::kInt ||
              c.type == TokenType::kFloat || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error("you cannot chain multiple tests with 'is'");
    t->children.push_back(parse_postfix(parse_primary()));
  }
  return t;
}

}  // namespace ferrite::chat::detail
