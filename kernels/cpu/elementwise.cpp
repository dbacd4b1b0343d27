#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <cstring>

#include "base/half.h"

namespace ferrite::kernels::cpu {

void silu_mul(const float* gate, const float* up, float* out, std::int64_t rows, std::int64_t dim,
              std::int64_t stride, base::ThreadPool& pool) {
  auto body = [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* g = gate + r * stride;
      const float* u = up + r * stride;
      float* o = out + r * stride;
      for (std::int64_t i = 0; i < dim; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
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

void add_inplace(float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) a[i] += b[i];
}

void embedding(const void* table, WeightType type, std::int64_t dim, const std::int32_t* ids, std::int64_t tokens,
               float* out) {
  for (std::int64_t t = 0; t < tokens; ++t) {
    const std::int64_t id = ids[t];
    float* o = out + t * dim;
    switch (type) {
      case WeightType::kF32:
        std::memcpy(o, static_cast<const float*>(table) + id * dim, static_cast<std::size_t>(dim) * 4);
        break;
      case WeightType::kBF16: {
        const bf16* row = static_cast<const bf16*>(table) + id * dim;
        for (std::int64_t i = 0; i < dim; ++i) o[i] = bf16_to_f32(row[i]);
        break;
      }
      case WeightType::kF16: {
        const f16* row = static_cast<const f16*>(table) + id * dim;
        for (std::int64_t i = 0; i < dim; ++i) o[i] = f16_to_f32(row[i]);
        break;
      }
    }
  }
}

}  // namespace ferrite::kernels::cpu
