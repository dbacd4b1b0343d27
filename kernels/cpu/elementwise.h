#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "kernels/cpu/linear.h"

namespace ferrite::kernels::cpu {

// out[t, i] = silu(gate[t, i]) * up[t, i]; rows `stride` floats apart in all three.
void silu_mul(const float* gate, const float* up, float* out, std::int64_t rows, std::int64_t dim,
              std::int64_t stride, base::ThreadPool& pool);

// a[i] += b[i]
void add_inplace(float* a, const float* b, std::int64_t n);

// out[t, :] = table[ids[t], :] widened to f32. Ids must be in range (validated by the caller).
void embedding(const void* table, WeightType type, std::int64_t dim, const std::int32_t* ids, std::int64_t tokens,
               float* out);

}  // namespace ferrite::kernels::cpu
