#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

using json_util::Json;

// Words up to this many symbols merge by linear scans; the quadratic cost is lower than a
// heap's constant factor for the words a regex pre-tokenizer produces.
constexpr std::size_t kSmallWord = 48;
// tokenizers caches words shorter than this; longer ones are rare and would crowd the cache.
constexpr std::size_t kMaxCachedWordBytes = 256;
constexpr std::size_t kMaxCacheEntries = 1 << 15;  // tokenizers keeps 10,000
constexpr std::int32_t kMaxVocabId = 1 << 26;
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const Json& j, const TokenizerJson& data,
                                                      const std::string& path) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  const std::string vocab_path = json_util::child_path(path, "vocab");
  if (!data.has_vocab) {
    if (j.contains("vocab")) return json_util::error_at(vocab_path, "expected an object of token -> id");
    return json_util::error_at(vocab_path, "missing required field");
  }
  m->vocab_ = FlatStringMap<std::int32_t>(data.vocab.size());
  std::int32_t max_id = -1;
  for (const auto& [token, id] : data.vocab) {
    if (id < 0 || id >= kMaxVocabId)
      return json_util::error_at(json_util::child_path(vocab_path, token), "id out of range");
    m->vocab_.put(token, static_cast<std::int32_t>(id));
    max_id = std::max(max_id, static_cast<std::int32_t>(id));
  }
  // id -> token, in one arena. A token listed twice keeps its last id, as a JSON map would.
  std::vector<std::string_view> by_id(static_cast<std::size_t>(max_id + 1));
  m->id_present_.assign(static_cast<std::size_t>(max_id + 1), false);
  for (const auto& [token, id] : data.vocab) {
    if (*m->vocab_.find(token) != id) continue;
    by_id[static_cast<std::size_t>(id)] = token;
    m->id_present_[static_cast<std::size_t>(id)] = true;
  }
  m->id_offsets_.reserve(by_id.size() + 1);
  for (const auto& t : by_id) {
    m->id_offsets_.push_back(static_cast<std::uint32_t>(m->id_arena_.size()));
    m->id_arena_.append(t);
  }
  m->id_offsets_.push_back(static_cast<std::uint32_t>(m->id_arena_.size()));

  FERRITE_ASSIGN_OR_RETURN(m->unk_token_, json_util::optional_string(j, "unk_token", path));
  FERRITE_ASSIGN_OR_RETURN(auto prefix, json_util::optional_string(j, "continuing_subword_prefix", path));
  FERRITE_ASSIGN_OR_RETURN(auto suffix, json_util::optional_string(j, "end_of_word_suffix", path));
  m->continuing_subword_prefix_ = prefix.value_or("");
  m->end_of_word_suffix_ = suffix.value_or("");
  FERRITE_ASSIGN_OR_RETURN(m->fuse_unk_, json_util::bool_or(j, "fuse_unk", path, false));
  FERRITE_ASSIGN_OR_RETURN(m->byte_fallback_, json_util::bool_or(j, "byte_fallback", path, false));
  FERRITE_ASSIGN_OR_RETURN(m->ignore_merges_, json_util::bool_or(j, "ignore_merges", path, false));
  if (j.contains("dropout") && j["dropout"].is_number() && j["dropout"].get<double>() > 0.0)
    return unimplemented(json_util::child_path(path, "dropout") + ": BPE dropout is not supported for inference");
  if (m->unk_token_) {
    const std::int32_t* id = m->vocab_.find(*m->unk_token_);
    // tokenizers fails only when an unknown character is met; failing at load is clearer.
    if (id == nullptr)
      return json_util::error_at(json_util::child_path(path, "unk_token"),
                                 "unk token '" + *m->unk_token_ + "' is not in the vocabulary");
    m->unk_id_ = *id;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const std::int32_t* id = m->vocab_.find(name);
    m->byte_token_ids_[static_cast<std::size_t>(b)] = id ? *id : -1;
  }
  m->small_char_ids_.assign(0x800, -1);
  for (char32_t c = 0; c < 0x800; ++c) {
    std::string s;
    unicode::append_utf8(s, c);
    if (const std::int32_t* id = m->vocab_.find(s)) m->small_char_ids_[c] = *id;
  }

  const std::string merges_path = json_util::child_path(path, "merges");
  if (!data.has_merges) {
    if (j.contains("merges")) return json_util::error_at(merges_path, "expected an array");
    return json_util::error_at(merges_path, "missing required field");
  }
  m->merges_.reserve(data.merges.size());
  m->split_before_metaspace_ =
      m->continuing_subword_prefix_.empty() && m->end_of_word_suffix_.empty() && m->vocab_.find(kMetaspace) != nullptr;
  const std::size_t prefix_len = m->continuing_subword_prefix_.size();
  std::string merged;
  for (std::size_t i = 0; i < data.merges.size(); ++i) {
    const std::string& a = data.merges[i].first;
    const std::string& b = data.merges[i].second;
    const std::int32_t* a_id = m->vocab_.find(a);
    const std::int32_t* b_id = m->vocab_.find(b);
    if (a_id == nullptr || b_id == nullptr || b.size() < prefix_len)
      return json_util::error_at(json_util::index_path(merges_path, i), "merge token is not in the vocabulary");
    merged.assign(a);
    merged.append(b, prefix_len, std::string::npos);
    const std::int32_t* new_id = m->vocab_.find(merged);
    if (new_id == nullptr)
      return json_util::error_at(json_util::index_path(merges_path, i),
                                 "merged token '" + merged + "' is not in the vocabulary");
    m->merges_.put(*a_id, *b_id, {static_cast<std::uint32_t>(i), *new_id});
    if (m->split_before_metaspace_) {
      for (std::size_t at = merged.find(kMetaspace, 1); at != std::string::npos; at = merged.find(kMetaspace, at + 1)) {
        if (at < kMetaspace.size() || merged.compare(at - kMetaspace.size(), kMetaspace.size(), kMetaspace) != 0) {
          m->split_before_metaspace_ = false;
          break;
        }
      }
    }
  }
  return m;
}

