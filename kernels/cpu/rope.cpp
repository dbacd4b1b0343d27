#include "kernels/cpu/rope.h"

namespace ferrite::kernels::cpu {

void rope_neox(float* x, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim, std::int64_t token_stride,
               std::int64_t rot_dim, const float* cos, const float* sin) {
  const std::int64_t half = rot_dim / 2;
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    for (std::int64_t h = 0; h < heads; ++h) {
      float* v = x + t * token_stride + h * head_dim;
      for (std::int64_t i = 0; i < half; ++i) {
        const float a = v[i];
        const float b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

}  // namespace ferrite::kernels::cpu
