#include <cstdio>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "base/logging.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "model/greedy_decode.h"

namespace ferrite::cli {

namespace {

Status generate(const Args& args) {
  FERRITE_ASSIGN_OR_RETURN(model::LoadOptions opts, model_load_options(args));
  if (!args.has("prompt-ids")) return invalid_argument("no prompt given (--prompt-ids 1,2,3)");
  FERRITE_ASSIGN_OR_RETURN(std::vector<long long> ids, args.get_int_list("prompt-ids"));
  FERRITE_ASSIGN_OR_RETURN(long long max_tokens, args.get_int("max-tokens"));
  if (max_tokens < 0 || max_tokens > (1LL << 20)) return invalid_argument("--max-tokens must be between 0 and 1048576");
  FERRITE_ASSIGN_OR_RETURN(long long block_size, args.get_int("block-size"));
  if (block_size < 1 || block_size > 4096) return invalid_argument("--block-size must be between 1 and 4096");
  FERRITE_ASSIGN_OR_RETURN(long long threads, args.get_int("threads"));

  std::vector<std::int32_t> prompt;
  for (long long id : ids) {
    if (id < 0 || id > INT32_MAX) return invalid_argument("--prompt-ids: token id " + std::to_string(id) + " is out of range");
    prompt.push_back(static_cast<std::int32_t>(id));
  }
  auto backend = backend::make_cpu_backend(static_cast<int>(threads));
  FERRITE_ASSIGN_OR_RETURN(auto model, model::load_model(opts, *backend));
  if (static_cast<long long>(prompt.size()) + max_tokens > model->config().max_position_embeddings)
    FERRITE_LOG_WARN("prompt + max tokens ({}) exceed max_position_embeddings ({})", prompt.size() + static_cast<std::size_t>(max_tokens),
                     model->config().max_position_embeddings);
  model::GreedyOptions g;
  g.max_tokens = max_tokens;
  g.block_size = block_size;
  g.stop_at_eos = !args.get_bool("ignore-eos");
  FERRITE_ASSIGN_OR_RETURN(model::GreedyResult r, model::greedy_decode(*model, {prompt}, g));
  const auto& out = r.tokens.front();
  if (args.get_bool("json")) {
    nlohmann::json j;
    j["token_ids"] = out;
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (std::size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? "," : "", out[i]);
    std::printf("\n");
  }
  return ok_status();
}

}  // namespace

int run_generate(const std::vector<std::string>& argv) {
  Args args("generate", "Greedy generation from a prompt of token ids (text prompts need the model's tokenizer).");
  add_model_flags(args);
  args.flag("prompt-ids", "IDS", "comma-separated prompt token ids, e.g. 1,2,3")
      .flag("max-tokens", "N", "tokens to generate", "16")
      .flag("block-size", "N", "KV-cache block size in tokens", "16")
      .boolean("ignore-eos", "keep generating past the end-of-sequence token")
      .boolean("json", "print {\"token_ids\": [...]}");
  if (Status st = args.parse(argv); !st.ok()) return report_error("generate", st);
  if (args.help_requested()) {
    std::printf("%s", args.usage().c_str());
    return 0;
  }
  if (Status st = generate(args); !st.ok()) return report_error("generate", st);
  return 0;
}

}  // namespace ferrite::cli
