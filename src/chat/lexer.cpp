#include "chat/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "chat/errors.h"
#include "chat/utf8.h"

namespace ferrite::chat {
namespace {

bool is_ident_start(unsigned char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
bool is_ident_char(unsigned char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

std::string normalize_newlines(std::string_view source) {
  std::string s;
  s.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s.push_back(source[i]);
    }
  }
  // keep_trailing_newline=False drops one final newline.
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) root();
    Token eof = make(TokenType::kEof, src_.size());
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  Token make(TokenType type, std::size_t offset, std::string value = {}) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const std::size_t line_start = *(it - 1);
    t.line = static_cast<int>(it - line_starts_.begin());
    t.column = static_cast<int>(utf8::length(std::string_view(src_).substr(line_start, offset - line_start))) + 1;
    return t;
  }

  [[noreturn]] void error(std::size_t offset, const std::string& message) {
    Token t = make(TokenType::kEof, offset);
    TemplateError e(ErrorType::kSyntax, message);
    e.set_position(t.line, t.column);
    throw e;
  }

  bool starts_with(std::size_t at, std::string_view s) const { return src_.compare(at, s.size(), s) == 0; }

  std::size_t skip_spaces(std::size_t at) const {
    return at + utf8::leading_space_bytes(std::string_view(src_).substr(at));
  }

  void emit_text(std::size_t offset, std::string text) {
    if (!text.empty()) out_.push_back(make(TokenType::kText, offset, std::move(text)));
  }

