// Python's operators on template values, and Jinja's sandboxed attribute and item lookup
// (a missing key or attribute is undefined; looking into an undefined value is an error).
#pragma once

#include <string>
#include <string_view>

#include "chat/ast.h"
#include "chat/value.h"

namespace ferrite::chat {

class Interpreter;

[[noreturn]] void undefined_error(const Value& undefined);

Value binary_op(Interpreter& interp, BinOp op, const Value& a, const Value& b);
Value negate(const Value& v);
Value get_attr(const Value& obj, std::string_view name);
Value get_item(const Value& obj, const Value& key);
Value slice_value(Interpreter& interp, const Value& obj, const Value& start, const Value& stop, const Value& step);
bool contains(const Value& container, const Value& item);
bool compare_values(CmpOp op, const Value& a, const Value& b);

// Python's printf-style `fmt % args` (args: a tuple, a dict for %(name)s, or one value).
std::string percent_format(const std::string& fmt, const Value& args);
// Python's str.format with positional and keyword arguments.
std::string str_format(const std::string& fmt, const CallArgs& args);

}  // namespace ferrite::chat
