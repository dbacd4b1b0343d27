#include "cli/engine_flags.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "cli/model_flags.h"

namespace ferrite::cli {

void add_engine_flags(Args& args) {
  add_model_flags(args);
  args.flag("tokenizer", "DIR", "tokenizer directory (default: the model directory)")
      .flag("max-model-len", "N", "context length (default: the model's max_position_embeddings)")
      .flag("max-num-seqs", "N", "sequences per step", "256")
      .flag("max-num-batched-tokens", "N", "tokens per step (long prompts are split into chunks)", "2048")
      .flag("block-size", "N", "KV-cache block size in tokens", "16")
      .flag("kv-cache-memory", "BYTES", "CPU KV-cache budget, e.g. 4GiB (default: what max-num-seqs full contexts need, up to 1GiB)")
      .flag("num-kv-blocks", "N", "exact number of KV-cache blocks (overrides --kv-cache-memory)")
      .boolean("enable-prefix-caching", "reuse the KV cache of shared prompt prefixes (default on)", true)
      .flag("scheduling-policy", "POLICY", "fcfs or priority", "fcfs")
      .flag("max-logprobs", "N", "largest logprobs / prompt_logprobs a request may ask for", "20")
      .flag("chat-template", "FILE_OR_TEXT", "chat template overriding the model's")
      .flag("speculative-config", "JSON",
            "speculative decoding, as vLLM: '{\"method\": \"ngram\", \"num_speculative_tokens\": 5, "
            "\"prompt_lookup_max\": 4}' or '{\"method\": \"draft_model\", \"model\": \"DIR\", "
            "\"num_speculative_tokens\": 4}' (default: off)")
      .flag("generation-config", "SOURCE", "'auto': sampling defaults from generation_config.json; 'vllm': none", "auto")
      .flag("tensor-parallel-size", "N",
            "split the model over N processes (-tp N); launch with 'mpirun -np N ferrite ...' (docs/parallelism.md)", "1")
      .alias("-tp", "tensor-parallel-size")
      .flag("collective-timeout", "SECONDS",
            "tensor parallel: a collective inside a step that takes longer ends the job", "300");
}

std::optional<int> run_if_engine_worker(const std::string& command, const EngineConfig& config) {
  if (!is_engine_worker(config)) return std::nullopt;
  const Status s = run_engine_worker(config);
  if (!s.ok()) return report_error(command, s);
  return 0;
}

Result<std::int64_t> parse_bytes(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(v) || v < 0) return invalid_argument("expected a size such as 4GiB, got '" + text + "'");
  std::string unit(end);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  double mul = 1;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mul = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib") mul = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") mul = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib") mul = 1024.0 * 1024 * 1024 * 1024;
  else return invalid_argument("unknown size unit in '" + text + "' (use B, KiB, MiB, GiB, TiB)");
  return static_cast<std::int64_t>(v * mul);
}

Result<EngineConfig> engine_config_from(const Args& args, ModelDefault fallback) {
  FERRITE_ASSIGN_OR_RETURN(model::LoadOptions lo, model_load_options(args, fallback));
  EngineConfig c;
  c.model_dir = lo.model_dir;
  c.tokenizer_dir = args.get("tokenizer");
  c.dtype = lo.dtype;
  c.load_format = args.get("load-format");
  c.seed = lo.dummy_seed;
  FERRITE_ASSIGN_OR_RETURN(long long threads, args.get_int("threads"));
  c.num_threads = static_cast<int>(threads);
  auto positive = [&](const char* name, std::int64_t* out, bool allow_zero) -> Status {
    if (!args.has(name) && args.get(name).empty()) return ok_status();
    FERRITE_ASSIGN_OR_RETURN(long long v, args.get_int(name));
    if (v < (allow_zero ? 0 : 1)) return invalid_argument(std::string("--") + name + " must be " + (allow_zero ? ">= 0" : ">= 1"));
    *out = v;
    return ok_status();
  };
  FERRITE_RETURN_IF_ERROR(positive("max-model-len", &c.max_model_len, false));
  FERRITE_RETURN_IF_ERROR(positive("max-num-seqs", &c.max_num_seqs, false));
  FERRITE_RETURN_IF_ERROR(positive("max-num-batched-tokens", &c.max_num_batched_tokens, false));
  FERRITE_RETURN_IF_ERROR(positive("block-size", &c.block_size, false));
  FERRITE_RETURN_IF_ERROR(positive("num-kv-blocks", &c.num_kv_blocks, false));
  if (args.has("kv-cache-memory")) {
    auto bytes = parse_bytes(args.get("kv-cache-memory"));
    if (!bytes.ok()) return bytes.status().with_context("--kv-cache-memory");
    c.kv_cache_memory_bytes = *bytes;
  }
  c.enable_prefix_caching = !args.has("enable-prefix-caching") || args.get_bool("enable-prefix-caching");
  const std::string policy = args.get("scheduling-policy");
  if (policy == "fcfs") c.scheduling_policy = SchedulingPolicy::kFcfs;
  else if (policy == "priority") c.scheduling_policy = SchedulingPolicy::kPriority;
  else return invalid_argument("--scheduling-policy must be fcfs or priority, got '" + policy + "'");
  FERRITE_ASSIGN_OR_RETURN(long long max_logprobs, args.get_int("max-logprobs"));
  if (max_logprobs < 0) return invalid_argument("--max-logprobs must be >= 0");
  c.max_logprobs = static_cast<std::int32_t>(max_logprobs);
  FERRITE_ASSIGN_OR_RETURN(long long tp, args.get_int("tensor-parallel-size"));
  if (tp < 1 || tp > 1024) return invalid_argument("--tensor-parallel-size must be between 1 and 1024, got " + std::to_string(tp));
  c.tensor_parallel_size = static_cast<int>(tp);
  FERRITE_ASSIGN_OR_RETURN(c.collective_timeout_s, args.get_double("collective-timeout"));
  if (!(c.collective_timeout_s > 0) || c.collective_timeout_s > 1e6)
    return invalid_argument("--collective-timeout must be a number of seconds > 0");
  c.chat_template = args.get("chat-template");
  if (args.has("speculative-config") && !args.get("speculative-config").empty()) {
    FERRITE_ASSIGN_OR_RETURN(c.speculative, parse_speculative_config(args.get("speculative-config")));
  }
  const std::string gc = args.get("generation-config");
  if (gc == "auto") c.use_generation_config = true;
  else if (gc == "vllm") c.use_generation_config = false;
  else return invalid_argument("--generation-config must be auto or vllm, got '" + gc + "'");
  return c;
}

}  // namespace ferrite::cli
