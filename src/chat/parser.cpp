#include "chat/parser.h"

#include "chat/builtins.h"
#include "chat/parser_impl.h"

namespace ferrite::chat {
namespace detail {

// Parses until `{% <one of end_tags>`; leaves the stream at that tag's name.
Body Parser::subparse(std::initializer_list<std::string_view> end_tags) {
  Body body;
  while (true) {
    const Token& t = cur();
    switch (t.type) {
      case TokenType::kText: {
        auto s = stmt(StmtKind::kText, t);
        s->text = t.value;
        body.push_back(std::move(s));
        next();
        break;
      }
      case TokenType::kVarBegin: {
        auto s = stmt(StmtKind::kPrint, t);
        next();
        s->expr = parse_tuple(true, false, {});
        expect(TokenType::kVarEnd);
        body.push_back(std::move(s));
        break;
      }
      case TokenType::kBlockBegin: {
        next();
        if (cur().type == TokenType::kName)
          for (auto end : end_tags)
            if (cur().value == end) return body;
        body.push_back(parse_statement());
        expect(TokenType::kBlockEnd);
        break;
      }
      case TokenType::kEof: {
        if (end_tags.size() == 0) return body;
        std::string want;
        for (auto end : end_tags) want += (want.empty() ? "'" : " or '") + std::string(end) + "'";
        error_at(
            t, "unexpected end of template: looking for " + want + " to close the '" + open_blocks_.back() + "' block");
      }
      default:
        error_at(t, "unexpected " + describe(t));
    }
  }
}

// `%}` then a body up to one of end_tags; with drop_needle the end tag's name is consumed.
Body Parser::parse_statements(std::initializer_list<std::string_view> end_tags, bool drop_needle) {
  skip_op(":");
  expect(TokenType::kBlockEnd);
  Body body = subparse(end_tags);
  if (drop_needle) next();
  return body;
}

StmtPtr Parser::stmt(StmtKind kind, const Token& at) const {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = at.line;
  s->column = at.column;
  return s;
}

StmtPtr Parser::parse_statement() {
  DepthGuard guard(*this);
  const Token& t = cur();
  if (t.type != TokenType::kName) error("tag name expected");
  const std::string name = t.value;
  open_blocks_.push_back(name);
  StmtPtr s;
  if (name == "for") {
    s = parse_for();
  } else if (name == "if") {
    s = parse_if();
  } else if (name == "set") {
    s = parse_set();
  } else if (name == "macro") {
    s = parse_macro();
  } else if (name == "call") {
    s = parse_call_block();
  } else if (name == "filter") {
    s = parse_filter_block();
  } else if (name == "with") {
    s = parse_with();
  } else if (name == "generation") {
    // HF's AssistantTracker tag: renders its body (it only marks assistant spans for masks).
    s = stmt(StmtKind::kScope, t);
    next();
    s->body = parse_statements({"endgeneration"}, true);
  } else if (name == "break" || name == "continue") {
    if (loop_depth_ == 0) error("'" + name + "' outside of a loop");
    s = stmt(name == "break" ? StmtKind::kBreak : StmtKind::kContinue, t);
    next();
  } else if (name == "block" || name == "extends" || name == "include" || name == "import" || name == "from" ||
             name == "autoescape" || name == "do") {
    error("the '" + name + "' tag is not available in chat templates");
  } else {
    error("encountered unknown tag '" + name + "'");
  }
  open_blocks_.pop_back();
  return s;
}

StmtPtr Parser::parse_for() {
  auto s = stmt(StmtKind::kFor, next());
  s->target = parse_target(true);
  if (!skip_name("in")) error("expected 'in', got " + describe(cur()));
  s->expr = parse_tuple(false, false, {"recursive"});
  if (skip_name("if")) s->cond = parse_expression(true);
  if (is_name("recursive")) error("recursive for loops are not supported");
  ++loop_depth_;
  s->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  if (next().value == "else") s->else_body = parse_statements({"endfor"}, true);
  return s;
}

StmtPtr Parser::parse_if() {
  auto s = stmt(StmtKind::kIf, next());
  ExprPtr cond = parse_tuple(false, false, {});
  Body body = parse_statements({"elif", "else", "endif"}, false);
  s->branches.emplace_back(std::move(cond), std::move(body));
  while (true) {
    const std::string tag = next().value;
    if (tag == "elif") {
      ExprPtr c = parse_tuple(false, false, {});
      Body b = parse_statements({"elif", "else", "endif"}, false);
      s->branches.emplace_back(std::move(c), std::move(b));
    } else if (tag == "else") {
      s->else_body = parse_statements({"endif"}, true);
      break;
    } else {
      break;
    }
  }
  return s;
}

StmtPtr Parser::parse_set() {
  const Token& at = next();
  Target target;
  if (cur().type == TokenType::kName && look().type == TokenType::kOp && look().value == ".") {
    target.kind = Target::Kind::kAttr;
    target.name = next().value;
    next();
    target.attr = expect_name();
  } else {
    target = parse_target(true);
  }
  if (skip_op("=")) {
    auto s = stmt(StmtKind::kSet, at);
    s->target = std::move(target);
    s->expr = parse_tuple(true, false, {});
    return s;
  }
  auto s = stmt(StmtKind::kSetBlock, at);
  s->target = std::move(target);
  s->expr = parse_filter_chain(node(ExprKind::kBlockInput, at), false);
  s->body = parse_statements({"endset"}, true);
  return s;
}

void Parser::parse_signature(std::vector<MacroParam>& params) {
  expect_op("(");
  while (!is_op(")")) {
    if (!params.empty()) expect_op(",");
    MacroParam p;
    p.name = expect_name();
    if (skip_op("=")) p.default_value = parse_expression(true);
    params.push_back(std::move(p));
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro() {
  auto s = stmt(StmtKind::kMacro, next());
  s->text = expect_name();
  parse_signature(s->params);
  const int saved = loop_depth_;
  loop_depth_ = 0;
  open_macros_.push_back(s.get());
  s->body = parse_statements({"endmacro"}, true);
  open_macros_.pop_back();
  loop_depth_ = saved;
  return s;
}

StmtPtr Parser::parse_call_block() {
  auto s = stmt(StmtKind::kCallBlock, next());
  if (is_op("(")) parse_signature(s->params);
  s->expr = parse_expression(true);
  if (s->expr->kind != ExprKind::kCall) error("expected a call after 'call'");
  const int saved = loop_depth_;
  loop_depth_ = 0;
  open_macros_.push_back(s.get());
  s->body = parse_statements({"endcall"}, true);
  open_macros_.pop_back();
  loop_depth_ = saved;
  return s;
}

StmtPtr Parser::parse_filter_block() {
  const Token& at = next();
  auto s = stmt(StmtKind::kFilterBlock, at);
  s->expr = parse_filter_chain(node(ExprKind::kBlockInput, at), true);
  s->body = parse_statements({"endfilter"}, true);
  return s;
}

StmtPtr Parser::parse_with() {
  auto s = stmt(StmtKind::kWith, next());
  while (cur().type != TokenType::kBlockEnd) {
    if (!s->assignments.empty()) expect_op(",");
    Target t = parse_target(false);
    expect_op("=");
    s->assignments.emplace_back(std::move(t), parse_expression(true));
  }
  s->body = parse_statements({"endwith"}, true);
  return s;
}

// Names, or a tuple of names (optionally in parentheses) to unpack into.
Target Parser::parse_target(bool with_tuple) {
  auto one = [&]() -> Target {
    if (skip_op("(")) {
      Target t = parse_target(true);
      expect_op(")");
      return t;
    }
    Target t;
    if (cur().type != TokenType::kName) error("can't assign to " + describe(cur()));
    t.name = next().value;
    return t;
  };
  Target first = one();
  if (!with_tuple || !is_op(",")) return first;
  Target tuple;
  tuple.kind = Target::Kind::kTuple;
  tuple.items.push_back(std::move(first));
  while (skip_op(",")) {
    if (is_name("in") || is_op("=") || is_op(")") || cur().type == TokenType::kBlockEnd) break;
    tuple.items.push_back(one());
  }
  return tuple;
}

}  // namespace detail

std::unique_ptr<Program> parse_template(std::string_view source) { return detail::Parser(tokenize(source)).run(); }

}  // namespace ferrite::chat
