#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <vector>

namespace ferrite::kv {
namespace {

std::vector<std::int32_t> toks(std::int32_t first, std::int64_t n) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(HashBlock, DeterministicAndOrderSensitive) {
  const auto a = toks(1, 16);
  auto b = a;
  std::swap(b[3], b[4]);
  EXPECT_EQ(hash_block(kRootHash, a), hash_block(kRootHash, a));
  EXPECT_NE(hash_block(kRootHash, a), hash_block(kRootHash, b));
  EXPECT_NE(hash_block(kRootHash, a), hash_block(kRootHash + 1, a));
  // Fixed value: the hash must not change between runs or builds (persisted caches, logs).
  EXPECT_EQ(hash_block(kRootHash, a), hash_block(kRootHash, std::vector<std::int32_t>(a)));
  // Different lengths with a zero tail differ.
  auto c = a;
  c.push_back(0);
  EXPECT_NE(hash_block(kRootHash, a), hash_block(kRootHash, c));
  // Low bits spread (unordered_map buckets use them).
  std::set<std::uint64_t> low;
  for (int i = 0; i < 256; ++i) low.insert(hash_block(kRootHash, toks(i, 16)) & 0xff);
  EXPECT_GT(low.size(), 140u);
}

TEST(BlockPool, AllocateReleaseRefCounts) {
  BlockPool pool(4, 16, true);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  std::vector<std::int32_t> got;
  for (int i = 0; i < 4; ++i) {
    auto b = pool.allocate();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(pool.ref_count(*b), 1);
    got.push_back(*b);
    pool.check_invariants();
  }
  EXPECT_EQ(std::set<std::int32_t>(got.begin(), got.end()).size(), 4u);
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.num_free_blocks(), 0);
  pool.add_ref(got[0]);
  EXPECT_EQ(pool.ref_count(got[0]), 2);
  pool.release(got[0]);
  EXPECT_EQ(pool.ref_count(got[0]), 1);
  EXPECT_EQ(pool.num_free_blocks(), 0);
  pool.release(got[0]);
  EXPECT_EQ(pool.ref_count(got[0]), 0);
  EXPECT_EQ(pool.num_free_blocks(), 1);
  pool.check_invariants();
  auto again = pool.allocate();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, got[0]);
  for (auto b : got) pool.release(b);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  pool.check_invariants();
}

TEST(BlockPoolDeathTest, DoubleFreeAborts) {
  BlockPool pool(2, 16, true);
  auto b = pool.allocate();
  pool.release(*b);
  EXPECT_DEATH(pool.release(*b), "double free");
  EXPECT_DEATH(pool.add_ref(*b), "not in use");
}

TEST(BlockPool, PrefixHitAndCachedState) {
  BlockPool pool(4, 4, true);
  const auto t = toks(10, 4);
  const BlockHash h = hash_block(kRootHash, t);
  EXPECT_FALSE(pool.lookup(h, t).has_value());
  auto b = *pool.allocate();
  pool.register_full(b, h, t);
  pool.check_invariants();
  // In use and registered: a hit shares it.
  auto hit = pool.lookup(h, t);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, b);
  EXPECT_EQ(pool.ref_count(b), 2);
  pool.release(b);
  pool.release(b);
  // Ref 0 but registered: cached, still allocatable.
  EXPECT_EQ(pool.stats().num_cached, 1);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  pool.check_invariants();
  hit = pool.lookup(h, t);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, b);
  EXPECT_EQ(pool.ref_count(b), 1);
  EXPECT_EQ(pool.stats().num_cached, 0);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  pool.check_invariants();
  const auto s = pool.stats();
  EXPECT_EQ(s.queries, 3);
  EXPECT_EQ(s.hits, 2);
  pool.release(b);
}

TEST(BlockPool, PeekTakesNoReference) {
  BlockPool pool(2, 2, true);
  const std::vector<std::int32_t> t{1, 2};
  const BlockHash h = hash_block(kRootHash, t);
  auto b = *pool.allocate();
  pool.register_full(b, h, t);
  pool.release(b);
  EXPECT_EQ(pool.peek(h, t), b);
  EXPECT_EQ(pool.ref_count(b), 0);
  EXPECT_EQ(pool.stats().queries, 0);
  pool.check_invariants();
}

