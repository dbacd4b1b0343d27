// Engine benchmarks on dummy weights at a real model's shape (default: Qwen2.5-0.5B in bf16):
//  (b) offline throughput: generated tokens/s with 1, 4, 16 and 64 concurrent requests
//      (random prompts of --input-len tokens (32), --output-len greedy tokens (32), EOS ignored);
//  (c) prefix caching: time to first token of a request whose 1024-token prefix is cached,
//      against the same request with the cache cold.
// Prints one JSON object on stdout. `--quick` runs a tiny model for a smoke test.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "ferrite/engine.h"

namespace {

using ferrite::Engine;
using ferrite::EngineConfig;
using ferrite::GenerateRequest;
using nlohmann::json;

GenerateRequest make_request(std::vector<std::int32_t> prompt, std::int64_t max_tokens) {
  GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.given.temperature = true;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  return r;
}

std::vector<std::int32_t> random_prompt(std::mt19937& rng, std::int64_t len, std::int64_t vocab) {
  std::uniform_int_distribution<std::int32_t> d(10, static_cast<std::int32_t>(std::min<std::int64_t>(vocab, 30000) - 1));
  std::vector<std::int32_t> p(static_cast<std::size_t>(len));
  for (auto& t : p) t = d(rng);
  return p;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "bench_engine: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(FERRITE_SOURCE_DIR) + "/benchmarks/model/configs/qwen2.5-0.5b";
  bool quick = false;
  int threads = 0;
  std::vector<int> levels = {1, 4, 16, 64};
  std::int64_t prompt_len = 32, gen_len = 32, prefix_len = 1024;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--model" && i + 1 < argc) model = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--input-len" && i + 1 < argc) prompt_len = std::atoll(argv[++i]);
    else if (a == "--output-len" && i + 1 < argc) gen_len = std::atoll(argv[++i]);
    else return fail("usage: bench_engine [--model CONFIG_DIR] [--threads N] [--input-len N] [--output-len N] [--quick]");
  }
  std::string tmp_dir;
  if (quick) {
    // A tiny Llama written to a temp dir: exercises every path in a second.
    tmp_dir = (std::filesystem::temp_directory_path() / ("bench-engine-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(tmp_dir);
    std::ofstream(tmp_dir + "/config.json") << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
      "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
      "rms_norm_eps": 1e-6, "torch_dtype": "bfloat16"})";
    model = tmp_dir;
    levels = {1, 4};
    gen_len = 8;
    prefix_len = 128;
  }

  EngineConfig cfg;
  cfg.model_dir = model;
  cfg.load_format = "dummy";
  cfg.dtype = "bfloat16";
  cfg.num_threads = threads;
  cfg.max_model_len = 2048;
  cfg.max_num_seqs = 256;
  cfg.show_progress = !quick;
  auto engine = Engine::create(cfg);
  if (!engine.ok()) return fail(engine.status().to_string());
  const ferrite::ModelInfo info = (*engine)->model_info();
  std::mt19937 rng(1);

  json out;
  out["model"] = model;
  out["architecture"] = info.architecture;
  out["dtype"] = info.dtype;
  out["parameters"] = info.num_parameters;
  out["kv_blocks"] = info.num_kv_blocks;
  out["input_len"] = prompt_len;
  out["output_len"] = gen_len;

  // Warm-up: page in the weights and the allocator.
  for (auto& s : {*(*engine)->submit(make_request(random_prompt(rng, prompt_len, info.vocab_size), 2))})
    while (s->next()) {
    }

  json throughput = json::array();
  double tps1 = 0;
  for (int c : levels) {
    std::vector<std::shared_ptr<ferrite::OutputStream>> streams;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < c; ++i) {
      auto s = (*engine)->submit(make_request(random_prompt(rng, prompt_len, info.vocab_size), gen_len));
      if (!s.ok()) return fail(s.status().to_string());
      streams.push_back(*s);
    }
    std::int64_t generated = 0;
    for (auto& s : streams) {
      while (auto d = s->next()) generated += static_cast<std::int64_t>(d->token_ids.size());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = static_cast<double>(generated) / secs;
    if (c == 1) tps1 = tps;
    throughput.push_back({{"concurrency", c}, {"generated_tokens", generated}, {"seconds", secs},
                          {"generated_tokens_per_s", tps}, {"speedup_vs_1", tps1 > 0 ? tps / tps1 : 0.0}});
    std::fprintf(stderr, "bench_engine: concurrency %d: %.2f generated tokens/s\n", c, tps);
  }
  out["offline_throughput"] = throughput;
  out["throughput_target"] = "16 concurrent >= 6x the tokens/s of 1";

  // Prefix caching: the same 1024-token prefix, different 16-token suffixes.
  const auto prefix = random_prompt(rng, prefix_len, info.vocab_size);
  auto ttft = [&](const std::vector<std::int32_t>& suffix) -> std::pair<double, std::int64_t> {
    std::vector<std::int32_t> p = prefix;
    p.insert(p.end(), suffix.begin(), suffix.end());
    auto s = *(*engine)->submit(make_request(p, 1));
    while (s->next()) {
    }
    const auto m = s->metrics();
    return {m.first_token_time - m.arrival_time, s->usage().cached_prompt_tokens};
  };
  const auto cold = ttft(random_prompt(rng, 16, info.vocab_size));
  const auto warm = ttft(random_prompt(rng, 16, info.vocab_size));
  out["prefix_caching"] = {{"prefix_tokens", prefix_len},
                           {"ttft_cold_s", cold.first},
                           {"ttft_cached_s", warm.first},
                           {"cached_prompt_tokens", warm.second},
                           {"speedup", warm.first > 0 ? cold.first / warm.first : 0.0}};
  const auto st = (*engine)->stats();
  out["engine_stats"] = {{"steps", st.steps}, {"prefix_cache_hits", st.prefix_cache_hits},
                         {"prefix_cache_queries", st.prefix_cache_queries}, {"preemptions", st.num_preemptions}};
  (*engine)->shutdown();
  std::printf("%s\n", out.dump(2).c_str());
  if (!tmp_dir.empty()) std::filesystem::remove_all(tmp_dir);
  return 0;
}
