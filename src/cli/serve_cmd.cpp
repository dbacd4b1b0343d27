#include <cstdio>

#include "cli/commands.h"

namespace ferrite::cli {

// The HTTP server arrives with the OpenAI-server issue; until then the command says so.
int run_serve(const std::vector<std::string>& args) {
  std::fprintf(stderr, "ferrite serve: the HTTP server is not built yet (see the issue tracker)\n");
  return 1;
}

}  // namespace ferrite::cli
