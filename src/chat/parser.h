// Recursive-descent parser for the Jinja subset, following Jinja's own grammar and operator
// precedence (filters and `is` tests bind tighter than arithmetic; `not x is y` is
// `not (x is y)`; comparisons chain as in Python).
#pragma once

#include <memory>
#include <string_view>

#include "chat/ast.h"

namespace ferrite::chat {

// Throws TemplateError(kSyntax) with line and column.
std::unique_ptr<Program> parse_template(std::string_view source);

}  // namespace ferrite::chat
