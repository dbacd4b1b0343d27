#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "model/model.h"

namespace ferrite::cli {

namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f %s", b, units[u]);
  return buf;
}

Status info(const Args& args) {
  FERRITE_ASSIGN_OR_RETURN(model::LoadOptions opts, model_load_options(args));
  FERRITE_ASSIGN_OR_RETURN(model::ModelConfig c, model::load_model_config(opts.model_dir));
  FERRITE_ASSIGN_OR_RETURN(std::int64_t params, model::parameter_count(c));
  backend::DType dtype = c.torch_dtype;
  if (opts.dtype != "auto") {
    FERRITE_ASSIGN_OR_RETURN(dtype, backend::parse_dtype(opts.dtype));
  }
  nlohmann::json j;
  j["model_dir"] = opts.model_dir;
  j["architecture"] = c.architecture;
  j["parameters"] = params;
  j["dtype"] = backend::dtype_name(dtype);
  j["layers"] = c.num_hidden_layers;
  j["hidden_size"] = c.hidden_size;
  j["attention_heads"] = c.num_attention_heads;
  j["kv_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  const double weight_bytes = static_cast<double>(params) * static_cast<double>(backend::dtype_size(dtype));
  // The CPU backend keeps its KV cache in f32 (MLA models: the latent and rope key only).
  const auto kv_per_token = static_cast<double>(model::kv_cache_bytes_per_token(c));
  j["weight_bytes"] = weight_bytes;
  j["kv_cache_bytes_per_token"] = kv_per_token;
  j["memory_for_one_full_context_bytes"] = weight_bytes + kv_per_token * static_cast<double>(c.max_position_embeddings);
  if (opts.load_format != model::LoadFormat::kDummy) {
    FERRITE_ASSIGN_OR_RETURN(model::WeightStore store, model::WeightStore::open(opts.model_dir));
    j["checkpoint_tensors"] = store.names().size();
  }
  if (args.get_bool("json")) {
    std::printf("%s\n", j.dump(2).c_str());
    return ok_status();
  }
  std::printf("model          %s\n", opts.model_dir.c_str());
  std::printf("architecture   %s\n", c.architecture.c_str());
  std::printf("parameters     %lld (%.3f B)\n", static_cast<long long>(params), static_cast<double>(params) / 1e9);
  std::printf("dtype          %s\n", backend::dtype_name(dtype));
  std::printf("layers         %lld, hidden %lld, heads %lld (kv %lld), head_dim %lld, vocab %lld\n",
              static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.num_attention_heads), static_cast<long long>(c.num_key_value_heads),
              static_cast<long long>(c.head_dim), static_cast<long long>(c.vocab_size));
  std::printf("weights        %s\n", human_bytes(weight_bytes).c_str());
  std::printf("kv cache       %s per token (f32 on the CPU)\n", human_bytes(kv_per_token).c_str());
  std::printf("memory needed  %s for weights + one %lld-token context\n",
              human_bytes(weight_bytes + kv_per_token * static_cast<double>(c.max_position_embeddings)).c_str(),
              static_cast<long long>(c.max_position_embeddings));
  return ok_status();
}

}  // namespace

int run_info(const std::vector<std::string>& argv) {
  Args args("info", "Describe a model directory: architecture, parameter count, dtype, memory needed.");
  add_model_flags(args);
  args.boolean("json", "print JSON");
  if (auto code = args.parse_or_exit(argv)) return *code;
  if (Status st = info(args); !st.ok()) return report_error("info", st);
  return 0;
}

}  // namespace ferrite::cli
