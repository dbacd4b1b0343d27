// The BPE model of tokenizer.json: vocabulary, ranked merges, and the options byte_fallback,
// ignore_merges, continuing_subword_prefix, end_of_word_suffix, unk_token and fuse_unk.
//
// Merging follows tokenizers exactly: repeatedly merge the adjacent pair with the lowest rank,
// the leftmost one on ties. Short words use a linear scan over a small array; long ones (a whole
// SentencePiece-style text, 1 MB of one character) use a heap over a linked list, O(n log n).
// Results of words under 256 bytes are cached.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferrite/status.h"
#include "tokenizer/flat_map.h"
#include "tokenizer/json_util.h"
#include "tokenizer/tokenizer_json.h"

namespace ferrite::tokenizer {

class BpeModel {
 public:
  // `j` is tokenizer.json's "model" object; `data` holds its vocab and merges (read_tokenizer_json
  // streams them past the JSON tree).
  static Result<std::unique_ptr<BpeModel>> from_json(const json_util::Json& j, const TokenizerJson& data,
                                                     const std::string& path);

  // Ids of recently seen words.
  struct WordCache {
    struct Range {
      std::uint32_t offset = 0, count = 0;
    };
    FlatStringMap<Range> map{4096};
    std::vector<std::int32_t> ids;
    void clear() {
      map.clear();
      ids.clear();
    }
  };
  // A word cache for the exclusive use of one encode call (null when all are taken, which only
  // costs speed). Give it back with release_cache.
  WordCache* acquire_cache() const;
  void release_cache(WordCache* cache) const;

  // Appends the ids of one pre-tokenized word (non-empty, valid UTF-8). `cache` may be null.
  void tokenize(std::string_view word, std::vector<std::int32_t>& out, WordCache* cache) const;

  std::optional<std::int32_t> token_to_id(std::string_view token) const {
    const std::int32_t* id = vocab_.find(token);
    return id ? std::optional<std::int32_t>(*id) : std::nullopt;
  }
  // Empty view for an id the vocabulary lacks.
  std::string_view id_to_token(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= id_offsets_.size() - 1 || !id_present_[static_cast<std::size_t>(id)])
      return {};
    return std::string_view(id_arena_).substr(
        id_offsets_[static_cast<std::size_t>(id)],
        id_offsets_[static_cast<std::size_t>(id) + 1] - id_offsets_[static_cast<std::size_t>(id)]);
  }
  bool has_id(std::int32_t id) const {
    return id >= 0 && static_cast<std::size_t>(id) < id_present_.size() && id_present_[static_cast<std::size_t>(id)];
  }
  std::size_t vocab_size() const { return vocab_.size(); }
  std::int32_t max_id() const { return static_cast<std::int32_t>(id_present_.size()) - 1; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  BpeModel() = default;
  void tokenize_segment(std::string_view word, std::vector<std::int32_t>& out, WordCache* cache) const;
  void merge_word(std::string_view word, std::vector<std::int32_t>& symbols) const;
  void merge_small(std::vector<std::int32_t>& symbols) const;
  void merge_large(std::vector<std::int32_t>& symbols) const;
  std::int32_t char_id(std::string_view ch, bool first, bool last, std::string& scratch) const;

  FlatStringMap<std::int32_t> vocab_;
  std::string id_arena_;
  std::vector<std::uint32_t> id_offsets_;
  std::vector<bool> id_present_;
  MergeMap merges_;
  std::optional<std::string> unk_token_;
  std::int32_t unk_id_ = -1;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::array<std::int32_t, 256> byte_token_ids_{};  // "<0xAB>" tokens, -1 where absent
  // Id of each code point below 0x800 as a whole symbol (no prefix or suffix), -1 if absent:
  // saves a hash lookup per character of byte-level text.
  std::vector<std::int32_t> small_char_ids_;
  // SentencePiece-style vocabularies (no pre-tokenizer: a whole text is one word) have no merge
  // whose result holds "▁" after another character, so no merge crosses the boundary before such
  // a "▁". Splitting there gives the same ids as merging the whole text, lets short words hit
  // the cache, and turns one O(n log n) merge over the text into many small ones.
  bool split_before_metaspace_ = false;

  // Word caches handed to one encode call at a time, so lookups need no lock.
  static constexpr std::size_t kCacheSlots = 8;
  struct CacheSlot {
    std::atomic<bool> busy{false};
    std::unique_ptr<WordCache> cache;
  };
  mutable std::array<CacheSlot, kCacheSlots> caches_;
};

}  // namespace ferrite::tokenizer