BpeModel::WordCache* BpeModel::acquire_cache() const {
  for (CacheSlot& slot : caches_) {
    bool expected = false;
    if (slot.busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      if (!slot.cache) slot.cache = std::make_unique<WordCache>();
      return slot.cache.get();
    }
  }
  return nullptr;
}

void BpeModel::release_cache(WordCache* cache) const {
  if (cache == nullptr) return;
  for (CacheSlot& slot : caches_) {
    if (slot.cache.get() == cache) {
      slot.busy.store(false, std::memory_order_release);
      return;
    }
  }
}

std::int32_t BpeModel::char_id(std::string_view ch, bool first, bool last, std::string& scratch) const {
  const bool plain = (first || continuing_subword_prefix_.empty()) && (!last || end_of_word_suffix_.empty());
  if (plain) {
    std::size_t i = 0;
    const char32_t c = unicode::next_code_point(ch, i);
    if (c < 0x800) return small_char_ids_[c];
    const std::int32_t* id = vocab_.find(ch);
    return id ? *id : -1;
  }
  scratch.clear();
  if (!first) scratch.append(continuing_subword_prefix_);
  scratch.append(ch);
  if (last) scratch.append(end_of_word_suffix_);
  const std::int32_t* id = vocab_.find(scratch);
  return id ? *id : -1;
}

