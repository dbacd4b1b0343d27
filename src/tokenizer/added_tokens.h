// Added tokens (tokenizer.json "added_tokens", tokenizer_config.json "added_tokens_decoder"):
// found in the text before the model runs, with tokenizers' rules: leftmost-longest match,
// `single_word`, `lstrip`/`rstrip` swallowing neighbouring whitespace, and two passes, one over
// the raw text for tokens with `normalized: false` and one over each normalized piece for the
// others.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/components.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer {

class AddedVocabulary {
 public:
  struct Segment {
    std::uint32_t begin, end;
    std::int32_t id;  // -1: plain text
  };

  // `normalizer` (may be null) turns the content of `normalized` tokens into their patterns.
  void build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits `text` into plain segments and added-token matches, covering it in order (a match
  // may include whitespace it strips). `normalized` picks the token set. An empty text gives
  // one empty plain segment.
  void split(std::string_view text, bool normalized, std::vector<Segment>& out) const;

  const AddedToken* by_id(std::int32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &tokens_[it->second];
  }
  std::optional<std::int32_t> by_content(std::string_view content) const {
    auto it = by_content_.find(std::string(content));
    return it == by_content_.end() ? std::nullopt : std::optional<std::int32_t>(it->second);
  }
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, std::int32_t>> children;
      std::int32_t token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};
    void insert(std::string_view pattern, std::int32_t token);
    // Longest pattern starting at text[pos]: its token index and length, or -1.
    std::int32_t longest_at(std::string_view text, std::size_t pos, std::size_t* len) const;
    bool empty() const { return nodes.size() == 1; }
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::int32_t, std::size_t> by_id_;
  std::unordered_map<std::string, std::int32_t> by_content_;
  Trie raw_, normalized_;
};

}  // namespace ferrite::tokenizer
