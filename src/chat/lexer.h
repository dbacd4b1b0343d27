// Splits template source into tokens the way Jinja's lexer does under HF's environment:
// trim_blocks and lstrip_blocks on, keep_trailing_newline off, newlines normalised to "\n",
// `{%- -%}` / `{{- -}}` / `{#- -#}` whitespace control and `{%+` to opt out of lstrip.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferrite::chat {

enum class TokenType { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  TokenType type = TokenType::kEof;
  std::string value;  // text, name, unescaped string literal or operator
  std::int64_t int_value = 0;
  double float_value = 0.0;
  int line = 1;
  int column = 1;
};

// Throws TemplateError(kSyntax) with the line and column of the offending character.
std::vector<Token> tokenize(std::string_view source);

const char* token_type_name(TokenType t);

}  // namespace ferrite::chat
