// The names a template can reach besides its variables: filters, tests, globals (range, dict,
// namespace, raise_exception, strftime_now, cycler, joiner) and the methods of str, dict and
// list. Each lookup returns null / undefined for names HF's environment does not have.
#pragma once

#include <string_view>

#include "chat/ast.h"
#include "chat/value.h"

namespace ferrite::chat {

FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);
// A global function (range, dict, namespace, ...), or undefined.
Value find_global(std::string_view name);

// `obj.name` for str, dict and list objects: a bound method, an unsafe marker for the
// mutating methods HF's sandbox refuses, or undefined when there is no such method.
Value method_of(const Value& obj, std::string_view name);

}  // namespace ferrite::chat
