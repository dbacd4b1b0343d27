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

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  std::size_t seen = 0;
  for (;;) {
    const std::function<void(int)>* task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      task = task_;
    }
    (*task)(index);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) cv_done_.notify_one();
    }
  }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = &fn;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  cv_start_.notify_all();
  fn(0);
  std::unique_lock<std::mutex> lock(mu_);
  cv_done_.wait(lock, [&] { return pending_ == 0; });
  task_ = nullptr;
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
