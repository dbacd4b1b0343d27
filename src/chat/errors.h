// The interpreter's internal error. Parser and interpreter throw it; ChatTemplate::compile and
// render catch it at the module boundary and turn it into a Status, so no exception leaves
// the chat module.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace ferrite::chat {

enum class ErrorType {
  kSyntax,     // TemplateSyntaxError: carries line and column
  kUndefined,  // UndefinedError: an undefined value was called, indexed or used in arithmetic
  kType,       // TypeError / ValueError of the Python operation the template asked for
  kSecurity,   // SecurityError: what HF's ImmutableSandboxedEnvironment refuses (list.append, ...)
  kRaised,     // raise_exception() in the template
  kLimit,      // a recursion, iteration or output limit of RenderLimits
};

class TemplateError : public std::exception {
 public:
  TemplateError(ErrorType type, std::string message) : type_(type), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  ErrorType type() const { return type_; }
  const std::string& message() const { return message_; }
  int line() const { return line_; }
  int column() const { return column_; }
  void set_position(int line, int column) {
    line_ = line;
    column_ = column;
  }

 private:
  ErrorType type_;
  std::string message_;
  int line_ = 0;
  int column_ = 0;
};

[[noreturn]] inline void fail(ErrorType type, std::string message) { throw TemplateError(type, std::move(message)); }
[[noreturn]] inline void type_error(std::string message) { fail(ErrorType::kType, std::move(message)); }

}  // namespace ferrite::chat
