#include "benchmarks/model/floors.h"

#include <immintrin.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "base/check.h"

namespace ferrite::bench {

namespace {

#define FERRITE_BENCH_AVX512 __attribute__((target("avx512f")))
#define FERRITE_BENCH_AVX2 __attribute__((target("avx2,fma")))

// Results land here so the compiler cannot drop a loop whose sum nobody reads.
volatile double g_sink = 0;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Horizontal sums through memory: the _mm512_reduce_add_ps header code trips GCC 12's
// -Wuninitialized (GCC bug 105593), and these run once per pass, so speed does not matter.
FERRITE_BENCH_AVX512 float hsum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float total = 0;
  for (float x : lanes) total += x;
  return total;
}

FERRITE_BENCH_AVX2 float hsum(__m256 v) {
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  float total = 0;
  for (float x : lanes) total += x;
  return total;
}

// Eight independent accumulators: one add chain would be limited by add latency (4 cycles)
// rather than by the loads, and a streaming read must keep the load ports busy to reach DRAM.
constexpr std::size_t kSumChunk512 = 8 * 16;  // floats per iteration
constexpr std::size_t kSumChunk256 = 8 * 8;

FERRITE_BENCH_AVX512 float sum_avx512(const float* p, std::size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (std::size_t i = 0; i + kSumChunk512 <= n; i += kSumChunk512) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    a4 = _mm512_add_ps(a4, _mm512_load_ps(p + i + 64));
    a5 = _mm512_add_ps(a5, _mm512_load_ps(p + i + 80));
    a6 = _mm512_add_ps(a6, _mm512_load_ps(p + i + 96));
    a7 = _mm512_add_ps(a7, _mm512_load_ps(p + i + 112));
  }
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                 _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  return hsum(s);
}

FERRITE_BENCH_AVX2 float sum_avx2(const float* p, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (std::size_t i = 0; i + kSumChunk256 <= n; i += kSumChunk256) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
    a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
    a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
    a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                 _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  return hsum(s);
}

// Chains of acc = acc * m + c with m < 1: the values converge to c / (1 - m) and never
// overflow or go denormal, so every FMA runs at full speed for any iteration count.
// 16 chains cover the 4-cycle FMA latency on 2 ports with room to spare; they and the two
// constants fit in the 32 zmm registers, so the loop touches no memory.
constexpr int kAcc512 = 16;
// AVX2 code has only 16 ymm registers: 12 chains + 2 constants still cover 4 x 2.
constexpr int kAcc256 = 12;

FERRITE_BENCH_AVX512 float fma_chains_avx512(std::int64_t iterations) {
  __m512 acc[kAcc512];
  for (int j = 0; j < kAcc512; ++j) acc[j] = _mm512_set1_ps(0.001f * static_cast<float>(j));
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  for (std::int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kAcc512; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kAcc512; ++j) s = _mm512_add_ps(s, acc[j]);
  return hsum(s);
}

FERRITE_BENCH_AVX2 float fma_chains_avx2(std::int64_t iterations) {
  __m256 acc[kAcc256];
  for (int j = 0; j < kAcc256; ++j) acc[j] = _mm256_set1_ps(0.001f * static_cast<float>(j));
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (std::int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kAcc256; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, c);
  }
  __m256 s = acc[0];
  for (int j = 1; j < kAcc256; ++j) s = _mm256_add_ps(s, acc[j]);
  return hsum(s);
}

