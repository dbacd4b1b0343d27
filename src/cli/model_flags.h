// Flags shared by every command that loads a model (generate, info, bench, serve).
#pragma once

#include "cli/args.h"
#include "model/model.h"

namespace ferrite::cli {

void add_model_flags(Args& args);
// Reads the model flags into LoadOptions (validating them).
Result<model::LoadOptions> model_load_options(const Args& args);

}  // namespace ferrite::cli
