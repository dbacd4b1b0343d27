// What the CPU can do, read once from CPUID. Kernels pick their AVX-512 or AVX2 path from it;
// tests can force the AVX2 path to keep it working on machines that have AVX-512.
#pragma once

namespace ferrite::kernels::cpu {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;   // with avx512bw/vl/dq
  bool avx512bf16 = false;
};

const CpuFeatures& cpu_features();

// True when the AVX-512 paths are used (the CPU has them and they are not disabled).
bool use_avx512();
// Disables (or re-enables) the AVX-512 paths, for tests of the AVX2 paths. Not thread-safe:
// call it only while no kernel runs.
void set_avx512_enabled(bool enabled);

}  // namespace ferrite::kernels::cpu
