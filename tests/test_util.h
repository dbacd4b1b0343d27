// Helpers shared by tests: running the real `ferrite` binary, reading files, temp dirs.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace ferrite::testing {

struct CommandResult {
  int exit_code = -1;      // the process's exit status, or -1 if it did not exit normally
  bool signaled = false;   // killed by a signal (a crash)
  std::string out;         // stdout
  std::string err;         // stderr
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command line, capturing stdout and stderr separately.
inline CommandResult run_command(const std::string& cmdline) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ferrite-cmd-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "out").string(), err = (dir / "err").string();
  const std::string full = "(" + cmdline + ") >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(full.c_str());
  CommandResult r;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    // The shell reports a child killed by a signal as 128 + signal.
    r.signaled = r.exit_code > 128;
  } else {
    r.signaled = true;
  }
  r.out = read_text(out);
  r.err = read_text(err);
  std::filesystem::remove_all(dir);
  return r;
}

inline std::string ferrite_binary() { return FERRITE_BINARY; }
inline std::string source_dir() { return FERRITE_SOURCE_DIR; }
inline std::string shared_dir() { return FERRITE_SHARED_DIR; }

// A fresh empty directory under the system temp dir.
inline std::string make_temp_dir(const std::string& tag) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ferrite-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A model directory with only a config.json (load it with --load-format dummy): the reference
// llama fixture widened to 6 layers of 512, so a decode step takes milliseconds and a request is
// still running when a test aborts, cancels or times it out. Written once per test process.
inline std::string slow_dummy_model_dir() {
  static const std::string dir = [] {
    const std::string d = make_temp_dir("slow-model");
    nlohmann::json c = nlohmann::json::parse(read_text(source_dir() + "/tests/data/models/llama/config.json"));
    c["hidden_size"] = 512;
    c["intermediate_size"] = 1536;
    c["num_attention_heads"] = 8;
    c["num_key_value_heads"] = 8;
    c["head_dim"] = 64;
    c["num_hidden_layers"] = 6;
    c["max_position_embeddings"] = 4096;
    std::ofstream(d + "/config.json") << c.dump(1);
    return d;
  }();
  return dir;
}

}  // namespace ferrite::testing
