// The syntax tree of a parsed template. Plain data: the parser builds it once per template, the
// interpreter walks it on every render (and never changes it, so renders may run concurrently).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace ferrite::chat {

class Interpreter;

// Filters and tests are looked up when the template is parsed: Jinja rejects unknown names at
// compile time, and the lookup then costs nothing per render.
using FilterFn = Value (*)(Interpreter& interp, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter& interp, const Value& input, CallArgs& args);

enum class ExprKind {
  kConst,
  kName,
  kGetAttr,  // children[0].name
  kGetItem,  // children[0][children[1]]
  kSlice,    // only as the index of kGetItem: children = start, stop, step (each may be null)
  kCall,     // children[0](children[1..], kwargs)
  kFilter,   // children[0] | name(children[1..], kwargs)
  kTest,     // children[0] is [not] name(children[1..], kwargs)
  kNeg,
  kPos,
  kNot,
  kBinary,   // + - * / // % **
  kConcat,   // a ~ b ~ c
  kCompare,  // children[0] op0 children[1] op1 children[2] ... (chained as in Python)
  kAnd,
  kOr,
  kCond,  // children[1] if children[0] else children[2] (may be null)
  kList,
  kTuple,
  kDict,        // children = k0, v0, k1, v1, ...
  kBlockInput,  // the captured body of a filter block or block set, fed to its filter chain
};

enum class BinOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::kConst;
  int line = 0;
  int column = 0;
  Value value;       // kConst
  std::string name;  // kName; kGetAttr attribute; kFilter / kTest name
  BinOp bin_op = BinOp::kAdd;
  std::vector<CmpOp> cmp_ops;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // kTest: `is not`
  FilterFn filter = nullptr;
  TestFn test = nullptr;
};

struct Target {
  enum class Kind { kName, kAttr, kTuple };
  Kind kind = Kind::kName;
  std::string name;           // kName; kAttr: the namespace variable
  std::string attr;           // kAttr
  std::vector<Target> items;  // kTuple
};

enum class StmtKind {
  kText,
  kPrint,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kScope,  // a body with no scope of its own ({% generation %})
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  int column = 0;
  std::string text;  // kText; kMacro: its name
  ExprPtr expr;      // kPrint; kSet value; kFor iterable; kCallBlock call; kFilterBlock/kSetBlock filters
  ExprPtr cond;      // kFor: `if` filter
  Target target;     // kSet, kSetBlock, kFor
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: if / elif conditions and bodies
  Body body;
  Body else_body;                                       // kIf else; kFor else
  std::vector<MacroParam> params;                       // kMacro; kCallBlock: caller's params
  std::vector<std::pair<Target, ExprPtr>> assignments;  // kWith
  // kMacro / kCallBlock: whether the body mentions these names. As in Jinja, a macro accepts
  // extra positional / keyword arguments only when it reads `varargs` / `kwargs`.
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct Program {
  Body body;
};

}  // namespace ferrite::chat
