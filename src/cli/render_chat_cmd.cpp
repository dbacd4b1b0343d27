#include <cstdio>

#include "cli/commands.h"

namespace ferrite::cli {
// placeholder until the chat module lands
int run_render_chat(const std::vector<std::string>&) { std::fprintf(stderr, "not built yet\n"); return 1; }
}  // namespace ferrite::cli
