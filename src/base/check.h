// FERRITE_CHECK: for broken internal invariants only. Failures from outside use Status.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace ferrite::base {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* msg);
}  // namespace ferrite::base

#define FERRITE_CHECK(cond)                                                     \
  do {                                                                          \
    if (!(cond)) ::ferrite::base::check_failed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

#define FERRITE_CHECK_MSG(cond, msg)                                               \
  do {                                                                             \
    if (!(cond)) ::ferrite::base::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
