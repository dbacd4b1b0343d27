// ThreadPool: a fixed set of workers for data-parallel loops. The calling thread takes part in
// every loop, so a pool of N threads has N-1 workers. Loops are statically partitioned: each
// participant gets one contiguous range, which keeps results independent of timing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferrite::base {

class ThreadPool {
 public:
  // num_threads <= 0 means one per hardware thread.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(thread_index, begin, end) over a static split of [0, n) in chunks of at least
  // `grain` items. Blocks until all are done. Not reentrant: fn must not call parallel_for.
  void parallel_for(std::size_t n, std::size_t grain,
                    const std::function<void(int, std::size_t, std::size_t)>& fn);

  // Calls fn(thread_index) once on every participant.
  void run_on_all(const std::function<void(int)>& fn);

  // The process-wide pool used by the CPU kernels.
  static ThreadPool& global();
  // Sets the size of the global pool; takes effect only before its first use.
  static void set_global_threads(int num_threads);

 private:
  void worker_loop(int index);

  // A decode step runs a few hundred short loops, so waking workers through a condition variable
  // each time would cost more than some loops take. Workers and the caller therefore spin for a
  // short while (kSpinIters pause instructions) before they block.
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(int)>* task_ = nullptr;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  int sleeping_ = 0;  // workers blocked on cv_start_ (guarded by mu_)
  bool stop_ = false;
};

}  // namespace ferrite::base