void BpeModel::merge_word(std::string_view word, std::vector<std::int32_t>& symbols) const {
  symbols.clear();
  std::string scratch;
  std::int32_t pending_unk = -1;  // an unknown-token symbol not yet emitted (for fuse_unk)
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t start = i;
    i += unicode::sequence_length(static_cast<unsigned char>(word[i]));
    const std::string_view ch = word.substr(start, i - start);
    const std::int32_t id = char_id(ch, start == 0, i >= word.size(), scratch);
    if (id >= 0) {
      if (pending_unk >= 0) {
        symbols.push_back(pending_unk);
        pending_unk = -1;
      }
      symbols.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      // The prefixed/suffixed form is what tokenizers splits into bytes.
      std::string_view bytes = ch;
      const bool plain =
          (start == 0 || continuing_subword_prefix_.empty()) && (i < word.size() || end_of_word_suffix_.empty());
      if (!plain) bytes = scratch;
      bool all = true;
      for (char b : bytes) all = all && byte_token_ids_[static_cast<unsigned char>(b)] >= 0;
      if (all) {
        // Like tokenizers, a pending unk stays pending across byte-fallback symbols.
        for (char b : bytes) symbols.push_back(byte_token_ids_[static_cast<unsigned char>(b)]);
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (pending_unk >= 0 && !fuse_unk_) symbols.push_back(pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk >= 0) symbols.push_back(pending_unk);
  if (symbols.size() <= kSmallWord)
    merge_small(symbols);
  else
    merge_large(symbols);
}

void BpeModel::merge_small(std::vector<std::int32_t>& symbols) const {
  std::size_t n = symbols.size();
  if (n < 2) return;
  std::uint32_t ranks[kSmallWord];
  std::int32_t merged[kSmallWord];
  const auto rank_at = [&](std::size_t k) {
    const MergeMap::Merge* m = merges_.find(symbols[k], symbols[k + 1]);
    ranks[k] = m ? m->rank : UINT32_MAX;
    merged[k] = m ? m->new_id : -1;
  };
  for (std::size_t k = 0; k + 1 < n; ++k) rank_at(k);
  while (n > 1) {
    std::size_t best = 0;
    for (std::size_t k = 1; k + 1 < n; ++k)
      if (ranks[k] < ranks[best]) best = k;
    if (ranks[best] == UINT32_MAX) break;
    symbols[best] = merged[best];
    for (std::size_t k = best + 1; k + 1 < n; ++k) symbols[k] = symbols[k + 1];
    for (std::size_t k = best + 1; k + 2 < n; ++k) {
      ranks[k] = ranks[k + 1];
      merged[k] = merged[k + 1];
    }
    --n;
    if (best > 0) rank_at(best - 1);
    if (best + 1 < n) rank_at(best);
  }
  symbols.resize(n);
}

void BpeModel::merge_large(std::vector<std::int32_t>& symbols) const {
  struct Symbol {
    std::int32_t id;
    std::int32_t prev, next;
  };
  // A candidate merge remembers the pair it was made for: it is stale once either side changed.
  // (tokenizers checks that the pair's merge still yields the same token; no other pair can.)
  struct Candidate {
    std::uint32_t rank;
    std::uint32_t pos;
    std::int32_t left, right, new_id;
    bool operator<(const Candidate& o) const {  // priority_queue is a max-heap
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  const std::size_t n = symbols.size();
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Candidate> heap;
  sym.resize(n);
  heap.clear();
  for (std::size_t k = 0; k < n; ++k)
    sym[k] = {symbols[k], static_cast<std::int32_t>(k) - 1, k + 1 < n ? static_cast<std::int32_t>(k + 1) : -1};
  const auto push = [&](std::uint32_t pos, std::int32_t left, std::int32_t right) {
    if (const MergeMap::Merge* m = merges_.find(left, right)) {
      heap.push_back({m->rank, pos, left, right, m->new_id});
      std::push_heap(heap.begin(), heap.end());
    }
  };
  for (std::size_t k = 0; k + 1 < n; ++k) push(static_cast<std::uint32_t>(k), sym[k].id, sym[k + 1].id);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = sym[top.pos];
    if (left.id != top.left || left.next < 0 || sym[static_cast<std::size_t>(left.next)].id != top.right) continue;
    const Symbol right = sym[static_cast<std::size_t>(left.next)];
    left.id = top.new_id;
    sym[static_cast<std::size_t>(left.next)].id = -1;
    left.next = right.next;
    if (right.next >= 0) sym[static_cast<std::size_t>(right.next)].prev = static_cast<std::int32_t>(top.pos);
    if (left.prev >= 0)
      push(static_cast<std::uint32_t>(left.prev), sym[static_cast<std::size_t>(left.prev)].id, left.id);
    if (left.next >= 0) push(top.pos, left.id, sym[static_cast<std::size_t>(left.next)].id);
  }
  symbols.clear();
  for (std::size_t k = 0; k < n; ++k)
    if (sym[k].id >= 0) symbols.push_back(sym[k].id);
}

void BpeModel::tokenize(std::string_view word, std::vector<std::int32_t>& out, WordCache* cache) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const std::int32_t* id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  if (!split_before_metaspace_) {
    tokenize_segment(word, out, cache);
    return;
  }
  std::size_t begin = 0;
  for (std::size_t at = word.find(kMetaspace, 1); at != std::string_view::npos; at = word.find(kMetaspace, at + 1)) {
    // A boundary is a "▁" whose previous character is not "▁" (runs of "▁" merge together).
    if (at >= kMetaspace.size() && word.compare(at - kMetaspace.size(), kMetaspace.size(), kMetaspace) == 0) continue;
    tokenize_segment(word.substr(begin, at - begin), out, cache);
    begin = at;
  }
  tokenize_segment(word.substr(begin), out, cache);
}

void BpeModel::tokenize_segment(std::string_view word, std::vector<std::int32_t>& out, WordCache* cache) const {
  const bool cacheable = cache != nullptr && word.size() < kMaxCachedWordBytes;
  if (cacheable) {
    if (const WordCache::Range* r = cache->map.find(word)) {
      out.insert(out.end(), cache->ids.begin() + r->offset, cache->ids.begin() + r->offset + r->count);
      return;
    }
  }
  thread_local std::vector<std::int32_t> symbols;
  merge_word(word, symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (cacheable) {
    if (cache->map.size() >= kMaxCacheEntries) cache->clear();
    cache->map.put(word, {static_cast<std::uint32_t>(cache->ids.size()), static_cast<std::uint32_t>(symbols.size())});
    cache->ids.insert(cache->ids.end(), symbols.begin(), symbols.end());
  }
}

}  // namespace ferrite::tokenizer
