#include "kernels/cpu/norm.h"

#include <cmath>

namespace ferrite::kernels::cpu {

void rms_norm(const float* x, const float* w, float* out, std::int64_t rows, std::int64_t dim, std::int64_t stride,
              float eps, base::ThreadPool& pool) {
  auto body = [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * stride;
      float* orow = out + r * stride;
      // Eight partial sums so the compiler vectorises the reduction without fast-math.
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::int64_t i = 0;
      for (; i + 8 <= dim; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += xr[i + l] * xr[i + l];
      float ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; i < dim; ++i) ss += xr[i] * xr[i];
      const float scale = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
      for (std::int64_t j = 0; j < dim; ++j) orow[j] = (xr[j] * scale) * w[j];
    }
  };
  if (rows * dim < 16384) {
    body(0, rows);
    return;
  }
  pool.parallel_for(static_cast<std::size_t>(rows), 1, [&](int, std::size_t b, std::size_t e) {
    body(static_cast<std::int64_t>(b), static_cast<std::int64_t>(e));
  });
}

}  // namespace ferrite::kernels::cpu
