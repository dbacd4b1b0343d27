#include <cstdio>

#include "cli/commands.h"

namespace ferrite::cli {
// placeholder until the tokenizer module lands
int run_tokenize(const std::vector<std::string>&) { std::fprintf(stderr, "not built yet\n"); return 1; }
int run_detokenize(const std::vector<std::string>&) { std::fprintf(stderr, "not built yet\n"); return 1; }
}  // namespace ferrite::cli
