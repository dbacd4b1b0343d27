// StopChecker: stop strings over a stream of text deltas. A stop string may straddle tokens,
// so text that could still be the start of a stop string is held back until it cannot be; the
// text before a match is released, the match itself only with include_stop_str_in_output.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ferrite::engine {

class StopChecker {
 public:
  StopChecker(std::vector<std::string> stops, bool include_stop_str) : stops_(std::move(stops)), include_(include_stop_str) {}

  struct Step {
    std::string text;                  // text safe to send now
    std::optional<std::string> stopped;  // the stop string that matched, if any
  };
  // Feeds new text; returns what may be sent. After a match, feed() must not be called again.
  Step feed(const std::string& delta);
  // Everything still held back (at the end of a completion that did not stop on a string).
  std::string flush();

 private:
  std::vector<std::string> stops_;
  bool include_;
  std::string pending_;
};

}  // namespace ferrite::engine
