#include "cli/commands.h"

namespace ferrite::cli {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> kCommands = {
      {"generate", "run a model on a prompt and print the continuation", run_generate},
      {"info", "describe a model directory: architecture, parameters, dtype, memory", run_info},
      {"tokenize", "encode text with a model's tokenizer", run_tokenize},
      {"detokenize", "decode token ids with a model's tokenizer", run_detokenize},
      {"render-chat", "render chat messages with a model's chat template", run_render_chat},
      {"serve", "serve a model over the OpenAI-compatible HTTP API", run_serve},
      {"chat", "chat with a model in the terminal (in-process, or a server's --url)", run_chat},
      {"bench", "benchmark serving: TTFT, TPOT, ITL, throughput (a server's --url, or in-process)", run_bench},
  };
  return kCommands;
}

}  // namespace ferrite::cli
