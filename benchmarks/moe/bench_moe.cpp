// bench_moe: one mixture-of-experts layer (router linear + softmax top-k + expert pass, the ops
// SparseMoeBlock::forward calls) at a Qwen3-30B-A3B-like shape on dummy bf16 weights and f32
// activations, for a few token counts, against the floors this machine measures in the same run:
//   memory:  (distinct experts selected x 3 matrices x hidden x inter + experts x hidden) x 2 bytes
//            over the measured read bandwidth (only the experts some token chose are read);
//   compute: 2 x T x (top_k x 3 x hidden x inter + experts x hidden) FLOPs over the fp32 FMA peak.
// The larger of the two binds. Before every timed call a buffer larger than the last-level cache
// is streamed (untimed), so the weights come from DRAM as they do in a model whose other layers
// run in between; --no-flush times warm caches instead. Every repetition routes a different
// random batch, so each picks its own experts. It also reports how the routed (token, slot) pairs
// spread over the experts. JSON goes to stdout (and --json FILE), progress to stderr; --quick
// runs a tiny shape so a ctest keeps this building and running, and its numbers mean nothing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "base/check.h"
#include "base/thread_pool.h"
#include "benchmarks/model/floors.h"
#include "benchmarks/model/floors_report.h"

namespace ferrite::bench {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using backend::DType;
using backend::Shape;
using backend::Tensor;

// Qwen3-30B-A3B: hidden 2048, 128 experts, top-8, moe_intermediate_size 768, norm_topk_prob.
// The default halves hidden and inter (a quarter of the bytes and FLOPs per expert) and keeps the
// expert count, top-k (so 1/16 of the experts are active per token) and inter/hidden = 0.375.
struct Options {
  std::int64_t hidden = 1024;
  std::int64_t experts = 128;
  std::int64_t top_k = 8;
  std::int64_t inter = 384;
  std::vector<std::int64_t> tokens = {1, 16, 256};
  int threads = 2;
  std::int64_t bandwidth_mib = 2048;
  std::int64_t flush_mib = 768;
  bool flush = true;
  std::uint64_t seed = 0;
  std::string json_path;
  bool quick = false;
};

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: bench_moe [--hidden N] [--experts N] [--top-k N] [--inter N] [--tokens N,N,...]\n"
               "                 [--threads N] [--bandwidth-mib N] [--flush-mib N] [--no-flush] [--seed N]\n"
               "                 [--json FILE] [--quick]\n");
}

bool parse_int(const char* s, std::int64_t lo, std::int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < lo) return false;
  *out = v;
  return true;
}

bool parse_args(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    std::int64_t n = 0;
    auto take = [&](std::int64_t lo, std::int64_t* dst) {
      if (!v || !parse_int(v, lo, dst)) return false;
      ++i;
      return true;
    };
    if (a == "--hidden" && take(16, &o->hidden)) continue;
    if (a == "--experts" && take(1, &o->experts)) continue;
    if (a == "--top-k" && take(1, &o->top_k)) continue;
    if (a == "--inter" && take(16, &o->inter)) continue;
    if (a == "--bandwidth-mib" && take(2, &o->bandwidth_mib)) continue;
    if (a == "--flush-mib" && take(1, &o->flush_mib)) continue;
    if (a == "--threads" && take(1, &n)) {
      o->threads = static_cast<int>(n);
      continue;
    }
    if (a == "--seed" && take(0, &n)) {
      o->seed = static_cast<std::uint64_t>(n);
      continue;
    }
    if (a == "--tokens" && v) {
      o->tokens.clear();
      std::string s = v;
      ++i;
      for (std::size_t p = 0; p <= s.size();) {
        const std::size_t q = std::min(s.find(',', p), s.size());
        if (!parse_int(s.substr(p, q - p).c_str(), 1, &n)) return usage(stderr), false;
        o->tokens.push_back(n);
        p = q + 1;
      }
      continue;
    }
    if (a == "--json" && v) {
      o->json_path = v;
      ++i;
      continue;
    }
    if (a == "--no-flush") {
      o->flush = false;
      continue;
    }
    if (a == "--quick") {
      o->quick = true;
      continue;
    }
    if (a == "--help" || a == "-h") return usage(stdout), std::exit(0), false;
    std::fprintf(stderr, "bench_moe: bad argument '%s'\n", a.c_str());
    usage(stderr);
    return false;
  }
  if (o->top_k > o->experts) {
    std::fprintf(stderr, "bench_moe: --top-k must not exceed --experts\n");
    return false;
  }
  if (o->quick) {
    o->hidden = 128;
    o->experts = 16;
    o->top_k = 4;
    o->inter = 64;
    o->bandwidth_mib = 64;
    o->flush_mib = 8;
  }
  return true;
}

