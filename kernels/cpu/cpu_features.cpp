#include "kernels/cpu/cpu_features.h"

namespace ferrite::kernels::cpu {

namespace {
bool g_avx512_enabled = true;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.f16c = true;  // implied by the AVX2 baseline this project is compiled for
    c.avx512f = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    c.avx512bf16 = c.avx512f && __builtin_cpu_supports("avx512bf16");
    return c;
  }();
  return f;
}

bool use_avx512() { return g_avx512_enabled && cpu_features().avx512f; }

void set_avx512_enabled(bool enabled) { g_avx512_enabled = enabled; }

}  // namespace ferrite::kernels::cpu
