// Flags shared by every command that loads a model (generate, info, bench, serve).
#pragma once

#include "cli/args.h"
#include "model/model.h"

namespace ferrite::cli {

void add_model_flags(Args& args);
// What a model-less `ferrite serve` / `ferrite chat` use: the shipped demo model (models/demo).
enum class ModelDefault { kNone, kDemo };
// Reads the model flags into LoadOptions (validating them).
Result<model::LoadOptions> model_load_options(const Args& args, ModelDefault fallback = ModelDefault::kNone);
// The demo model directory: $FERRITE_DEMO_MODEL, else models/demo of the source tree this binary
// was built in, else <prefix>/share/ferrite/models/demo next to an installed binary, else
// ./models/demo. An error naming the places looked at when none has a config.json.
Result<std::string> demo_model_dir();

}  // namespace ferrite::cli