  // Applies `-` (strip all whitespace before the tag) or lstrip_blocks (strip spaces between the
  // start of the line and a block or comment tag) to the text before a tag.
  void strip_before_tag(std::string& text, char sign, bool is_variable) const {
    if (sign == '-') {
      text.resize(text.size() - utf8::trailing_space_bytes(text));
    } else if (sign != '+' && !is_variable) {
      const std::size_t nl = text.rfind('\n');
      const std::size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size() &&
          utf8::leading_space_bytes(std::string_view(text).substr(l_pos)) == text.size() - l_pos)
        text.resize(l_pos);
    }
  }

  // Consumes a tag end found at `at`: `-` strips all following whitespace, `+` nothing, and
  // plain ends of block and comment tags drop one newline (trim_blocks).
  void finish_tag(std::size_t at, std::size_t len, char sign, bool trim_newline) {
    std::size_t end = at + len;
    if (sign == '-') {
      end = skip_spaces(end);
    } else if (sign == 0 && trim_newline && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void root() {
    std::size_t idx = pos_;
    while (true) {
      idx = src_.find('{', idx);
      if (idx == std::string::npos || idx + 1 >= src_.size()) {
        emit_text(pos_, src_.substr(pos_));
        pos_ = src_.size();
        return;
      }
      const char k = src_[idx + 1];
      if (k == '{' || k == '%' || k == '#') break;
      ++idx;
    }
    const char kind = src_[idx + 1];
    std::size_t after = idx + 2;
    char sign = 0;
    if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
    std::string text = src_.substr(pos_, idx - pos_);
    strip_before_tag(text, sign, kind == '{');
    emit_text(pos_, std::move(text));

    if (kind == '#') return comment(idx, after);
    if (kind == '%' && try_raw(idx, after)) return;
    out_.push_back(make(kind == '{' ? TokenType::kVarBegin : TokenType::kBlockBegin, idx));
    line_starting_ = false;
    pos_ = after;
    tag(kind == '%', idx);
  }

  void comment(std::size_t begin, std::size_t after) {
    std::size_t q = src_.find("#}", after);
    if (q == std::string::npos) error(begin, "missing end of comment tag");
    if (q > after && (src_[q - 1] == '-' || src_[q - 1] == '+')) return finish_tag(q - 1, 3, src_[q - 1], true);
    finish_tag(q, 2, 0, true);
  }

  // `{% raw %}...{% endraw %}`: the body is text, tags and all.
  bool try_raw(std::size_t begin, std::size_t after) {
    std::size_t p = skip_spaces(after);
    if (!starts_with(p, "raw") || (p + 3 < src_.size() && is_ident_char(static_cast<unsigned char>(src_[p + 3]))))
      return false;
    p = skip_spaces(p + 3);
    if (starts_with(p, "-%}")) {
      p = skip_spaces(p + 3);
    } else if (starts_with(p, "%}")) {
      p += 2;
    } else {
      return false;
    }
    std::size_t search = p;
    while (true) {
      const std::size_t open = src_.find("{%", search);
      if (open == std::string::npos) error(begin, "missing end of raw directive");
      std::size_t q = open + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = skip_spaces(q);
      if (!starts_with(q, "endraw")) {
        search = open + 2;
        continue;
      }
      q = skip_spaces(q + 6);
      char end_sign = 0;
      if (starts_with(q, "-%}") || starts_with(q, "+%}")) end_sign = src_[q++];
      if (!starts_with(q, "%}")) {
        search = open + 2;
        continue;
      }
      line_starting_ = false;
      std::string body = src_.substr(p, open - p);
      strip_before_tag(body, sign, false);
      emit_text(p, std::move(body));
      finish_tag(q, 2, end_sign, true);
      return true;
    }
  }

  void tag(bool is_block, std::size_t begin) {
    std::vector<char> stack;
    while (true) {
      pos_ = skip_spaces(pos_);
      if (pos_ >= src_.size())
        error(begin,
              is_block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
      if (stack.empty()) {
        const char* end = is_block ? "%}" : "}}";
        if (src_[pos_] == '-' && starts_with(pos_ + 1, end)) {
          out_.push_back(make(is_block ? TokenType::kBlockEnd : TokenType::kVarEnd, pos_));
          return finish_tag(pos_, 3, '-', is_block);
        }
        if (is_block && src_[pos_] == '+' && starts_with(pos_ + 1, end)) {
          out_.push_back(make(TokenType::kBlockEnd, pos_));
          return finish_tag(pos_, 3, '+', true);
        }
        if (starts_with(pos_, end)) {
          out_.push_back(make(is_block ? TokenType::kBlockEnd : TokenType::kVarEnd, pos_));
          return finish_tag(pos_, 2, 0, is_block);
        }
      }
      const auto c = static_cast<unsigned char>(src_[pos_]);
      if (is_digit(c)) {
        number();
      } else if (is_ident_start(c)) {
        std::size_t e = pos_ + 1;
        while (e < src_.size() && is_ident_char(static_cast<unsigned char>(src_[e]))) ++e;
        out_.push_back(make(TokenType::kName, pos_, src_.substr(pos_, e - pos_)));
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        string_literal();
      } else {
        op(stack);
      }
    }
  }

  void number() {
    const std::size_t start = pos_;
    auto digits = [&](std::size_t at) {
      std::size_t e = at;
      while (e < src_.size() &&
             (is_digit(static_cast<unsigned char>(src_[e])) ||
              (src_[e] == '_' && e > at && e + 1 < src_.size() && is_digit(static_cast<unsigned char>(src_[e + 1])))))
        ++e;
      return e;
    };
    std::size_t e = digits(pos_);
    bool is_float = false;
    const bool after_dot = start > 0 && src_[start - 1] == '.';  // `x.0.1` is two subscripts
    if (!after_dot && e + 1 < src_.size() && src_[e] == '.' && is_digit(static_cast<unsigned char>(src_[e + 1]))) {
      e = digits(e + 1);
      is_float = true;
    }
    if (!after_dot && e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      std::size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && is_digit(static_cast<unsigned char>(src_[x]))) {
        e = digits(x);
        is_float = true;
      }
    }
    std::string text;
    for (std::size_t i = start; i < e; ++i)
      if (src_[i] != '_') text.push_back(src_[i]);
    Token t = make(is_float ? TokenType::kFloat : TokenType::kInt, start, text);
    if (is_float) {
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      errno = 0;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) error(start, "integer literal too large");
    }
    out_.push_back(std::move(t));
    pos_ = e;
  }

  void string_literal() {
    const std::size_t start = pos_;
    const char quote = src_[pos_];
    std::string raw;
    std::size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) error(start, "unterminated string literal");
      if (src_[i] == '\\' && i + 1 < src_.size()) {
        raw.push_back(src_[i]);
        raw.push_back(src_[i + 1]);
        i += 2;
        continue;
      }
      if (src_[i] == quote) break;
      raw.push_back(src_[i++]);
    }
    out_.push_back(make(TokenType::kString, start, unescape(raw, start)));
    pos_ = i + 1;
  }

  // Python's "unicode-escape" decoding, which Jinja applies to string literals.
  std::string unescape(const std::string& raw, std::size_t at) {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\' || i + 1 >= raw.size()) {
        out.push_back(raw[i]);
        continue;
      }
      const char c = raw[++i];
      auto hex = [&](int n) -> char32_t {
        if (i + static_cast<std::size_t>(n) >= raw.size()) error(at, "truncated escape in string literal");
        char32_t v = 0;
        for (int k = 1; k <= n; ++k) {
          const char h = raw[i + static_cast<std::size_t>(k)];
          v <<= 4;
          if (h >= '0' && h <= '9')
            v |= static_cast<char32_t>(h - '0');
          else if (h >= 'a' && h <= 'f')
            v |= static_cast<char32_t>(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F')
            v |= static_cast<char32_t>(h - 'A' + 10);
          else
            error(at, "bad escape in string literal");
        }
        i += static_cast<std::size_t>(n);
        return v;
      };
      switch (c) {
        case '\n':
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
          utf8::append(out, hex(2));
          break;
        case 'u':
          utf8::append(out, hex(4));
          break;
        case 'U':
          utf8::append(out, hex(8));
          break;
        default:
          if (c >= '0' && c <= '7') {
            char32_t v = static_cast<char32_t>(c - '0');
            for (int k = 0; k < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7'; ++k)
              v = v * 8 + static_cast<char32_t>(raw[++i] - '0');
            utf8::append(out, v);
          } else {
            out.push_back('\\');
            out.push_back(c);
          }
      }
    }
    return out;
  }

  void op(std::vector<char>& stack) {
    static const char* kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* two : kTwo) {
      if (starts_with(pos_, two)) {
        out_.push_back(make(TokenType::kOp, pos_, two));
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    static const std::string kSingle = "+-/*%~[](){}><=.:|,;";
    if (kSingle.find(c) == std::string::npos) {
      std::string ch = src_.substr(pos_, 1);
      error(pos_, "unexpected char '" + ch + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      stack.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (stack.empty()) error(pos_, std::string("unexpected '") + c + "'");
      if (stack.back() != c) error(pos_, std::string("unexpected '") + c + "', expected '" + stack.back() + "'");
      stack.pop_back();
    }
    out_.push_back(make(TokenType::kOp, pos_, std::string(1, c)));
    ++pos_;
  }

  std::string src_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<std::size_t> line_starts_;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

const char* token_type_name(TokenType t) {
  switch (t) {
    case TokenType::kText:
      return "template data";
    case TokenType::kVarBegin:
      return "begin of print statement";
    case TokenType::kVarEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kName:
      return "name";
    case TokenType::kString:
      return "string";
    case TokenType::kInt:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kOp:
      return "operator";
    case TokenType::kEof:
      return "end of template";
  }
  return "token";
}

}  // namespace ferrite::chat
