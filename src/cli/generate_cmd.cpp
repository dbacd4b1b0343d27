#include <cstdio>

#include "cli/commands.h"

namespace ferrite::cli {
int run_generate(const std::vector<std::string>&) { std::fprintf(stderr, "not built yet\n"); return 1; }
}  // namespace ferrite::cli
