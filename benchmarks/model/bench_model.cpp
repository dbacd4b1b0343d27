// bench_model: batch-1 decode and prefill of real model shapes on dummy weights, reported against
// the floors this machine measures in the same run (DESIGN.md, "Performance"): decode reads every
// linear weight once per token, so its floor is bytes / measured read bandwidth; prefill is
// compute-bound, so its floor is FLOPs / measured fp32 FMA peak. JSON goes to stdout, progress to
// stderr. `--quick` runs a tiny config and small buffers so a ctest keeps this program building
// and running; its numbers mean nothing.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "base/thread_pool.h"
#include "benchmarks/model/floors.h"
#include "benchmarks/model/floors_report.h"
#include "model/model.h"

namespace ferrite::bench {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

#ifndef FERRITE_BENCH_CONFIG_DIR
#define FERRITE_BENCH_CONFIG_DIR "benchmarks/model/configs"
#endif

constexpr std::int64_t kBlockSize = 16;
constexpr const char* kShapes[] = {"qwen2.5-0.5b", "llama-3.2-1b"};

struct Options {
  std::string model_shape = "all";
  std::string config_dir = FERRITE_BENCH_CONFIG_DIR;
  int threads = 0;
  std::int64_t decode_steps = -1;          // -1: 32, or 4 with --quick
  std::int64_t decode_prompt = -1;         // -1: 32, or 8 with --quick
  int reps = -1;                           // -1: 3, or 1 with --quick
  std::int64_t bandwidth_mib = -1;         // -1: 2048, or 64 with --quick
  std::vector<std::int64_t> prefill_lens;  // empty: 128,512, or 16,32 with --quick
  std::string phase = "all";               // all, decode or prefill (profile one at a time)
  std::uint64_t seed = 0;
  bool quick = false;
};

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: bench_model [--model-shape qwen2.5-0.5b|llama-3.2-1b|all] [--threads N]\n"
               "                   [--decode-steps N] [--decode-prompt N] [--reps N] [--bandwidth-mib N]\n"
               "                   [--prefill-lens N,N,...] [--phase all|decode|prefill] [--seed N]\n"
               "                   [--config-dir DIR] [--quick]\n"
               "Prints one JSON object on stdout; progress goes to stderr.\n");
}

bool parse_int(const char* s, std::int64_t lo, std::int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < lo) return false;
  *out = v;
  return true;
}

bool parse_int_list(const char* s, std::vector<std::int64_t>* out) {
  out->clear();
  std::string item;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      std::int64_t n = 0;
      if (!parse_int(item.c_str(), 1, &n)) return false;
      out->push_back(n);
      item.clear();
      if (*p == '\0') return true;
    } else {
      item += *p;
    }
  }
}

