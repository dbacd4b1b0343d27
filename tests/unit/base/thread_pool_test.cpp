#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace ferrite::base {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.num_threads(), threads);
    for (std::size_t n : {0, 1, 2, 3, 5, 7, 8, 16, 17, 100, 1000, 1023, 4096}) {
      for (std::size_t grain : {0, 1, 2, 3, 7, 64, 1000, 5000}) {
        SCOPED_TRACE(testing::Message() << "threads " << threads << " n " << n << " grain " << grain);
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> calls{0};
        std::mutex mu;
        std::set<int> thread_ids;
        const std::size_t g = grain == 0 ? 1 : grain;
        pool.parallel_for(n, grain, [&](int t, std::size_t b, std::size_t e) {
          ASSERT_LT(b, e);  // no empty chunks
          if (n >= g) {
            EXPECT_GE(e - b, g) << "a chunk smaller than the grain";
          }
          ASSERT_LE(e, n);
          ASSERT_GE(t, 0);
          ASSERT_LT(t, threads);
          {
            std::lock_guard<std::mutex> lock(mu);
            EXPECT_TRUE(thread_ids.insert(t).second) << "two chunks on thread " << t;
          }
          ++calls;
          for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
        EXPECT_LE(static_cast<std::size_t>(calls.load()), n == 0 ? 0 : (n + g - 1) / g);
        EXPECT_LE(calls.load(), threads);
      }
    }
  }
}

TEST(ThreadPoolTest, PartitionIsStatic) {
  ThreadPool pool(4);
  auto record = [&] {
    std::vector<std::pair<std::size_t, std::size_t>> chunks(4, {0, 0});
    pool.parallel_for(1001, 1, [&](int t, std::size_t b, std::size_t e) {
      chunks[static_cast<std::size_t>(t)] = {b, e};
    });
    return chunks;
  };
  const auto first = record();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(record(), first);
}

TEST(ThreadPoolTest, RunOnAllCallsEveryParticipantOnce) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 500; ++rep) {
      std::vector<std::atomic<int>> seen(static_cast<std::size_t>(threads));
      pool.run_on_all([&](int t) {
        ASSERT_GE(t, 0);
        ASSERT_LT(t, threads);
        seen[static_cast<std::size_t>(t)].fetch_add(1);
      });
      for (int t = 0; t < threads; ++t) ASSERT_EQ(seen[static_cast<std::size_t>(t)].load(), 1) << "rep " << rep;
    }
  }
}

TEST(ThreadPoolTest, CallerIsThreadZero) {
  ThreadPool pool(3);
  const auto me = std::this_thread::get_id();
  std::vector<std::thread::id> ids(3);
  pool.run_on_all([&](int t) { ids[static_cast<std::size_t>(t)] = std::this_thread::get_id(); });
  EXPECT_EQ(ids[0], me);
  EXPECT_NE(ids[1], me);
  EXPECT_NE(ids[2], me);
  EXPECT_NE(ids[1], ids[2]);
}

TEST(ThreadPoolTest, ManyBackToBackLoopsAndTeardown) {
  // Repeated start/finish handshakes and pool destruction: a lost wakeup would hang here.
  for (int p = 0; p < 20; ++p) {
    auto pool = std::make_unique<ThreadPool>(1 + p % 4);
    std::atomic<std::size_t> sum{0};
    for (int i = 0; i < 200; ++i)
      pool->parallel_for(64, 1, [&](int, std::size_t b, std::size_t e) {
        for (std::size_t k = b; k < e; ++k) sum += k;
      });
    EXPECT_EQ(sum.load(), 200u * (63u * 64u / 2u));
  }
}

TEST(ThreadPoolTest, DefaultAndGlobal) {
  ThreadPool pool;  // one per hardware thread
  EXPECT_GE(pool.num_threads(), 1);
  EXPECT_GE(ThreadPool::global().num_threads(), 1);
  std::atomic<int> n{0};
  ThreadPool::global().parallel_for(10, 1, [&](int, std::size_t b, std::size_t e) { n += static_cast<int>(e - b); });
  EXPECT_EQ(n.load(), 10);
}

}  // namespace
}  // namespace ferrite::base
