#include "cli/model_flags.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace ferrite::cli {

Result<std::string> demo_model_dir() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("FERRITE_DEMO_MODEL"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  } else {
    candidates.emplace_back(fs::path(FERRITE_SOURCE_ROOT) / "models" / "demo");
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share" / "ferrite" / "models" / "demo");
    candidates.emplace_back(fs::path("models") / "demo");
  }
  std::string tried;
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c / "config.json", ec)) return c.lexically_normal().string();
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  return not_found("no model given and no demo model found (looked in " + tried +
                   "); give MODEL_DIR or --model DIR, or set FERRITE_DEMO_MODEL");
}

void add_model_flags(Args& args) {
  args.positional("MODEL_DIR", "the model directory (same as --model)")
      .flag("model", "DIR", "a Hugging Face model directory (config.json, *.safetensors)")
      .flag("dtype", "TYPE", "weight dtype: auto, float32, bfloat16, float16", "auto")
      .flag("load-format", "FORMAT", "auto, safetensors, or dummy (random weights from config.json)", "auto")
      .flag("seed", "N", "seed for dummy weights and sampling", "0")
      .flag("threads", "N", "CPU threads (0: one per core)", "0");
}

Result<model::LoadOptions> model_load_options(const Args& args, ModelDefault fallback) {
  model::LoadOptions o;
  o.model_dir = args.has("model") ? args.get("model") : args.get("MODEL_DIR");
  if (o.model_dir.empty() && fallback == ModelDefault::kDemo) {
    FERRITE_ASSIGN_OR_RETURN(o.model_dir, demo_model_dir());
  }
  if (o.model_dir.empty()) return invalid_argument("no model given (--model DIR)");
  o.dtype = args.get("dtype");
  if (o.dtype != "auto") {
    auto dt = backend::parse_dtype(o.dtype);
    if (!dt.ok() || !backend::is_float(*dt))
      return invalid_argument("--dtype: expected auto, float32, bfloat16 or float16, got '" + o.dtype + "'");
  }
  FERRITE_ASSIGN_OR_RETURN(o.load_format, model::parse_load_format(args.get("load-format")));
  FERRITE_ASSIGN_OR_RETURN(long long seed, args.get_int("seed"));
  o.dummy_seed = static_cast<std::uint64_t>(seed);
  FERRITE_ASSIGN_OR_RETURN(long long threads, args.get_int("threads"));
  if (threads < 0 || threads > 4096) return invalid_argument("--threads must be between 0 and 4096");
  return o;
}

}  // namespace ferrite::cli
