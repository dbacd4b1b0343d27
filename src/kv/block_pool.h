// BlockPool: hands out KV-cache block ids and keeps the prefix cache.
//
// Invariants (checked by check_invariants(), after every step in debug builds and tests):
//  - every block id in [0, num_blocks) is in exactly one state:
//      free       ref_count 0, not cached, on the free list;
//      cached     ref_count 0, registered in the prefix cache, on the LRU evictable list;
//      in use     ref_count >= 1 (possibly also registered in the prefix cache);
//  - the prefix-cache map and the blocks' recorded hashes agree one to one;
//  - num_free_blocks() == free + cached (both can be handed out by allocate()).
// A full block is registered under hash_block(parent_hash, its tokens): the hash chain makes a
// block's key depend on every token before it, so equal keys mean equal prefixes (up to 64-bit
// collisions, which the token check in lookup() rules out).
// Only the pool hands out block ids. It never touches KV data.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace ferrite::kv {

using BlockHash = std::uint64_t;
constexpr BlockHash kRootHash = 0x6a09e667f3bcc908ull;  // parent hash of a sequence's first block

// Hash of a full block: its parent's hash and its token ids.
BlockHash hash_block(BlockHash parent, std::span<const std::int32_t> tokens);

struct BlockPoolStats {
  std::int64_t num_blocks = 0;
  std::int64_t num_free = 0;        // free + cached (allocatable)
  std::int64_t num_cached = 0;      // ref 0 but reusable by a prefix hit
  std::int64_t queries = 0;         // lookup() calls
  std::int64_t hits = 0;            // lookup() calls that found a block
  std::int64_t evictions = 0;
};

class BlockPool {
 public:
  BlockPool(std::int64_t num_blocks, std::int64_t block_size, bool enable_prefix_caching);

  std::int64_t num_blocks() const { return num_blocks_; }
  std::int64_t block_size() const { return block_size_; }
  bool prefix_caching() const { return enable_prefix_caching_; }
  std::int64_t num_free_blocks() const;

  // A block for new KV data (ref 1): a free one, else the least recently used cached one
  // (evicted from the prefix cache). nullopt when every block is in use.
  std::optional<std::int32_t> allocate();
  // Drops one reference. At 0 a registered block becomes cached (most recently used end of the
  // LRU), an unregistered one free.
  void release(std::int32_t block);
  // One more owner of an in-use block.
  void add_ref(std::int32_t block);
  std::int32_t ref_count(std::int32_t block) const;

  // Prefix cache. lookup() finds the block registered under `hash` holding exactly `tokens`,
  // takes a reference on it (moving it off the LRU list if it was cached) and returns it.
  std::optional<std::int32_t> lookup(BlockHash hash, std::span<const std::int32_t> tokens);
  // The block lookup() would return, without taking a reference or counting a query: the
  // scheduler checks that a sequence fits before it commits to the hits.
  std::optional<std::int32_t> peek(BlockHash hash, std::span<const std::int32_t> tokens) const;
  // Registers a full, in-use block under `hash` (its tokens are kept for the collision check).
  // If another block already holds that hash, nothing changes (the first stays canonical).
  void register_full(std::int32_t block, BlockHash hash, std::span<const std::int32_t> tokens);

  BlockPoolStats stats() const;
  // Aborts with a message when an invariant above is broken.
  void check_invariants() const;

 private:
  struct Block {
    std::int32_t ref = 0;
    bool registered = false;
    BlockHash hash = 0;
    std::vector<std::int32_t> tokens;  // when registered
    std::list<std::int32_t>::iterator lru_it;
    bool on_lru = false;
  };
  std::int64_t num_blocks_;
  std::int64_t block_size_;
  bool enable_prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<std::int32_t> free_list_;
  std::list<std::int32_t> lru_;  // cached blocks, least recently used first
  std::unordered_map<BlockHash, std::int32_t> cache_;
  std::int64_t queries_ = 0, hits_ = 0, evictions_ = 0;
};

}  // namespace ferrite::kv
