// The machine's floors for bench_model: how fast memory can be streamed and how many fp32 FLOPs
// the cores can issue. Model numbers are reported as fractions of these (DESIGN.md,
// "Performance"), so they are measured by the same binary in the same run, not taken from a
// datasheet: a VM's share of a socket is whatever the host gives it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"

namespace ferrite::bench {

struct BandwidthResult {
  std::size_t buffer_bytes = 0;
  int reps = 0;
  int threads = 0;
  bool avx512 = false;      // which summing loop ran
  bool huge_pages = false;  // buffer advised MADV_HUGEPAGE
  double all_threads_gbps = 0;
  double single_thread_gbps = 0;
};

// Streams a buffer of `bytes` (touched first, split in one contiguous slice per thread) and
// sums it with several independent vector accumulators; the best of `reps` passes, in GB/s
// (1e9 bytes). `huge_pages` asks the kernel for transparent huge pages on the buffer.
BandwidthResult measure_read_bandwidth(base::ThreadPool& pool, std::size_t bytes, int reps, bool huge_pages);

struct FmaPeakResult {
  bool supported = false;
  int lanes = 0;         // fp32 lanes per vector
  int accumulators = 0;  // independent FMA chains per thread
  std::int64_t iterations = 0;
  int reps = 0;
  double all_threads_gflops = 0;
  double single_thread_gflops = 0;
  // FLOPs over the thread's own CPU time (CLOCK_THREAD_CPUTIME_ID), best thread and rep. A
  // register-only loop runs at the same speed whenever it is on a core, so this is the per-core
  // peak even when other processes share the machine; all_threads_gflops well below
  // threads x this says the wall-clock floor was taken on a busy machine.
  double per_thread_gflops_cpu_time = 0;
};

// Register-only loops of independent FMA chains, 2 FLOPs per lane per FMA; best of `reps`.
FmaPeakResult measure_fma_peak_avx512(base::ThreadPool& pool, std::int64_t iterations, int reps);
FmaPeakResult measure_fma_peak_avx2(base::ThreadPool& pool, std::int64_t iterations, int reps);

bool cpu_has_avx512();
bool cpu_has_avx2_fma();

}  // namespace ferrite::bench
