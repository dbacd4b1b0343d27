#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

// tokenizers tests these with Rust regexes (\w$, ^\w, \s*$, ^\s*), whose classes are Unicode.
bool ends_with_word(std::string_view s) {
  return !s.empty() && unicode::is_word_char(unicode::previous_code_point(s, s.size()));
}

bool starts_with_word(std::string_view s) {
  std::size_t i = 0;
  return !s.empty() && unicode::is_word_char(unicode::next_code_point(s, i));
}

// Start of the whitespace run that ends `s` (s.size() if none).
std::size_t trailing_space_start(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t start = 0;
    if (!unicode::is_whitespace(unicode::previous_code_point(s, end, &start))) break;
    end = start;
  }
  return end;
}

// Length of the whitespace run that starts `s`.
std::size_t leading_space_length(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t next = i;
    if (!unicode::is_whitespace(unicode::next_code_point(s, next))) break;
    i = next;
  }
  return i;
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view pattern, std::int32_t token) {
  if (pattern.empty()) return;
  std::int32_t node = 0;
  for (char ch : pattern) {
    const auto b = static_cast<unsigned char>(ch);
    auto& children = nodes[static_cast<std::size_t>(node)].children;
    auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == b; });
    if (it != children.end()) {
      node = it->second;
    } else {
      const auto child = static_cast<std::int32_t>(nodes.size());
      nodes[static_cast<std::size_t>(node)].children.emplace_back(b, child);
      nodes.emplace_back();
      node = child;
    }
  }
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
  // A duplicate pattern keeps the first token, as a set of patterns would.
  if (nodes[static_cast<std::size_t>(node)].token < 0) nodes[static_cast<std::size_t>(node)].token = token;
}

std::int32_t AddedVocabulary::Trie::longest_at(std::string_view text, std::size_t pos, std::size_t* len) const {
  std::int32_t node = 0, best = -1;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    const auto& children = nodes[static_cast<std::size_t>(node)].children;
    std::int32_t next = -1;
    for (const auto& c : children)
      if (c.first == b) {
        next = c.second;
        break;
      }
    if (next < 0) break;
    node = next;
    if (nodes[static_cast<std::size_t>(node)].token >= 0) {
      best = nodes[static_cast<std::size_t>(node)].token;
      *len = i + 1 - pos;
    }
  }
  return best;
}

void AddedVocabulary::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  tokens_ = std::move(tokens);
  by_id_.clear();
  by_content_.clear();
  raw_ = Trie();
  normalized_ = Trie();
  std::string pattern, scratch;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    by_id_[t.id] = i;
    by_content_.emplace(t.content, t.id);
    if (t.normalized) {
      pattern = t.content;
      if (normalizer != nullptr) normalizer->normalize(pattern, scratch);
      normalized_.insert(pattern, static_cast<std::int32_t>(i));
    } else {
      raw_.insert(t.content, static_cast<std::int32_t>(i));
    }
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Segment>& out) const {
  const Trie& trie = normalized ? normalized_ : raw_;
  const auto n = static_cast<std::uint32_t>(text.size());
  if (text.empty() || trie.empty()) {
    out.push_back({0, n, -1});
    return;
  }
  std::size_t start_offset = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    std::size_t len = 0;
    const std::int32_t index = trie.longest_at(text, pos, &len);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& t = tokens_[static_cast<std::size_t>(index)];
    std::size_t start = pos, stop = pos + len;
    pos = stop;  // matches never overlap, even when one is discarded below
    if (t.single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (t.rstrip) stop += leading_space_length(text.substr(stop));
    if (start_offset < start)
      out.push_back({static_cast<std::uint32_t>(start_offset), static_cast<std::uint32_t>(start), -1});
    out.push_back({static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(stop), t.id});
    start_offset = stop;
  }
  if (start_offset != text.size()) out.push_back({static_cast<std::uint32_t>(start_offset), n, -1});
}

}  // namespace ferrite::tokenizer