// Returns false (after printing why) on a bad command line.
bool parse_args(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) return nullptr;
      return argv[++i];
    };
    std::int64_t n = 0;
    const char* v = nullptr;
    if (a == "--quick") {
      o->quick = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--model-shape" && (v = value())) {
      o->model_shape = v;
      const bool known = o->model_shape == "all" ||
                         std::find_if(std::begin(kShapes), std::end(kShapes),
                                      [&](const char* s) { return o->model_shape == s; }) != std::end(kShapes);
      if (!known) {
        std::fprintf(stderr, "bench_model: unknown --model-shape '%s'\n", v);
        return false;
      }
    } else if (a == "--config-dir" && (v = value())) {
      o->config_dir = v;
    } else if (a == "--threads" && (v = value()) && parse_int(v, 0, &n)) {
      o->threads = static_cast<int>(n);
    } else if (a == "--decode-steps" && (v = value()) && parse_int(v, 1, &n)) {
      o->decode_steps = n;
    } else if (a == "--decode-prompt" && (v = value()) && parse_int(v, 1, &n)) {
      o->decode_prompt = n;
    } else if (a == "--reps" && (v = value()) && parse_int(v, 1, &n)) {
      o->reps = static_cast<int>(n);
    } else if (a == "--bandwidth-mib" && (v = value()) && parse_int(v, 2, &n)) {
      o->bandwidth_mib = n;
    } else if (a == "--prefill-lens" && (v = value()) && parse_int_list(v, &o->prefill_lens)) {
    } else if (a == "--phase" && (v = value()) &&
               (std::string(v) == "all" || std::string(v) == "decode" || std::string(v) == "prefill")) {
      o->phase = v;
    } else if (a == "--seed" && (v = value()) && parse_int(v, 0, &n)) {
      o->seed = static_cast<std::uint64_t>(n);
    } else {
      std::fprintf(stderr, "bench_model: bad argument '%s'%s\n", a.c_str(), v ? (std::string(" ") + v).c_str() : "");
      usage(stderr);
      return false;
    }
  }
  if (o->decode_steps < 0) o->decode_steps = o->quick ? 4 : 32;
  if (o->decode_prompt < 0) o->decode_prompt = o->quick ? 8 : 32;
  if (o->reps < 0) o->reps = o->quick ? 1 : 3;
  if (o->bandwidth_mib < 0) o->bandwidth_mib = o->quick ? 64 : 2048;
  if (o->prefill_lens.empty())
    o->prefill_lens = o->quick ? std::vector<std::int64_t>{16, 32} : std::vector<std::int64_t>{128, 512};
  return true;
}

