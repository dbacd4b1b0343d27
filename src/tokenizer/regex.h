// A compiled PCRE2 pattern with the matching semantics `tokenizers` gets from Oniguruma:
// UTF-8 with Unicode properties (PCRE2_UTF | PCRE2_UCP), Ruby's line anchors, and Oniguruma's
// find_iter rule for empty matches. JIT-compiled; safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferrite/status.h"

namespace ferrite::tokenizer {

struct Span {
  std::uint32_t begin, end;
};

class Regex {
 public:
  // `literal`: the pattern is a plain string to find (tokenizers' {"String": ...} patterns).
  static Result<std::shared_ptr<const Regex>> compile(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends every match of `text` (valid UTF-8) to `out`, left to right. An empty match right
  // where the previous match ended is skipped, as Oniguruma's iterator does.
  void find_all(std::string_view text, std::vector<Span>& out) const;

  const std::string& pattern() const { return pattern_; }
  bool literal() const { return literal_; }

 private:
  Regex() = default;
  std::string pattern_;
  bool literal_ = false;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace ferrite::tokenizer
