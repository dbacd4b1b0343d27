#include "base/progress.h"

#include <unistd.h>

#include <cstdio>

namespace ferrite::base {

ProgressBar::ProgressBar(std::string label, std::uint64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(::isatty(2) != 0), enabled_(enabled) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::advance(std::uint64_t n) { set(done_ + n); }

void ProgressBar::set(std::uint64_t done) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  if (tty_ && now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth + 0.5);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  std::fprintf(stderr, "%s%s [%s] %3.0f%% %llu/%llu%s%s %.1fs %.1f/s%s", tty_ ? "\r" : "", label_.c_str(), bar,
               frac * 100.0, static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_),
               unit_.empty() ? "" : " ", unit_.c_str(), secs, rate, final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace ferrite::base
