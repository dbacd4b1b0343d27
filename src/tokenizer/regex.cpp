#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstring>

#include "base/check.h"
#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

// Per-thread match state. The JIT stack grows to 8 MiB so that long runs (1 MB of one
// character) never fall off the JIT into the slower interpreter.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    FERRITE_CHECK(data != nullptr && context != nullptr && jit_stack != nullptr);
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchState() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

}  // namespace

Result<std::shared_ptr<const Regex>> Regex::compile(const std::string& pattern, bool literal) {
  std::shared_ptr<Regex> re(new Regex());
  re->pattern_ = pattern;
  re->literal_ = literal;
  // Oniguruma's Ruby syntax makes ^ and $ line anchors. PCRE2_LITERAL admits no other options.
  const std::uint32_t options =
      PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return invalid_argument("invalid regex '" + pattern + "' at offset " + std::to_string(error_offset) + ": " +
                            reinterpret_cast<const char*>(message));
  }
  re->code_ = code;
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::shared_ptr<const Regex>(std::move(re));
}

Regex::~Regex() {
  if (code_ != nullptr) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text, std::vector<Span>& out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  MatchState& st = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const std::size_t len = text.size();
  std::size_t pos = 0;
  std::size_t last_match_end = static_cast<std::size_t>(-1);
  while (pos <= len) {
    int rc = jit_ ? pcre2_jit_match(code, subject, len, pos, 0, st.data, st.context)
                  : pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, st.data, st.context);
    }
    if (rc < 0) {
      // PCRE2_ERROR_NOMATCH ends the scan; resource errors (match/heap limits) cannot be
      // reported from here, and treating them as "no more matches" keeps the text intact.
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const std::size_t s = ov[0], e = ov[1];
    if (s == e && e == last_match_end) {
      pos += pos < len ? unicode::sequence_length(static_cast<unsigned char>(text[pos])) : 1;
      continue;
    }
    out.push_back({static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(e)});
    pos = e;
    last_match_end = e;
  }
}

}  // namespace ferrite::tokenizer
