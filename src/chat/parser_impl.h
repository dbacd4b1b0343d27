// The parser's class, shared by parser.cpp (statements) and parse_expr.cpp (expressions).
// Internal to the chat module.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/ast.h"
#include "chat/errors.h"
#include "chat/lexer.h"

namespace ferrite::chat::detail {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  std::unique_ptr<Program> run() {
    auto program = std::make_unique<Program>();
    program->body = subparse({});
    return program;
  }

 private:
  // ---- token helpers -------------------------------------------------------------------------
  const Token& cur() const { return toks_[i_]; }
  const Token& look(std::size_t n = 1) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = toks_[i_];
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  bool is_op(std::string_view op) const { return cur().type == TokenType::kOp && cur().value == op; }
  bool is_name(std::string_view n) const { return cur().type == TokenType::kName && cur().value == n; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::kName:
      case TokenType::kOp:
      case TokenType::kInt:
      case TokenType::kFloat:
        return "'" + t.value + "'";
      case TokenType::kString:
        return "string";
      default:
        return token_type_name(t.type);
    }
  }

  [[noreturn]] void error_at(const Token& t, const std::string& message) const {
    TemplateError e(ErrorType::kSyntax, message);
    e.set_position(t.line, t.column);
    throw e;
  }
  [[noreturn]] void error(const std::string& message) const { error_at(cur(), message); }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) error("expected '" + std::string(op) + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName) error("expected a name, got " + describe(cur()));
    return next().value;
  }
  void expect(TokenType type) {
    if (cur().type != type) error(std::string("expected ") + token_type_name(type) + ", got " + describe(cur()));
    next();
  }

  ExprPtr node(ExprKind kind, const Token& at) const {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  // ---- statements (parser.cpp) ---------------------------------------------------------------
  Body subparse(std::initializer_list<std::string_view> end_tags);
  Body parse_statements(std::initializer_list<std::string_view> end_tags, bool drop_needle);
  StmtPtr stmt(StmtKind kind, const Token& at) const;
  StmtPtr parse_statement();
  StmtPtr parse_for();
  StmtPtr parse_if();
  StmtPtr parse_set();
  void parse_signature(std::vector<MacroParam>& params);
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  Target parse_target(bool with_tuple);

  // ---- expressions (parse_expr.cpp) ----------------------------------------------------------
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const;
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, std::initializer_list<std::string_view> extra_end);
  // Nesting is bounded so that neither this parser nor the interpreter's recursion over the tree
  // can exhaust the stack, whatever the template.
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting) p_.error("template nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };
  static constexpr int kMaxNesting = 200;
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr binary(ExprKind kind, const Token& at, ExprPtr l, ExprPtr r);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr arith(const Token& at, BinOp op, ExprPtr l, ExprPtr r);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscribed();
  void parse_call_args(Expr& call);
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_filter_chain(ExprPtr e, bool start_inline);
  ExprPtr parse_test(ExprPtr subject);

  std::vector<Token> toks_;
  std::size_t i_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
  std::vector<std::string> open_blocks_{"template"};
  std::vector<Stmt*> open_macros_;
};

}  // namespace ferrite::chat::detail
