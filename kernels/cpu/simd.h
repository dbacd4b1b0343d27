// Intrinsics for the CPU kernels. AVX-512 code is compiled per function with FERRITE_AVX512
// (the build's baseline is AVX2 + FMA) and chosen at run time (cpu_features.h).
#pragma once

// GCC 12 warns inside its own AVX-512 headers (_mm512_undefined_* is "maybe uninitialized",
// GCC bug 105593); the warning is about the intrinsic headers, not the code including them.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#define FERRITE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