// A buffer from aligned_alloc, as backend::Tensor allocates weights, so the floor sees the same
// page size the model does unless huge pages are asked for.
struct Buffer {
  explicit Buffer(std::size_t bytes) : bytes_(bytes) {
    data_ = static_cast<float*>(std::aligned_alloc(2u << 20, bytes));
    FERRITE_CHECK_MSG(data_ != nullptr, "bandwidth buffer allocation failed");
  }
  ~Buffer() { std::free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* data_;
  std::size_t bytes_;
};

FmaPeakResult measure_fma_peak(base::ThreadPool& pool, std::int64_t iterations, int reps, bool supported, int lanes,
                               int accumulators, float (*kernel)(std::int64_t)) {
  FmaPeakResult r;
  r.supported = supported;
  r.lanes = lanes;
  r.accumulators = accumulators;
  r.iterations = iterations;
  r.reps = reps;
  if (!supported) return r;
  const double flops_per_thread = 2.0 * lanes * accumulators * static_cast<double>(iterations);
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    g_sink = g_sink + kernel(iterations);
    r.single_thread_gflops = std::max(r.single_thread_gflops, flops_per_thread / seconds_since(t0) / 1e9);

    std::vector<float> partial(static_cast<std::size_t>(pool.num_threads()));
    std::vector<double> cpu_s(partial.size());
    t0 = std::chrono::steady_clock::now();
    pool.run_on_all([&](int t) {
      const double c0 = thread_cpu_seconds();
      partial[static_cast<std::size_t>(t)] = kernel(iterations);
      cpu_s[static_cast<std::size_t>(t)] = thread_cpu_seconds() - c0;
    });
    const double s = seconds_since(t0);
    for (float v : partial) g_sink = g_sink + v;
    for (double c : cpu_s)
      if (c > 0) r.per_thread_gflops_cpu_time = std::max(r.per_thread_gflops_cpu_time, flops_per_thread / c / 1e9);
    r.all_threads_gflops = std::max(r.all_threads_gflops, flops_per_thread * pool.num_threads() / s / 1e9);
  }
  return r;
}

}  // namespace

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

BandwidthResult measure_read_bandwidth(base::ThreadPool& pool, std::size_t bytes, int reps, bool huge_pages) {
  BandwidthResult r;
  r.avx512 = cpu_has_avx512();
  r.huge_pages = huge_pages;
  r.reps = reps;
  r.threads = pool.num_threads();
  const std::size_t chunk_bytes = 2u << 20;  // whole 2 MiB pages, which also keeps the loops' chunks whole
  bytes = std::max(chunk_bytes, bytes / chunk_bytes * chunk_bytes);
  r.buffer_bytes = bytes;
  Buffer buf(bytes);
  if (huge_pages) madvise(buf.data_, bytes, MADV_HUGEPAGE);

  // Each thread reads the slice it wrote: on a multi-socket host first touch puts it locally.
  const std::size_t floats = bytes / sizeof(float);
  const auto threads = static_cast<std::size_t>(pool.num_threads());
  auto slice = [&](std::size_t t) {
    const std::size_t b = floats * t / threads / kSumChunk512 * kSumChunk512;
    const std::size_t e = t + 1 == threads ? floats : floats * (t + 1) / threads / kSumChunk512 * kSumChunk512;
    return std::pair<std::size_t, std::size_t>{b, e};
  };
  pool.run_on_all([&](int t) {
    const auto [b, e] = slice(static_cast<std::size_t>(t));
    std::fill(buf.data_ + b, buf.data_ + e, 1e-3f * static_cast<float>(t + 1));
  });

  auto sum = [&](const float* p, std::size_t n) { return r.avx512 ? sum_avx512(p, n) : sum_avx2(p, n); };
  std::vector<float> partial(threads);
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    pool.run_on_all([&](int t) {
      const auto [b, e] = slice(static_cast<std::size_t>(t));
      partial[static_cast<std::size_t>(t)] = sum(buf.data_ + b, e - b);
    });
    const double s = seconds_since(t0);
    for (float v : partial) g_sink = g_sink + v;
    r.all_threads_gbps = std::max(r.all_threads_gbps, static_cast<double>(bytes) / s / 1e9);
  }
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    g_sink = g_sink + sum(buf.data_, floats);
    r.single_thread_gbps = std::max(r.single_thread_gbps, static_cast<double>(bytes) / seconds_since(t0) / 1e9);
  }
  return r;
}

FmaPeakResult measure_fma_peak_avx512(base::ThreadPool& pool, std::int64_t iterations, int reps) {
  return measure_fma_peak(pool, iterations, reps, cpu_has_avx512(), 16, kAcc512, fma_chains_avx512);
}

FmaPeakResult measure_fma_peak_avx2(base::ThreadPool& pool, std::int64_t iterations, int reps) {
  return measure_fma_peak(pool, iterations, reps, cpu_has_avx2_fma(), 8, kAcc256, fma_chains_avx2);
}

}  // namespace ferrite::bench
