// Every `ferrite` subcommand: a name, a one-line summary and an entry point taking the
// arguments after the command name. Register new ones in commands.cpp.
#pragma once

#include <string>
#include <vector>

namespace ferrite::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& all_commands();

int run_generate(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_tokenize(const std::vector<std::string>& args);
int run_detokenize(const std::vector<std::string>& args);
int run_render_chat(const std::vector<std::string>& args);
int run_serve(const std::vector<std::string>& args);
int run_chat(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);

}  // namespace ferrite::cli
