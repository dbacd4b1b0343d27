#include "chat/utf8.h"

#include "base/utf8.h"

#include <locale.h>
#include <wctype.h>

namespace ferrite::chat::utf8 {
namespace {

// Non-ASCII classification and case mapping come from glibc's C.UTF-8 tables through a locale
// object of our own (never the global locale, which other threads may use). Without it, only
// ASCII letters change case.
locale_t utf8_locale() {
  static const locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (l == static_cast<locale_t>(nullptr)) l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(nullptr));
    return l;
  }();
  return loc;
}

bool in_ranges(char32_t cp, const char32_t (*ranges)[2], std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (cp >= ranges[i][0] && cp <= ranges[i][1]) return true;
  return false;
}

}  // namespace

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

std::vector<char32_t> decode(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    char32_t cp = 0xFFFD;
    std::size_t n = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      n = 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      n = 3;
    } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
           ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
      n = 4;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void append(std::string& out, char32_t cp) { base::append_utf8(out, cp); }

std::string encode(const char32_t* begin, const char32_t* end) {
  std::string out;
  out.reserve(static_cast<std::size_t>(end - begin));
  for (const char32_t* p = begin; p != end; ++p) append(out, *p);
  return out;
}

std::string encode(const std::vector<char32_t>& cps) { return encode(cps.data(), cps.data() + cps.size()); }

std::size_t length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool is_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_printable(char32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  // Categories Cc, Cf, Cs, Co, Zl, Zp and Zs (but ' '), plus the noncharacters: what CPython's
  // repr escapes. Unassigned code points print as-is here (CPython escapes them).
  static const char32_t kNonPrintable[][2] = {
      {0x80, 0xA0},       {0xAD, 0xAD},        {0x600, 0x605},     {0x61C, 0x61C},     {0x6DD, 0x6DD},
      {0x70F, 0x70F},     {0x890, 0x891},      {0x8E2, 0x8E2},     {0x1680, 0x1680},   {0x180E, 0x180E},
      {0x2000, 0x200F},   {0x2028, 0x202F},    {0x205F, 0x2064},   {0x2066, 0x206F},   {0x3000, 0x3000},
      {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},    {0xFEFF, 0xFEFF},   {0xFFF0, 0xFFFB},   {0xFFFE, 0xFFFF},
      {0x110BD, 0x110BD}, {0x110CD, 0x110CD},  {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
      {0xE0000, 0xE0FFF}, {0xF0000, 0x10FFFF},
  };
  return !in_ranges(cp, kNonPrintable, sizeof(kNonPrintable) / sizeof(kNonPrintable[0]));
}

bool is_alpha(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  locale_t l = utf8_locale();
  return l != static_cast<locale_t>(nullptr) && iswalpha_l(static_cast<wint_t>(cp), l) != 0;
}

bool is_digit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  // Python's isdigit also accepts other scripts' digits and superscripts; the common ones:
  return (cp >= 0x660 && cp <= 0x669) || (cp >= 0x6F0 && cp <= 0x6F9) || (cp >= 0x966 && cp <= 0x96F) ||
         (cp >= 0xFF10 && cp <= 0xFF19) || cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0x2070 && cp <= 0x2079);
}

bool is_alnum(char32_t cp) { return is_alpha(cp) || is_digit(cp); }

bool is_upper(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  locale_t l = utf8_locale();
  return l != static_cast<locale_t>(nullptr) && iswupper_l(static_cast<wint_t>(cp), l) != 0;
}

bool is_lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z';
  locale_t l = utf8_locale();
  return l != static_cast<locale_t>(nullptr) && iswlower_l(static_cast<wint_t>(cp), l) != 0;
}

bool is_cased(char32_t cp) { return is_upper(cp) || is_lower(cp) || to_upper(cp) != cp || to_lower(cp) != cp; }

char32_t to_upper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  locale_t l = utf8_locale();
  if (l == static_cast<locale_t>(nullptr)) return cp;
  return static_cast<char32_t>(towupper_l(static_cast<wint_t>(cp), l));
}

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  locale_t l = utf8_locale();
  if (l == static_cast<locale_t>(nullptr)) return cp;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), l));
}

std::string upper(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    return out;
  }
  std::string out;
  for (char32_t cp : decode(s)) {
    if (cp == 0xDF) {  // Python's full case mapping: 'ß'.upper() == 'SS'
      out += "SS";
      continue;
    }
    append(out, to_upper(cp));
  }
  return out;
}

std::string lower(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
  }
  std::string out;
  for (char32_t cp : decode(s)) append(out, to_lower(cp));
  return out;
}

std::string strip(std::string_view s, bool left, bool right, const std::string* chars) {
  if (chars == nullptr && is_ascii(s)) {
    std::size_t b = 0, e = s.size();
    auto sp = [](char c) { return is_space(static_cast<unsigned char>(c)); };
    if (left)
      while (b < e && sp(s[b])) ++b;
    if (right)
      while (e > b && sp(s[e - 1])) --e;
    return std::string(s.substr(b, e - b));
  }
  const std::vector<char32_t> cps = decode(s);
  std::vector<char32_t> set;
  if (chars != nullptr) set = decode(*chars);
  auto strip_it = [&](char32_t cp) {
    if (chars == nullptr) return is_space(cp);
    for (char32_t c : set)
      if (c == cp) return true;
    return false;
  };
  std::size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return encode(cps.data() + b, cps.data() + e);
}

std::vector<std::string> splitlines(std::string_view s) {
  std::vector<std::string> lines;
  const std::vector<char32_t> cps = decode(s);
  std::size_t start = 0, i = 0;
  while (i < cps.size()) {
    const char32_t c = cps[i];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                     c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) {
      ++i;
      continue;
    }
    lines.push_back(encode(cps.data() + start, cps.data() + i));
    i += (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ? 2 : 1;
    start = i;
  }
  if (start < cps.size()) lines.push_back(encode(cps.data() + start, cps.data() + cps.size()));
  return lines;
}

namespace {

// The code point starting at s[b] (whose encoded length is e - b); no allocation.
char32_t code_point_at(std::string_view s, std::size_t b, std::size_t e) {
  const auto c = static_cast<unsigned char>(s[b]);
  const std::size_t n = e - b;
  if (n == 1) return c;
  char32_t cp = c & (n == 2 ? 0x1Fu : n == 3 ? 0x0Fu : 0x07u);
  for (std::size_t i = b + 1; i < e; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3Fu);
  return cp;
}

}  // namespace

std::size_t trailing_space_bytes(std::string_view s) {
  std::size_t e = s.size();
  while (e > 0) {
    std::size_t b = e - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
    if (!is_space(code_point_at(s, b, e))) break;
    e = b;
  }
  return s.size() - e;
}

std::size_t leading_space_bytes(std::string_view s) {
  std::size_t b = 0;
  while (b < s.size()) {
    const auto c = static_cast<unsigned char>(s[b]);
    if (c < 0x80) {
      if (!is_space(c)) break;
      ++b;
      continue;
    }
    std::size_t e = b + 1;
    while (e < s.size() && (static_cast<unsigned char>(s[e]) & 0xC0) == 0x80) ++e;
    if (!is_space(code_point_at(s, b, e))) break;
    b = e;
  }
  return b;
}

}  // namespace ferrite::chat::utf8
