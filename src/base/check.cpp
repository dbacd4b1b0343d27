#include "base/check.h"

namespace ferrite::base {

void check_failed(const char* file, int line, const char* expr, const char* msg) {
  std::fprintf(stderr, "ferrite: internal invariant broken at %s:%d: %s %s\n", file, line, expr, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ferrite::base
