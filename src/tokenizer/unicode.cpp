#include "tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "base/check.h"

namespace ferrite::tokenizer::unicode {
namespace {

// Length of the well-formed sequence at s[i], or 0 with *bad_len set to the length of the
// maximal invalid subpart (at least 1). Table 3-7 of the Unicode standard.
std::size_t well_formed_length(std::string_view s, std::size_t i, std::size_t* bad_len) {
  const auto at = [&](std::size_t k) -> int { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : -1; };
  const int b0 = at(0);
  int n = 0;
  int lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 == 0xE0) {
    n = 3, lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    n = 3;
  } else if (b0 == 0xED) {
    n = 3, hi = 0x9F;
  } else if (b0 == 0xF0) {
    n = 4, lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    n = 4;
  } else if (b0 == 0xF4) {
    n = 4, hi = 0x8F;
  } else {
    *bad_len = 1;
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    const int b = at(static_cast<std::size_t>(k));
    const int l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      *bad_len = static_cast<std::size_t>(k);
      return 0;
    }
  }
  return static_cast<std::size_t>(n);
}

const icu::Normalizer2* normalizer_for(NormalizationForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalizationForm::kNFC:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormalizationForm::kNFD:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case NormalizationForm::kNFKC:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormalizationForm::kNFKD:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  FERRITE_CHECK_MSG(U_SUCCESS(err) && n != nullptr, "ICU normalizer data is missing");
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view s, std::size_t* error_offset) {
  std::size_t i = 0;
  while (i < s.size()) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= s.size()) {
      std::uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= s.size()) break;
    std::size_t bad = 0;
    const std::size_t n = well_formed_length(s, i, &bad);
    if (n == 0) {
      if (error_offset != nullptr) *error_offset = i;
      return false;
    }
    i += n;
  }
  return true;
}

void append_utf8_lossy(std::string& out, std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    std::size_t bad = 0;
    const std::size_t n = well_formed_length(bytes, i, &bad);
    if (n == 0) {
      out.append(kReplacementUtf8);
      i += bad;
    } else {
      out.append(bytes.data() + i, n);
      i += n;
    }
  }
}

std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_utf8_lossy(out, bytes);
  return out;
}

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE) != 0;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  const auto cp = static_cast<UChar32>(c);
  if (u_hasBinaryProperty(cp, UCHAR_ALPHABETIC) || u_hasBinaryProperty(cp, UCHAR_JOIN_CONTROL)) return true;
  switch (u_charType(cp)) {
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
    case U_DECIMAL_DIGIT_NUMBER:
    case U_CONNECTOR_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return true;
    default:
      return false;
  }
}

bool is_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

bool is_nonspacing_mark(char32_t c) { return c >= 0x300 && u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK; }

void append_lowercase(std::string& out, std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
      ++i;
      continue;
    }
    const char32_t c = next_code_point(s, i);
    // One code point at a time gives ICU no context, so the result is the full, context-free
    // mapping of SpecialCasing.txt, which is what Rust's char::to_lowercase returns.
    UChar src[2];
    int32_t src_len = 0;
    U16_APPEND_UNSAFE(src, src_len, static_cast<UChar32>(c));
    UChar dst[8];
    UErrorCode err = U_ZERO_ERROR;
    const int32_t n = u_strToLower(dst, 8, src, src_len, "", &err);
    if (U_FAILURE(err)) {
      append_utf8(out, c);
      continue;
    }
    for (int32_t k = 0; k < n;) {
      UChar32 lc;
      U16_NEXT_UNSAFE(dst, k, lc);
      append_utf8(out, static_cast<char32_t>(lc));
    }
  }
}

void normalize(NormalizationForm form, std::string_view in, std::string& out) {
  out.clear();
  // Every normalization form leaves ASCII unchanged; most input is ASCII.
  if (is_ascii(in)) {
    out.assign(in);
    return;
  }
  const icu::Normalizer2* n = normalizer_for(form);
  UErrorCode err = U_ZERO_ERROR;
  const icu::StringPiece piece(in.data(), static_cast<int32_t>(in.size()));
  if (n->isNormalizedUTF8(piece, err) && U_SUCCESS(err)) {
    out.assign(in);
    return;
  }
  err = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(in.size()));
  n->normalizeUTF8(0, piece, sink, nullptr, err);
  FERRITE_CHECK_MSG(U_SUCCESS(err), "ICU normalization failed on valid UTF-8");
}

}  // namespace ferrite::tokenizer::unicode
