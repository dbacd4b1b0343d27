// IncrementalDetokenizer: vLLM's prefix/read offsets. Each step decodes the short window
// ids[prefix_offset, end) and returns what it adds to the text of ids[prefix_offset,
// read_offset). Decoding a window that starts one token early keeps the context the decoders
// need (the SentencePiece leading-space rule strips only the first token of a decode).
#include <algorithm>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && std::string_view(s).substr(s.size() - 3) == unicode::kReplacementUtf8;
}

// Keep the ids of already-sent text from growing without bound over a long generation.
constexpr std::size_t kTrimThreshold = 256;

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer, Options options,
                                               std::span<const std::int32_t> prompt_ids)
    : tokenizer_(std::move(tokenizer)), options_(options) {
  if (prompt_ids.empty()) return;
  // A few prompt tokens are enough context; start at one whose text is whole (vLLM does the
  // same, looking 4 to 23 tokens back).
  std::span<const std::int32_t> tail = prompt_ids;
  if (prompt_ids.size() > 4) {
    for (std::size_t k = 4; k <= std::min<std::size_t>(prompt_ids.size(), 23); ++k) {
      auto candidate = prompt_ids.subspan(prompt_ids.size() - k);
      if (tokenizer_->decode(candidate, options_.skip_special_tokens).find(unicode::kReplacementUtf8) ==
              std::string::npos &&
          !tokenizer_->is_byte_fallback_token(candidate.front())) {
        tail = candidate;
        break;
      }
    }
  }
  ids_.assign(tail.begin(), tail.end());
  prefix_offset_ = 0;
  read_offset_ = ids_.size();
  last_added_ = tokenizer_->is_added(ids_.back());
}

std::string IncrementalDetokenizer::emit(bool final) {
  const std::span<const std::int32_t> all(ids_);
  const std::string prefix_text =
      tokenizer_->decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_), options_.skip_special_tokens);
  const std::string new_text = tokenizer_->decode(all.subspan(prefix_offset_), options_.skip_special_tokens);
  if (!final) {
    // An incomplete UTF-8 sequence, or a run of byte tokens that a later byte could still turn
    // into U+FFFDs, is not final text yet.
    if (ends_with_replacement(new_text)) return {};
    if (!ids_.empty() && tokenizer_->is_byte_fallback_token(ids_.back())) return {};
  }
  if (new_text.size() <= prefix_text.size()) return {};
  std::string delta = new_text.substr(prefix_text.size());
  // The next window starts at the first token not yet sent, unless that token alone decodes to
  // nothing but whitespace: SentencePiece drops every leading whitespace piece of a decode, so a
  // window must start at a token with visible text to keep the spaces that follow it.
  const std::size_t candidate = read_offset_;
  read_offset_ = ids_.size();
  const std::string head =
      tokenizer_->decode(all.subspan(candidate, read_offset_ - candidate), options_.skip_special_tokens);
  if (head.find_first_not_of(" \t\n\r") != std::string::npos) prefix_offset_ = candidate;
  if (prefix_offset_ > kTrimThreshold) {
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_offset_));
    read_offset_ -= prefix_offset_;
    prefix_offset_ = 0;
  }
  return delta;
}

std::string IncrementalDetokenizer::step(std::int32_t id) {
  ids_.push_back(id);
  std::string delta = emit(false);
  const bool added = tokenizer_->is_added(id);
  if (!options_.skip_special_tokens && !options_.spaces_between_special_tokens) {
    // vLLM: between two added tokens, the raw content without any space the decoder adds.
    if (added && last_added_) delta = tokenizer_->id_to_token(id).value_or(delta);
  }
  last_added_ = added;
  text_ += delta;
  return delta;
}

std::string IncrementalDetokenizer::finish() {
  std::string delta = emit(true);
  text_ += delta;
  return delta;
}

}  // namespace ferrite::tokenizer
