// The floors measured and reported the same way by every benchmark that states its numbers as a
// fraction of the machine (bench_model, bench_moe): read bandwidth with small and huge pages and
// the fp32 FMA peak (AVX-512 and AVX2), each on every thread and on one, as one JSON object.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/thread_pool.h"
#include "benchmarks/model/floors.h"

namespace ferrite::bench {

// The machine lines every benchmark's JSON carries.
inline std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

inline std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

inline std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// CPU, threads, ISA, transparent huge pages and the load average when the run starts.
inline nlohmann::ordered_json machine_json() {
  nlohmann::ordered_json machine;
  machine["cpu"] = cpu_model_name();
  machine["hardware_threads"] = std::thread::hardware_concurrency();
  machine["avx512f"] = cpu_has_avx512();
  machine["avx2_fma"] = cpu_has_avx2_fma();
  machine["transparent_hugepage"] = read_first_line("/sys/kernel/mm/transparent_hugepage/enabled");
  machine["loadavg_start"] = read_first_line("/proc/loadavg");
  return machine;
}

struct Floors {
  double bandwidth_gbps = 0;                // all threads
  double peak_gflops = 0;                   // all threads, the widest FMA the linear kernel uses
  double single_thread_bandwidth_gbps = 0;  // the same pass on one thread (best of the two page sizes)
  double single_thread_peak_gflops = 0;
};

// `quick` shrinks the FMA loops and the repetitions so a smoke test stays fast; its floors mean nothing.
inline nlohmann::ordered_json measure_floors(int threads, std::int64_t bandwidth_mib, bool quick, Floors* floors) {
  using Json = nlohmann::ordered_json;
  const auto round2 = [](double x) { return std::round(x * 100.0) / 100.0; };
  Json jf;
  base::ThreadPool pool(threads);
  const std::size_t bw_bytes = static_cast<std::size_t>(bandwidth_mib) << 20;
  const int bw_reps = quick ? 2 : 5;
  std::fprintf(stderr, "floors: read bandwidth, %lld MiB buffer\n", static_cast<long long>(bandwidth_mib));
  Json bw;
  double best_bw = 0;
  for (bool huge : {false, true}) {
    const BandwidthResult r = measure_read_bandwidth(pool, bw_bytes, bw_reps, huge);
    Json j;
    j["buffer_bytes"] = r.buffer_bytes;
    j["reps"] = r.reps;
    j["kernel"] = r.avx512 ? "avx512 loads, 8 accumulators" : "avx2 loads, 8 accumulators";
    j["all_threads_gbps"] = round2(r.all_threads_gbps);
    j["single_thread_gbps"] = round2(r.single_thread_gbps);
    bw[huge ? "huge_pages" : "small_pages"] = j;
    best_bw = std::max(best_bw, r.all_threads_gbps);
    floors->single_thread_bandwidth_gbps = std::max(floors->single_thread_bandwidth_gbps, r.single_thread_gbps);
  }
  floors->bandwidth_gbps = best_bw;
  bw["floor_gbps"] = round2(best_bw);
  bw["floor_rule"] = "max of the all-thread small-page and huge-page results";
  jf["memory_read_bandwidth"] = bw;

  const std::int64_t iters = quick ? 1'000'000 : 50'000'000;
  const int fma_reps = quick ? 2 : 5;
  std::fprintf(stderr, "floors: fp32 FMA peak\n");
  Json fma;
  for (bool wide : {true, false}) {
    const FmaPeakResult r =
        wide ? measure_fma_peak_avx512(pool, iters, fma_reps) : measure_fma_peak_avx2(pool, iters, fma_reps);
    Json j;
    j["supported"] = r.supported;
    j["lanes"] = r.lanes;
    j["accumulators_per_thread"] = r.accumulators;
    j["iterations"] = r.iterations;
    j["reps"] = r.reps;
    j["all_threads_gflops"] = round2(r.all_threads_gflops);
    j["single_thread_gflops"] = round2(r.single_thread_gflops);
    j["per_thread_gflops_cpu_time"] = round2(r.per_thread_gflops_cpu_time);
    j["all_threads_gflops_if_uncontended"] = round2(r.per_thread_gflops_cpu_time * pool.num_threads());
    fma[wide ? "avx512" : "avx2"] = j;
    if (r.supported && floors->peak_gflops == 0) {
      floors->peak_gflops = r.all_threads_gflops;
      floors->single_thread_peak_gflops = r.single_thread_gflops;
    }
  }
  fma["floor_gflops"] = round2(floors->peak_gflops);
  fma["floor_rule"] = "avx512 all-thread peak when the CPU has avx512f (the linear kernel's path), else avx2";
  jf["fma_fp32"] = fma;
  return jf;
}

}  // namespace ferrite::bench
