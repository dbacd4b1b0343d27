// SseParser: splits a server-sent-events byte stream (as it arrives in arbitrary pieces) into
// the payloads of its `data:` lines. Used by the commands that talk to a running server.
#pragma once

#include <cstddef>
#include <string>

namespace ferrite::cli {

class SseParser {
 public:
  // Appends `n` bytes and calls on_data(payload) for every complete `data:` line.
  template <typename F>
  void feed(const char* data, std::size_t n, F&& on_data) {
    buf_.append(data, n);
    std::size_t start = 0;
    for (;;) {
      const std::size_t nl = buf_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = buf_.substr(start, nl - start);
      start = nl + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("data:", 0) == 0) {
        std::size_t p = 5;
        if (p < line.size() && line[p] == ' ') ++p;
        on_data(line.substr(p));
      }
    }
    buf_.erase(0, start);
  }

 private:
  std::string buf_;
};

}  // namespace ferrite::cli
