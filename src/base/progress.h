// ProgressBar: a one-line bar on stderr for long work (loading weights, offline batches).
// It redraws at most ten times a second and only when stderr is a terminal, or when forced;
// otherwise it prints one line at the end, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ferrite::base {

class ProgressBar {
 public:
  // A disabled bar prints nothing at all.
  ProgressBar(std::string label, std::uint64_t total, std::string unit = "", bool enabled = true);
  ~ProgressBar();
  void advance(std::uint64_t n = 1);
  void set(std::uint64_t done);
  void finish();

 private:
  void draw(bool final_line);

  std::string label_;
  std::string unit_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool tty_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace ferrite::base