double round_to(double x, int digits) {
  const double s = std::pow(10.0, digits);
  return std::round(x * s) / s;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// splitmix64: a deterministic stream per (seed, stream id), so every run routes the same batches.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float scale) {  // in [-scale, scale)
    return scale * (static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
};

Tensor random_tensor(Shape shape, float scale, std::uint64_t stream) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  Rng r{stream * 0x2545F4914F6CDD1Dull + 1};
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = r.uniform(scale);
  return t;
}

// Streams a buffer larger than the last-level cache so the next timed call finds no weights there.
class CacheFlusher {
 public:
  CacheFlusher(std::size_t bytes, int threads) : words_(bytes / 8, 1), pool_(threads) {}
  void flush() {
    const std::size_t n = words_.size();
    std::vector<std::uint64_t> part(static_cast<std::size_t>(pool_.num_threads()), 0);
    pool_.parallel_for(n, 1 << 16, [&](int tid, std::size_t b, std::size_t e) {
      std::uint64_t s = 0;
      for (std::size_t i = b; i < e; ++i) s += words_[i];
      part[static_cast<std::size_t>(tid)] += s;
    });
    std::uint64_t total = 0;
    for (std::uint64_t s : part) total += s;
    sink_ = total;
  }

 private:
  std::vector<std::uint64_t> words_;
  base::ThreadPool pool_;
  volatile std::uint64_t sink_ = 0;
};

struct Layer {
  backend::LinearWeight router;
  backend::MoeWeights experts;
};

Layer make_layer(backend::Backend& be, const Options& o) {
  const std::int64_t h = o.hidden, e_n = o.experts, inter = o.inter;
  Layer l;
  // Router weights ~ U(+-1/sqrt(h)) on inputs ~ U(+-1.7) give logits of standard deviation about 1:
  // random, not trained, so the load comes out near-uniform.
  auto r = be.prepare_linear(random_tensor(Shape{e_n, h}, 1.0f / std::sqrt(static_cast<float>(h)), o.seed * 7 + 1),
                             Tensor(), DType::kBF16);
  FERRITE_CHECK(r.ok());
  l.router = std::move(*r);
  std::vector<Tensor> gate_up, down;
  const float s_in = 1.0f / std::sqrt(static_cast<float>(h)), s_mid = 1.0f / std::sqrt(static_cast<float>(inter));
  for (std::int64_t e = 0; e < e_n; ++e) {
    gate_up.push_back(random_tensor(Shape{2 * inter, h}, s_in, o.seed * 7919 + 100 + 2 * e));
    down.push_back(random_tensor(Shape{h, inter}, s_mid, o.seed * 7919 + 101 + 2 * e));
  }
  auto m = be.prepare_moe(gate_up, down, DType::kBF16);
  FERRITE_CHECK(m.ok());
  l.experts = std::move(*m);
  return l;
}

std::int64_t reps_for(std::int64_t tokens, bool quick) {
  if (quick) return 2;
  return tokens <= 1 ? 41 : tokens <= 16 ? 21 : tokens <= 64 ? 15 : 9;
}

Json load_json(const std::vector<std::int64_t>& per_expert) {
  std::vector<double> v(per_expert.begin(), per_expert.end());
  const double m = mean(v);
  double var = 0, total = 0;
  std::int64_t zero = 0;
  for (double x : v) {
    var += (x - m) * (x - m);
    total += x;
    zero += x == 0;
  }
  var /= static_cast<double>(v.size());
  Json j;
  j["pairs"] = static_cast<std::int64_t>(total);
  j["mean"] = round_to(m, 3);
  j["min"] = *std::min_element(v.begin(), v.end());
  j["median"] = round_to(median(v), 1);
  j["max"] = *std::max_element(v.begin(), v.end());
  j["experts_with_zero"] = zero;
  j["coefficient_of_variation"] = round_to(m > 0 ? std::sqrt(var) / m : 0, 3);
  return j;
}

