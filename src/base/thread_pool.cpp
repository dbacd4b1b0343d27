#include "base/thread_pool.h"

#include <algorithm>

namespace ferrite::base {

namespace {
int g_requested_threads = 0;
}

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

namespace {

// About 20-50 microseconds of spinning: longer than a dispatch gap inside a forward pass,
// short enough that idle workers go to sleep almost at once.
constexpr int kSpinIters = 20000;

// Pauses one spin iteration; every 64th gives the core away, so that on an oversubscribed
// machine a spinning thread does not keep the thread with real work off the CPU.
inline void cpu_relax(int i) {
  if ((i & 63) == 63) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  std::uint64_t seen = 0;
  for (;;) {
    std::uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int i = 0; gen == seen && i < kSpinIters; ++i) {
      cpu_relax(i);
      gen = generation_.load(std::memory_order_acquire);
    }
    const std::function<void(int)>* task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (gen == seen) {
        ++sleeping_;
        cv_start_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
        --sleeping_;
      }
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      task = task_;
    }
    (*task)(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_done_.notify_one();
    }
  }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = &fn;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleeping_ > 0;
  }
  if (wake) cv_start_.notify_all();
  fn(0);
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0 && i < kSpinIters; ++i) cpu_relax(i);
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
}

void ThreadPool::parallel_for(std::size_t n, std::size_t grain,
                              const std::function<void(int, std::size_t, std::size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<std::size_t>(grain, 1);
  // Every chunk gets at least `grain` items (one chunk when n < grain).
  const std::size_t max_parts = std::max<std::size_t>(1, n / grain);
  const std::size_t parts = std::min<std::size_t>(static_cast<std::size_t>(num_threads()), max_parts);
  if (parts <= 1) {
    fn(0, 0, n);
    return;
  }
  run_on_all([&](int t) {
    const auto ut = static_cast<std::size_t>(t);
    if (ut >= parts) return;
    const std::size_t begin = n * ut / parts;
    const std::size_t end = n * (ut + 1) / parts;
    if (begin < end) fn(t, begin, end);
  });
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_requested_threads);
  return pool;
}

void ThreadPool::set_global_threads(int num_threads) { g_requested_threads = num_threads; }

}  // namespace ferrite::base
