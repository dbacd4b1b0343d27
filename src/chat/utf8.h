// UTF-8 helpers for the template interpreter. Python strings index, slice, strip and case-map by
// code point, so every string operation a template can reach goes through these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferrite::chat::utf8 {

bool is_ascii(std::string_view s);

// Decodes to code points. Invalid bytes decode to themselves (as U+0080..U+00FF would not round
// trip, they become U+FFFD): inputs come from JSON, which nlohmann has already validated.
std::vector<char32_t> decode(std::string_view s);
void append(std::string& out, char32_t cp);
std::string encode(const std::vector<char32_t>& cps);
std::string encode(const char32_t* begin, const char32_t* end);

// Number of code points.
std::size_t length(std::string_view s);

// Python's str.isspace() / the `\s` class of `re` on str patterns.
bool is_space(char32_t cp);
// Python's str.isprintable() for one code point (repr escapes the others).
bool is_printable(char32_t cp);
bool is_alpha(char32_t cp);
bool is_digit(char32_t cp);
bool is_alnum(char32_t cp);
bool is_upper(char32_t cp);
bool is_lower(char32_t cp);
// "Cased" in Python's sense: a letter that has an upper or lower form.
bool is_cased(char32_t cp);
char32_t to_upper(char32_t cp);
char32_t to_lower(char32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);

// Python str.strip/lstrip/rstrip. `chars` empty (and !has_chars) means whitespace.
std::string strip(std::string_view s, bool left, bool right, const std::string* chars);

// Python str.splitlines() (no keepends).
std::vector<std::string> splitlines(std::string_view s);

// Byte length of the trailing run of Python whitespace (for Jinja's `-` whitespace control).
std::size_t trailing_space_bytes(std::string_view s);
// Byte length of the leading run of Python whitespace.
std::size_t leading_space_bytes(std::string_view s);

}  // namespace ferrite::chat::utf8
