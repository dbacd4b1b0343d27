#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace ferrite::kernels::cpu {

// out[r, :] = (x[r, :] * rsqrt(mean(x[r, :]^2) + eps)) * w   (f32; out may alias x).
// Rows are `stride` floats apart in both x and out.
void rms_norm(const float* x, const float* w, float* out, std::int64_t rows, std::int64_t dim, std::int64_t stride,
              float eps, base::ThreadPool& pool);

}  // namespace ferrite::kernels::cpu