// Times router alone and the whole layer for T tokens on `threads` threads.
Json measure(const Layer& layer, const Options& o, std::int64_t t_n, int threads, const Floors& floors,
             CacheFlusher& flusher, std::vector<std::int64_t>* first_batch_load) {
  auto be = backend::make_cpu_backend(threads);
  const std::int64_t h = o.hidden, e_n = o.experts, k = o.top_k, inter = o.inter;
  const std::int64_t reps = reps_for(t_n, o.quick), warmup = 2;
  Tensor logits = Tensor::empty(Shape{t_n, e_n}, DType::kF32);
  Tensor ids = Tensor::empty(Shape{t_n, k}, DType::kI32), wts = Tensor::empty(Shape{t_n, k}, DType::kF32);
  Tensor out = Tensor::empty(Shape{t_n, h}, DType::kF32);
  std::vector<double> router_ms, layer_ms, distinct;
  std::vector<std::int64_t> load_total(static_cast<std::size_t>(e_n), 0);
  bool finite = true;
  for (std::int64_t rep = 0; rep < warmup + reps; ++rep) {
    const Tensor x =
        random_tensor(Shape{t_n, h}, 1.7f,
                      o.seed * 1000003 + 977 * static_cast<std::uint64_t>(t_n) + static_cast<std::uint64_t>(rep));
    if (o.flush) flusher.flush();
    auto t0 = Clock::now();
    be->linear(x, layer.router, logits);
    be->moe_route(logits, k, true, ids, wts);
    const double r_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (o.flush) flusher.flush();
    t0 = Clock::now();
    be->linear(x, layer.router, logits);
    be->moe_route(logits, k, true, ids, wts);
    be->moe_experts(x, ids, wts, layer.experts, out);
    const double l_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (rep < warmup) continue;
    router_ms.push_back(r_ms);
    layer_ms.push_back(l_ms);
    std::vector<std::int64_t> load(static_cast<std::size_t>(e_n), 0);
    const std::int32_t* id = ids.data<std::int32_t>();
    for (std::int64_t i = 0; i < t_n * k; ++i) ++load[static_cast<std::size_t>(id[i])];
    std::int64_t d = 0;
    for (std::int64_t e = 0; e < e_n; ++e) {
      d += load[static_cast<std::size_t>(e)] > 0;
      load_total[static_cast<std::size_t>(e)] += load[static_cast<std::size_t>(e)];
    }
    distinct.push_back(static_cast<double>(d));
    if (rep == warmup && first_batch_load) *first_batch_load = load;
    for (std::int64_t i = 0; i < t_n * h; ++i) finite = finite && std::isfinite(out.data<float>()[i]);
  }

  const bool one = threads == 1;
  const double bw = one ? floors.single_thread_bandwidth_gbps : floors.bandwidth_gbps;
  const double peak = one ? floors.single_thread_peak_gflops : floors.peak_gflops;
  const double router_bytes = static_cast<double>(e_n * h * 2);
  const double expert_bytes = 3.0 * static_cast<double>(h * inter) * 2.0;
  const double router_flops = 2.0 * static_cast<double>(t_n * e_n * h);
  const double expert_flops = 2.0 * static_cast<double>(t_n * k) * 3.0 * static_cast<double>(h * inter);
  auto floors_json = [&](double bytes, double flops, double ms_median, double ms_min) {
    const double mem_ms = bytes / (bw * 1e9) * 1e3, cmp_ms = flops / (peak * 1e9) * 1e3;
    const double floor_ms = std::max(mem_ms, cmp_ms);
    Json j;
    j["ms_median"] = round_to(ms_median, 4);
    j["ms_min"] = round_to(ms_min, 4);
    j["bytes"] = round_to(bytes, 0);
    j["flops"] = round_to(flops, 0);
    j["memory_floor_ms"] = round_to(mem_ms, 4);
    j["compute_floor_ms"] = round_to(cmp_ms, 4);
    j["binding_floor"] = mem_ms >= cmp_ms ? "memory" : "compute";
    j["achieved_gbps"] = round_to(bytes / (ms_median * 1e-3) / 1e9, 2);
    j["achieved_gflops"] = round_to(flops / (ms_median * 1e-3) / 1e9, 2);
    j["fraction_of_floor"] = round_to(floor_ms / ms_median, 3);  // binding floor / median time
    j["fraction_of_memory_floor"] = round_to(mem_ms / ms_median, 3);
    j["fraction_of_compute_floor"] = round_to(cmp_ms / ms_median, 3);
    return j;
  };
  const double d_mean = mean(distinct);
  Json j;
  j["tokens"] = t_n;
  j["threads"] = threads;
  j["reps"] = reps;
  j["warmup"] = warmup;
  j["floors_used"] = {{"bandwidth_gbps", round_to(bw, 2)},
                      {"fma_gflops", round_to(peak, 2)},
                      {"which", one ? "single-thread" : "all-thread"}};
  j["router"] =
      floors_json(router_bytes, router_flops, median(router_ms), *std::min_element(router_ms.begin(), router_ms.end()));
  j["distinct_experts_mean"] = round_to(d_mean, 2);
  j["distinct_experts_min"] = *std::min_element(distinct.begin(), distinct.end());
  j["distinct_experts_max"] = *std::max_element(distinct.begin(), distinct.end());
  j["distinct_experts_if_uniform"] =
      round_to(static_cast<double>(e_n) *
                   (1.0 - std::pow(1.0 - static_cast<double>(k) / static_cast<double>(e_n), static_cast<double>(t_n))),
               2);
  j["layer"] = floors_json(router_bytes + d_mean * expert_bytes, router_flops + expert_flops, median(layer_ms),
                           *std::min_element(layer_ms.begin(), layer_ms.end()));
  j["load_all_reps"] = load_json(load_total);
  j["output_finite"] = finite;
  Json rs = Json::array(), ls = Json::array();
  for (double v : router_ms) rs.push_back(round_to(v, 4));
  for (double v : layer_ms) ls.push_back(round_to(v, 4));
  j["router_ms"] = rs;
  j["layer_ms"] = ls;
  return j;
}

