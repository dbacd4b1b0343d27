#include "engine/stop_checker.h"

#include <algorithm>

namespace ferrite::engine {

StopChecker::Step StopChecker::feed(const std::string& delta) {
  Step out;
  if (stops_.empty()) {
    out.text = delta;
    return out;
  }
  const std::size_t old = pending_.size();
  pending_ += delta;
  // The earliest match wins; a match must end inside the new text (an earlier one would have
  // been found on an earlier call), so searching from old - (longest stop - 1) suffices.
  std::size_t longest = 0;
  for (const auto& s : stops_) longest = std::max(longest, s.size());
  const std::size_t from = old >= longest ? old - longest + 1 : 0;
  std::size_t best = std::string::npos;
  const std::string* which = nullptr;
  for (const auto& s : stops_) {
    const std::size_t p = pending_.find(s, from);
    if (p != std::string::npos && (p < best || (p == best && s.size() > which->size()))) {
      best = p;
      which = &s;
    }
  }
  if (which != nullptr) {
    out.text = pending_.substr(0, include_ ? best + which->size() : best);
    out.stopped = *which;
    pending_.clear();
    return out;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  std::size_t hold = 0;
  for (const auto& s : stops_) {
    for (std::size_t k = std::min(s.size() - 1, pending_.size()); k > hold; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  out.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopChecker::flush() {
  std::string s;
  s.swap(pending_);
  return s;
}

}  // namespace ferrite::engine