TEST(BlockPool, FreeBlocksBeforeCachedAndLruEvictionOrder) {
  BlockPool pool(4, 2, true);
  std::vector<std::int32_t> blocks;
  std::vector<BlockHash> hashes;
  std::vector<std::vector<std::int32_t>> tokens;
  for (int i = 0; i < 3; ++i) {
    tokens.push_back(toks(100 * i, 2));
    hashes.push_back(hash_block(kRootHash, tokens.back()));
    blocks.push_back(*pool.allocate());
    pool.register_full(blocks.back(), hashes.back(), tokens.back());
  }
  // Release in the order 1, 0, 2: the LRU order.
  pool.release(blocks[1]);
  pool.release(blocks[0]);
  pool.release(blocks[2]);
  pool.check_invariants();
  // Touch block 1 (hit then release): it becomes most recent; the order is now 0, 2, 1.
  ASSERT_EQ(pool.lookup(hashes[1], tokens[1]), blocks[1]);
  pool.release(blocks[1]);
  // The one never-used block goes first, without evicting anything.
  auto fresh = *pool.allocate();
  EXPECT_EQ(pool.stats().evictions, 0);
  EXPECT_EQ(pool.stats().num_cached, 3);
  // Then cached ones, least recently used first, each losing its prefix-cache entry.
  EXPECT_EQ(*pool.allocate(), blocks[0]);
  EXPECT_FALSE(pool.lookup(hashes[0], tokens[0]).has_value());
  EXPECT_EQ(*pool.allocate(), blocks[2]);
  EXPECT_EQ(*pool.allocate(), blocks[1]);
  EXPECT_EQ(pool.stats().evictions, 3);
  EXPECT_FALSE(pool.allocate().has_value());
  pool.check_invariants();
  // An evicted block re-released is free, not cached: its registration is gone.
  pool.release(blocks[0]);
  EXPECT_EQ(pool.stats().num_cached, 0);
  pool.check_invariants();
  pool.release(fresh);
  pool.release(blocks[2]);
  pool.release(blocks[1]);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  pool.check_invariants();
}

TEST(BlockPool, CollisionIsRejectedByTokenCheck) {
  BlockPool pool(4, 2, true);
  const std::vector<std::int32_t> a{1, 2}, b{3, 4};
  const BlockHash forced = 42;  // same key for different tokens
  auto blk = *pool.allocate();
  pool.register_full(blk, forced, a);
  EXPECT_FALSE(pool.lookup(forced, b).has_value());
  EXPECT_EQ(pool.ref_count(blk), 1);
  EXPECT_EQ(pool.lookup(forced, a), blk);
  // Registering the colliding block keeps the first one canonical.
  auto other = *pool.allocate();
  pool.register_full(other, forced, b);
  pool.release(other);
  EXPECT_EQ(pool.stats().num_cached, 0);  // `other` went to the free list
  EXPECT_FALSE(pool.lookup(forced, b).has_value());
  pool.release(blk);
  pool.release(blk);
  pool.check_invariants();
}

TEST(BlockPool, DuplicateRegistrationKeepsFirst) {
  BlockPool pool(4, 2, true);
  const std::vector<std::int32_t> t{7, 8};
  const BlockHash h = hash_block(kRootHash, t);
  auto first = *pool.allocate();
  auto second = *pool.allocate();
  pool.register_full(first, h, t);
  pool.register_full(second, h, t);
  pool.register_full(first, h, t);  // idempotent
  pool.check_invariants();
  EXPECT_EQ(pool.lookup(h, t), first);
  pool.release(first);
  pool.release(second);  // unregistered copy: free
  EXPECT_EQ(pool.stats().num_cached, 0);
  pool.release(first);
  EXPECT_EQ(pool.stats().num_cached, 1);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  pool.check_invariants();
}

TEST(BlockPool, PrefixCachingOffRegistersNothing) {
  BlockPool pool(2, 2, false);
  const std::vector<std::int32_t> t{1, 2};
  const BlockHash h = hash_block(kRootHash, t);
  auto b = *pool.allocate();
  pool.register_full(b, h, t);
  EXPECT_FALSE(pool.lookup(h, t).has_value());
  pool.release(b);
  EXPECT_EQ(pool.stats().num_cached, 0);
  pool.check_invariants();
}

TEST(BlockPoolDeathTest, RegisterPartialBlockAborts) {
  BlockPool pool(2, 4, true);
  auto b = *pool.allocate();
  const std::vector<std::int32_t> t{1, 2};
  EXPECT_DEATH(pool.register_full(b, 1, t), "full blocks");
}

}  // namespace
}  // namespace ferrite::kv
