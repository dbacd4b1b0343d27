// Engine flags shared by `ferrite generate`, `bench` and `serve`, with vLLM's names.
#pragma once

#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/model_flags.h"
#include "ferrite/engine.h"

namespace ferrite::cli {

// Adds the model flags (cli/model_flags.h) and the engine flags.
void add_engine_flags(Args& args);
Result<EngineConfig> engine_config_from(const Args& args, ModelDefault fallback = ModelDefault::kNone);

// On ranks > 0 of a tensor-parallel launch: runs this rank's shard until rank 0 stops, and
// returns the exit code. Elsewhere nullopt (go on as rank 0). Call it before any front end starts.
std::optional<int> run_if_engine_worker(const std::string& command, const EngineConfig& config);

// "4GiB", "512MiB", "1.5G", "1000000": a byte count.
Result<std::int64_t> parse_bytes(const std::string& text);

}  // namespace ferrite::cli
