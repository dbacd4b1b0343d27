#include <cstdio>

#include "cli/commands.h"

namespace ferrite::cli {
int run_info(const std::vector<std::string>&) { std::fprintf(stderr, "not built yet\n"); return 1; }
}  // namespace ferrite::cli