int run(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, &o)) return 2;
  base::ThreadPool::set_global_threads(o.threads);

  Json root;
  root["benchmark"] = "bench_moe";
  root["schema_version"] = 1;
  root["timestamp_utc"] = utc_timestamp();
  root["quick"] = o.quick;
  root["machine"] = machine_json();

  Json shape;
  shape["hidden"] = o.hidden;
  shape["num_experts"] = o.experts;
  shape["top_k"] = o.top_k;
  shape["moe_intermediate_size"] = o.inter;
  shape["norm_topk_prob"] = true;
  shape["weight_dtype"] = "bf16";
  shape["activation_dtype"] = "f32";
  shape["reference"] = "Qwen3-30B-A3B: hidden 2048, 128 experts, top-8, moe_intermediate_size 768";
  shape["expert_bytes"] = 3 * o.hidden * o.inter * 2;
  shape["router_bytes"] = o.experts * o.hidden * 2;
  root["shape"] = shape;
  root["threads"] = o.threads;
  root["cache_flush"] =
      o.flush ? Json(std::to_string(o.flush_mib) + " MiB streamed before every timed call") : Json("off");

  Floors floors;
  root["floors"] = measure_floors(o.threads, o.bandwidth_mib, o.quick, &floors);

  Json formulas;
  formulas["layer_bytes"] = "distinct_experts_mean * 3 * hidden * inter * 2 + experts * hidden * 2 (router)";
  formulas["layer_flops"] = "2 * T * top_k * 3 * hidden * inter + 2 * T * experts * hidden (router)";
  formulas["memory_floor_ms"] = "bytes / floor_gbps";
  formulas["compute_floor_ms"] = "flops / fma floor_gflops";
  formulas["fraction_of_floor"] = "max(memory_floor_ms, compute_floor_ms) / ms_median";
  formulas["threads_1"] = "runs on one thread use the single-thread bandwidth and FMA peak of the same run";
  root["formulas"] = formulas;

  std::fprintf(stderr, "bench_moe: building the layer (%lld experts)\n", static_cast<long long>(o.experts));
  auto be = backend::make_cpu_backend(o.threads);
  const Layer layer = make_layer(*be, o);
  root["shape"]["packed_layer_bytes"] = layer.experts.bytes() + layer.router.bytes();
  CacheFlusher flusher(static_cast<std::size_t>(o.flush_mib) << 20, o.threads);

  Json results = Json::array();
  std::vector<std::int64_t> load_max_t;
  std::int64_t max_t = 0;
  for (std::int64_t t_n : o.tokens) {
    std::vector<int> thread_counts = {o.threads};
    if (t_n == 1 && o.threads != 1) thread_counts.push_back(1);
    for (int th : thread_counts) {
      std::fprintf(stderr, "bench_moe: T=%lld, %d thread(s)\n", static_cast<long long>(t_n), th);
      std::vector<std::int64_t> load;
      results.push_back(measure(layer, o, t_n, th, floors, flusher, &load));
      if (t_n >= max_t && th == o.threads) {
        max_t = t_n;
        load_max_t = load;
      }
    }
  }
  root["results"] = results;
  if (!load_max_t.empty()) {
    Json ld = load_json(load_max_t);
    ld["tokens"] = max_t;
    ld["batch"] = "the first timed batch";
    ld["note"] = "random router and inputs: near-uniform; trained routers are skewed, so real loads differ";
    root["expert_load"] = ld;
  }
  root["loadavg_end"] = read_first_line("/proc/loadavg");

  const std::string text = root.dump(2);
  std::printf("%s\n", text.c_str());
  if (!o.json_path.empty()) std::ofstream(o.json_path) << text << "\n";
  return 0;
}

}  // namespace
}  // namespace ferrite::bench

int main(int argc, char** argv) { return ferrite::bench::run(argc, argv); }