// The backend's and the floors' pools have this many participants (ThreadPool's rule for 0).
int effective_threads(const Options& o) {
  return o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

double round_to(double x, int digits) {
  const double s = std::pow(10.0, digits);
  return std::round(x * s) / s;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Process CPU time (all threads). Divided by wall time x threads it says how much of the run the
// benchmark's threads were actually on a core: well below 1 on a busy machine means the timings
// include time other processes took.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One sequence whose blocks are 0..max_blocks-1 in order, so a token's slot is its position.
model::ForwardBatch make_batch(const std::vector<std::int32_t>& tokens, std::int64_t start, std::int64_t max_blocks) {
  model::ForwardBatch b;
  const auto n = static_cast<std::int64_t>(tokens.size());
  b.token_ids = tokens;
  for (std::int64_t i = 0; i < n; ++i) {
    b.positions.push_back(static_cast<std::int32_t>(start + i));
    b.slot_mapping.push_back(start + i);
  }
  b.query_start = {0, static_cast<std::int32_t>(n)};
  b.context_lens = {static_cast<std::int32_t>(start + n)};
  b.max_blocks = max_blocks;
  for (std::int64_t j = 0; j < max_blocks; ++j) b.block_tables.push_back(static_cast<std::int32_t>(j));
  b.sample_rows = {static_cast<std::int32_t>(n - 1)};
  return b;
}

// Token ids spread over the vocabulary, the same every run.
std::vector<std::int32_t> synthetic_prompt(std::int64_t n, std::int64_t vocab) {
  std::vector<std::int32_t> ids;
  for (std::int64_t i = 0; i < n; ++i) ids.push_back(static_cast<std::int32_t>((i * 7919 + 13) % vocab));
  return ids;
}

std::int32_t argmax(const backend::Tensor& logits) {
  const float* x = logits.data<float>();
  const std::int64_t n = logits.numel();
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return static_cast<std::int32_t>(best);
}

bool all_finite(const backend::Tensor& logits) {
  const float* x = logits.data<float>();
  for (std::int64_t i = 0; i < logits.numel(); ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

// Weights of the q, k, v, o, gate, up and down projections of one layer (no biases: those are
// adds, and their bytes are counted by weight_bytes() anyway).
std::int64_t linear_params_per_layer(const model::ModelConfig& c) {
  const std::int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  return h * q + 2 * h * kv + q * h + 3 * h * c.intermediate_size;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_model: %s\n", what.c_str());
  std::exit(1);
}

// What one model run shares between its decode and prefill measurements.
struct ModelRun {
  model::CausalLM* model = nullptr;
  model::KvCache* kv = nullptr;
  std::int64_t max_blocks = 0;
  int threads = 1;
  bool logits_finite = true;
};

Json measure_decode(ModelRun& run, const Options& o, std::int64_t decode_bytes, const Floors& floors) {
  model::CausalLM& m = *run.model;
  const auto& c = m.config();
  std::vector<std::int32_t> prompt = synthetic_prompt(o.decode_prompt, c.vocab_size);
  auto first = m.forward(make_batch(prompt, 0, run.max_blocks), *run.kv);
  if (!first.ok()) die("prefill: " + first.status().message());
  run.logits_finite = run.logits_finite && all_finite(*first);
  std::int32_t next = argmax(*first);
  std::vector<double> step_ms;
  const double cpu0 = cpu_seconds();
  const auto wall0 = Clock::now();
  for (std::int64_t s = 0; s < o.decode_steps; ++s) {
    const model::ForwardBatch b = make_batch({next}, o.decode_prompt + s, run.max_blocks);
    const auto ts = Clock::now();
    auto logits = m.forward(b, *run.kv);
    const double ms = seconds_since(ts) * 1e3;
    if (!logits.ok()) die("decode: " + logits.status().message());
    step_ms.push_back(ms);
    run.logits_finite = run.logits_finite && all_finite(*logits);
    next = argmax(*logits);  // greedy, outside the timed region: sampling is not the model's cost
  }
  const double busy = (cpu_seconds() - cpu0) / (seconds_since(wall0) * run.threads);
  const double ms_med = median(step_ms);
  const double achieved_gbps = static_cast<double>(decode_bytes) / (ms_med * 1e-3) / 1e9;
  const double kv_read_bytes =
      static_cast<double>(m.kv_bytes_per_token()) * static_cast<double>(o.decode_prompt + o.decode_steps / 2);
  Json d;
  d["prompt_tokens"] = o.decode_prompt;
  d["steps"] = o.decode_steps;
  d["ms_per_token_median"] = round_to(ms_med, 3);
  d["ms_per_token_min"] = round_to(*std::min_element(step_ms.begin(), step_ms.end()), 3);
  d["ms_per_token_max"] = round_to(*std::max_element(step_ms.begin(), step_ms.end()), 3);
  d["tokens_per_second"] = round_to(1e3 / ms_med, 2);
  d["weight_bytes_read_per_token"] = decode_bytes;
  d["kv_bytes_read_per_token_at_median_context"] = static_cast<std::int64_t>(kv_read_bytes);
  d["achieved_gbps"] = round_to(achieved_gbps, 2);
  d["floor_ms_per_token"] = round_to(static_cast<double>(decode_bytes) / (floors.bandwidth_gbps * 1e9) * 1e3, 3);
  d["fraction_of_bandwidth"] = round_to(achieved_gbps / floors.bandwidth_gbps, 3);
  d["target"] = 0.70;
  d["meets_target"] = achieved_gbps / floors.bandwidth_gbps >= 0.70;
  d["cpu_busy_fraction"] = round_to(busy, 3);
  Json steps_json = Json::array();
  for (double ms : step_ms) steps_json.push_back(round_to(ms, 3));
  d["step_ms"] = steps_json;
  return d;
}

// One forward over the whole prompt from an empty cache, per length.
Json measure_prefill(ModelRun& run, const Options& o, const Floors& floors) {
  model::CausalLM& m = *run.model;
  const auto& c = m.config();
  const std::int64_t hq = c.num_attention_heads, hd = c.head_dim, nl = c.num_hidden_layers;
  Json prefill = Json::array();
  for (std::int64_t len : o.prefill_lens) {
    std::fprintf(stderr, "  prefill: %lld tokens x %d reps\n", static_cast<long long>(len), o.reps);
    const model::ForwardBatch b = make_batch(synthetic_prompt(len, c.vocab_size), 0, run.max_blocks);
    std::vector<double> secs;
    const double cpu0 = cpu_seconds();
    const auto wall0 = Clock::now();
    for (int r = 0; r < o.reps; ++r) {
      const auto ts = Clock::now();
      auto logits = m.forward(b, *run.kv);
      secs.push_back(seconds_since(ts));
      if (!logits.ok()) die("prefill: " + logits.status().message());
      run.logits_finite = run.logits_finite && all_finite(*logits);
    }
    const double busy = (cpu_seconds() - cpu0) / (seconds_since(wall0) * run.threads);
    const auto T = static_cast<double>(len);
    // Layer linears run on every row, the lm_head only on the sampled last row.
    const double linear_flops = 2.0 * static_cast<double>(nl * linear_params_per_layer(c)) * T +
                                2.0 * static_cast<double>(c.vocab_size * c.hidden_size);
    const double attention_flops = 4.0 * static_cast<double>(nl * hq * hd) * (T * (T + 1) / 2);
    const double flops = linear_flops + attention_flops;
    const double best = *std::min_element(secs.begin(), secs.end());
    const double med = median(secs);
    Json p;
    p["tokens"] = len;
    p["reps"] = o.reps;
    p["seconds_best"] = round_to(best, 4);
    p["seconds_median"] = round_to(med, 4);
    p["tokens_per_second_best"] = round_to(T / best, 1);
    p["tokens_per_second_median"] = round_to(T / med, 1);
    p["gflop"] = round_to(flops / 1e9, 2);
    p["attention_gflop"] = round_to(attention_flops / 1e9, 2);
    p["gflops_best"] = round_to(flops / best / 1e9, 2);
    p["gflops_median"] = round_to(flops / med / 1e9, 2);
    p["fraction_of_fma_peak"] = round_to(flops / best / 1e9 / floors.peak_gflops, 3);
    p["fraction_of_fma_peak_median"] = round_to(flops / med / 1e9 / floors.peak_gflops, 3);
    p["target"] = 0.40;
    p["meets_target"] = flops / best / 1e9 / floors.peak_gflops >= 0.40;
    p["cpu_busy_fraction"] = round_to(busy, 3);
    prefill.push_back(p);
  }
  return prefill;
}

Json run_model(const std::string& name, const std::string& dir, const Options& o, const Floors& floors) {
  std::fprintf(stderr, "[%s] loading dummy bf16 weights from %s\n", name.c_str(), dir.c_str());
  auto backend = backend::make_cpu_backend(o.threads);
  model::LoadOptions lo;
  lo.model_dir = dir;
  lo.dtype = "bfloat16";
  lo.load_format = model::LoadFormat::kDummy;
  lo.dummy_seed = o.seed;
  lo.show_progress = !o.quick;
  const auto t0 = Clock::now();
  auto loaded = model::load_model(lo, *backend);
  if (!loaded.ok()) die(dir + ": " + loaded.status().message());
  std::unique_ptr<model::CausalLM> m = std::move(loaded).value();
  const double load_s = seconds_since(t0);
  const auto& c = m->config();

  const std::int64_t max_len =
      std::max(o.decode_prompt + o.decode_steps, *std::max_element(o.prefill_lens.begin(), o.prefill_lens.end()));
  const std::int64_t max_blocks = (max_len + kBlockSize - 1) / kBlockSize;
  model::KvCache kv = m->allocate_kv_cache(max_blocks, kBlockSize);
  ModelRun run;
  run.model = m.get();
  run.kv = &kv;
  run.max_blocks = max_blocks;
  run.threads = effective_threads(o);

  const auto elem = static_cast<std::int64_t>(backend::dtype_size(m->weight_dtype()));
  const std::int64_t embed_bytes = c.vocab_size * c.hidden_size * elem;
  // A tied lm_head is a second, packed copy of the table that weight_bytes() also counts; the
  // table itself is read one row per token. Untied, the table is still only gathered.
  const std::int64_t decode_bytes = static_cast<std::int64_t>(m->weight_bytes()) - embed_bytes;

  Json out;
  out["name"] = name;
  out["config_dir"] = dir;
  out["architecture"] = c.architecture;
  out["backend"] = backend->describe();
  out["weight_dtype"] = backend::dtype_name(m->weight_dtype());
  out["num_parameters"] = m->num_parameters();
  out["weight_bytes"] = m->weight_bytes();
  out["embedding_table_bytes"] = embed_bytes;
  out["linear_params_incl_lm_head"] = c.num_hidden_layers * linear_params_per_layer(c) + c.vocab_size * c.hidden_size;
  out["load_seconds"] = round_to(load_s, 2);
  if (o.phase != "prefill") {
    std::fprintf(stderr, "  decode: %lld-token prompt, %lld steps\n", static_cast<long long>(o.decode_prompt),
                 static_cast<long long>(o.decode_steps));
    out["decode"] = measure_decode(run, o, decode_bytes, floors);
  }
  if (o.phase != "decode") out["prefill"] = measure_prefill(run, o, floors);
  out["logits_finite"] = run.logits_finite;
  return out;
}

// A two-layer Qwen2 (q/k/v biases, GQA): exercises the same paths as the real shapes in well
// under a second, for the smoke test.
constexpr const char* kTinyConfig = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "model_type": "qwen2",
  "hidden_size": 128,
  "intermediate_size": 352,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "vocab_size": 1000,
  "max_position_embeddings": 4096,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "tie_word_embeddings": true,
  "use_sliding_window": false,
  "torch_dtype": "bfloat16"
})";

int run(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, &o)) return 2;
  base::ThreadPool::set_global_threads(o.threads);  // the dummy-weight generator's pool

  Json root;
  root["benchmark"] = "bench_model";
  root["schema_version"] = 1;
  root["timestamp_utc"] = utc_timestamp();
  root["quick"] = o.quick;
  root["machine"] = machine_json();

  Floors floors;
  root["threads"] = effective_threads(o);
  root["floors"] = measure_floors(o.threads, o.bandwidth_mib, o.quick, &floors);

  Json formulas;
  formulas["decode_bytes_per_token"] =
      "weight_bytes() - vocab*hidden*sizeof(weight dtype): weight_bytes() counts every linear (packed, "
      "with biases), the norms, the embedding table and, when tied, a second packed copy of it as lm_head; "
      "the table is gathered one row per token, so only its packed lm_head copy is streamed";
  formulas["decode_fraction"] = "decode_bytes_per_token / (ms_per_token_median / 1e3) / floor_gbps / 1e9";
  formulas["prefill_flops"] =
      "2 * layers * (h*q + 2*h*kv + q*h + 3*h*intermediate) * T + 2 * vocab * h (lm_head on the last row) "
      "+ 4 * layers * heads * head_dim * T*(T+1)/2 (causal QK^T and PV)";
  formulas["prefill_fraction"] = "prefill_flops / seconds_best / 1e9 / fma_fp32.floor_gflops";
  root["formulas"] = formulas;

  // ---- models ----
  Json models = Json::array();
  if (o.quick) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("ferrite_bench_model_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.json") << kTinyConfig;
    models.push_back(run_model("tiny-qwen2", dir.string(), o, floors));
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  } else {
    for (const char* shape : kShapes)
      if (o.model_shape == "all" || o.model_shape == shape)
        models.push_back(run_model(shape, o.config_dir + "/" + shape, o, floors));
  }
  root["models"] = models;
  root["loadavg_end"] = read_first_line("/proc/loadavg");

  std::printf("%s\n", root.dump(2).c_str());
  return 0;
}

}  // namespace
}  // namespace ferrite::bench

int main(int argc, char** argv) { return ferrite::bench::run(argc, argv); }
