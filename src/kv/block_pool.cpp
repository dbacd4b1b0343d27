#include "kv/block_pool.h"

#include <algorithm>
#include <string>

#include "base/check.h"

namespace ferrite::kv {

namespace {

// splitmix64's finalizer: every input bit flips about half the output bits, so chaining it over
// the tokens gives keys whose low bits are as good as the high ones (unordered_map uses them).
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;

}  // namespace

BlockHash hash_block(BlockHash parent, std::span<const std::int32_t> tokens) {
  // The length goes in first so that blocks of different sizes never share a key by padding.
  std::uint64_t h = mix64(parent ^ (kGolden * (tokens.size() + 1)));
  std::size_t i = 0;
  // Two tokens per 64-bit word halves the number of mixes; the order of tokens matters because
  // each word is mixed into the running state, not summed.
  for (; i + 1 < tokens.size(); i += 2) {
    const std::uint64_t word = static_cast<std::uint32_t>(tokens[i]) |
                               (static_cast<std::uint64_t>(static_cast<std::uint32_t>(tokens[i + 1])) << 32);
    h = mix64(h + kGolden + word);
  }
  if (i < tokens.size()) {
    h = mix64(h + kGolden + static_cast<std::uint32_t>(tokens[i]));
  }
  return h;
}

BlockPool::BlockPool(std::int64_t num_blocks, std::int64_t block_size, bool enable_prefix_caching)
    : num_blocks_(num_blocks), block_size_(block_size), enable_prefix_caching_(enable_prefix_caching) {
  FERRITE_CHECK_MSG(num_blocks > 0 && num_blocks <= INT32_MAX, "BlockPool: num_blocks out of range");
  FERRITE_CHECK_MSG(block_size > 0, "BlockPool: block_size must be positive");
  blocks_.resize(static_cast<std::size_t>(num_blocks));
  free_list_.reserve(static_cast<std::size_t>(num_blocks));
  // The free list is a stack; pushing in reverse hands out 0, 1, 2, ... first, which keeps
  // fresh pools easy to read in tests and logs.
  for (std::int64_t b = num_blocks - 1; b >= 0; --b) free_list_.push_back(static_cast<std::int32_t>(b));
  if (enable_prefix_caching_) cache_.reserve(static_cast<std::size_t>(num_blocks));
}

std::int64_t BlockPool::num_free_blocks() const { return static_cast<std::int64_t>(free_list_.size() + lru_.size()); }

std::optional<std::int32_t> BlockPool::allocate() {
  std::int32_t id;
  if (!free_list_.empty()) {
    id = free_list_.back();
    free_list_.pop_back();
  } else if (!lru_.empty()) {
    // Evict the least recently used cached block: its KV data is about to be overwritten, so
    // its prefix-cache key must go first.
    id = lru_.front();
    lru_.pop_front();
    Block& blk = blocks_[static_cast<std::size_t>(id)];
    blk.on_lru = false;
    auto it = cache_.find(blk.hash);
    FERRITE_CHECK_MSG(it != cache_.end() && it->second == id, "BlockPool: cached block missing from the map");
    cache_.erase(it);
    blk.registered = false;
    blk.hash = 0;
    blk.tokens.clear();
    ++evictions_;
  } else {
    return std::nullopt;
  }
  Block& blk = blocks_[static_cast<std::size_t>(id)];
  FERRITE_CHECK_MSG(blk.ref == 0, "BlockPool: allocating a block that is in use");
  blk.ref = 1;
  return id;
}

void BlockPool::release(std::int32_t block) {
  FERRITE_CHECK_MSG(block >= 0 && block < num_blocks_, "BlockPool::release: block id out of range");
  Block& blk = blocks_[static_cast<std::size_t>(block)];
  FERRITE_CHECK_MSG(blk.ref > 0, "BlockPool::release: block is not in use (double free?)");
  if (--blk.ref > 0) return;
  if (blk.registered) {
    blk.lru_it = lru_.insert(lru_.end(), block);
    blk.on_lru = true;
  } else {
    free_list_.push_back(block);
  }
}

void BlockPool::add_ref(std::int32_t block) {
  FERRITE_CHECK_MSG(block >= 0 && block < num_blocks_, "BlockPool::add_ref: block id out of range");
  Block& blk = blocks_[static_cast<std::size_t>(block)];
  FERRITE_CHECK_MSG(blk.ref > 0, "BlockPool::add_ref: block is not in use");
  ++blk.ref;
}

std::int32_t BlockPool::ref_count(std::int32_t block) const {
  FERRITE_CHECK_MSG(block >= 0 && block < num_blocks_, "BlockPool::ref_count: block id out of range");
  return blocks_[static_cast<std::size_t>(block)].ref;
}

std::optional<std::int32_t> BlockPool::peek(BlockHash hash, std::span<const std::int32_t> tokens) const {
  if (!enable_prefix_caching_) return std::nullopt;
  auto it = cache_.find(hash);
  if (it == cache_.end()) return std::nullopt;
  const Block& blk = blocks_[static_cast<std::size_t>(it->second)];
  // A 64-bit collision (or a caller hashing differently) must never hand out someone else's KV.
  if (!std::equal(blk.tokens.begin(), blk.tokens.end(), tokens.begin(), tokens.end())) return std::nullopt;
  return it->second;
}

std::optional<std::int32_t> BlockPool::lookup(BlockHash hash, std::span<const std::int32_t> tokens) {
  ++queries_;
  auto found = peek(hash, tokens);
  if (!found) return std::nullopt;
  Block& blk = blocks_[static_cast<std::size_t>(*found)];
  if (blk.on_lru) {
    lru_.erase(blk.lru_it);
    blk.on_lru = false;
  }
  ++blk.ref;
  ++hits_;
  return found;
}

void BlockPool::register_full(std::int32_t block, BlockHash hash, std::span<const std::int32_t> tokens) {
  if (!enable_prefix_caching_) return;
  FERRITE_CHECK_MSG(block >= 0 && block < num_blocks_, "BlockPool::register_full: block id out of range");
  Block& blk = blocks_[static_cast<std::size_t>(block)];
  FERRITE_CHECK_MSG(blk.ref > 0, "BlockPool::register_full: block is not in use");
  FERRITE_CHECK_MSG(static_cast<std::int64_t>(tokens.size()) == block_size_,
                    "BlockPool::register_full: only full blocks are registered");
  if (blk.registered) {
    // Registering the same block twice under the same key is harmless; under another key it
    // would mean its KV data changed while it was shared.
    FERRITE_CHECK_MSG(blk.hash == hash, "BlockPool::register_full: block already registered under another hash");
    return;
  }
  // try_emplace keeps the first block as canonical: a second sequence that computed the same
  // prefix on its own keeps its private copy, which goes back to the free list when released.
  auto [it, inserted] = cache_.try_emplace(hash, block);
  if (!inserted) return;
  blk.registered = true;
  blk.hash = hash;
  blk.tokens.assign(tokens.begin(), tokens.end());
}

BlockPoolStats BlockPool::stats() const {
  BlockPoolStats s;
  s.num_blocks = num_blocks_;
  s.num_free = num_free_blocks();
  s.num_cached = static_cast<std::int64_t>(lru_.size());
  s.queries = queries_;
  s.hits = hits_;
  s.evictions = evictions_;
  return s;
}

void BlockPool::check_invariants() const {
  const auto n = static_cast<std::size_t>(num_blocks_);
  FERRITE_CHECK_MSG(blocks_.size() == n, "BlockPool: block table size changed");
  std::vector<std::uint8_t> on_free(n, 0), on_lru(n, 0);
  for (std::int32_t id : free_list_) {
    FERRITE_CHECK_MSG(id >= 0 && static_cast<std::size_t>(id) < n, "BlockPool: free list holds a bad id");
    FERRITE_CHECK_MSG(!on_free[static_cast<std::size_t>(id)], "BlockPool: block twice on the free list");
    on_free[static_cast<std::size_t>(id)] = 1;
  }
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    const std::int32_t id = *it;
    FERRITE_CHECK_MSG(id >= 0 && static_cast<std::size_t>(id) < n, "BlockPool: LRU list holds a bad id");
    FERRITE_CHECK_MSG(!on_lru[static_cast<std::size_t>(id)], "BlockPool: block twice on the LRU list");
    on_lru[static_cast<std::size_t>(id)] = 1;
    const Block& blk = blocks_[static_cast<std::size_t>(id)];
    FERRITE_CHECK_MSG(blk.on_lru && blk.lru_it == it, "BlockPool: LRU iterator out of date");
  }
  std::size_t num_registered = 0;
  for (std::size_t id = 0; id < n; ++id) {
    const Block& blk = blocks_[id];
    FERRITE_CHECK_MSG(blk.ref >= 0, "BlockPool: negative reference count");
    FERRITE_CHECK_MSG(blk.on_lru == static_cast<bool>(on_lru[id]), "BlockPool: on_lru flag disagrees with the list");
    if (blk.ref == 0) {
      // Exactly one of free (unregistered, free list) or cached (registered, LRU).
      if (blk.registered) {
        FERRITE_CHECK_MSG(on_lru[id] && !on_free[id], "BlockPool: cached block not (only) on the LRU list");
      } else {
        FERRITE_CHECK_MSG(on_free[id] && !on_lru[id], "BlockPool: free block not (only) on the free list");
      }
    } else {
      FERRITE_CHECK_MSG(!on_free[id] && !on_lru[id], "BlockPool: block in use is also on a free or LRU list");
    }
    if (blk.registered) {
      ++num_registered;
      FERRITE_CHECK_MSG(enable_prefix_caching_, "BlockPool: block registered with prefix caching off");
      FERRITE_CHECK_MSG(static_cast<std::int64_t>(blk.tokens.size()) == block_size_,
                        "BlockPool: registered block does not hold a full block of tokens");
      auto it = cache_.find(blk.hash);
      FERRITE_CHECK_MSG(it != cache_.end() && it->second == static_cast<std::int32_t>(id),
                        "BlockPool: registered block missing from the prefix-cache map");
    }
  }
  FERRITE_CHECK_MSG(num_registered == cache_.size(), "BlockPool: prefix-cache map holds unregistered blocks");
  std::size_t num_free = 0;
  for (std::uint8_t f : on_free) num_free += f;
  FERRITE_CHECK_MSG(num_free == free_list_.size(), "BlockPool: free count mismatch");
  FERRITE_CHECK_MSG(num_free_blocks() == static_cast<std::int64_t>(free_list_.size() + lru_.size()),
                    "BlockPool: num_free_blocks != free + cached");
}

}  // namespace ferrite::kv
