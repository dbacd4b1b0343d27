#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/logging.h"
#include "cli/commands.h"
#include "ferrite/version.h"

namespace {

void print_usage() {
  std::printf("usage: ferrite <command> [flags]\n\ncommands:\n");
  for (const auto& c : ferrite::cli::all_commands()) std::printf("  %-14s %s\n", c.name, c.summary);
  std::printf("\n'ferrite <command> --help' describes a command's flags. 'ferrite --version' prints the version.\n");
}

}  // namespace

int main(int argc, char** argv) {
  ferrite::base::init_logging(std::getenv("FERRITE_LOG_LEVEL") ? std::getenv("FERRITE_LOG_LEVEL") : "info");
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("ferrite %s\n", FERRITE_VERSION_STRING);
    return 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : ferrite::cli::all_commands()) {
    if (argv[1] == std::string(c.name)) return c.run(args);
  }
  std::fprintf(stderr, "ferrite: unknown command '%s' (see 'ferrite --help')\n", argv[1]);
  return 2;
}
