// UTF-8 helpers and the Unicode character classes the Hugging Face pipeline relies on. Each
// predicate names the Rust function (or regex class) whose behaviour it reproduces, because
// matching `tokenizers` byte for byte means matching those exact definitions.
#pragma once

#include "base/utf8.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferrite::tokenizer::unicode {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Length of the sequence a lead byte starts (1 for ASCII and for invalid lead bytes).
inline std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes the code point at s[i] and advances i. `s` must be valid UTF-8.
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  const std::size_t n = sequence_length(b0);
  char32_t cp = b0 & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

// Decodes the code point that ends at s[end) (end > 0); `s` must be valid UTF-8.
inline char32_t previous_code_point(std::string_view s, std::size_t end, std::size_t* start = nullptr) {
  std::size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
  if (start != nullptr) *start = b;
  std::size_t i = b;
  return next_code_point(s, i);
}

using base::append_utf8;

inline bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// Strict UTF-8 validation (no surrogates, no overlongs, <= U+10FFFF). On failure returns false
// and stores the byte offset of the first bad sequence in *error_offset.
bool is_valid_utf8(std::string_view s, std::size_t* error_offset = nullptr);

// Rust's String::from_utf8_lossy: every maximal invalid subpart becomes one U+FFFD (the
// Unicode "best practice" that Python's errors="replace" also follows).
std::string from_utf8_lossy(std::string_view bytes);
void append_utf8_lossy(std::string& out, std::string_view bytes);

// Rust char::is_whitespace: the Unicode White_Space property (also Rust regex's \s).
bool is_whitespace(char32_t c);
// Rust regex \w in Unicode mode: Alphabetic, marks, Nd, Pc and Join_Control.
bool is_word_char(char32_t c);
// Rust char::is_numeric: general categories Nd, Nl and No.
bool is_numeric(char32_t c);
// tokenizers' is_punc: ASCII punctuation (which includes ASCII symbols such as '$') or any P*.
bool is_punctuation(char32_t c);
// Mark (Mn) removed by StripAccents.
bool is_nonspacing_mark(char32_t c);

// Per-character full lowercase mapping, as Rust's char::to_lowercase applied to each char
// (no context-sensitive rules such as the final sigma).
void append_lowercase(std::string& out, std::string_view s);

enum class NormalizationForm { kNFC, kNFD, kNFKC, kNFKD };
// Normalizes valid UTF-8 `in` into `out` (replacing its contents).
void normalize(NormalizationForm form, std::string_view in, std::string& out);

}  // namespace ferrite::tokenizer::unicode
