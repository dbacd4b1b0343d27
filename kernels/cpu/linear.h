// Linear layers on the CPU: y[M, N] = x[M, K] · W[N, K]^T (+ bias[N]).
//
// Weights are packed once at load into panels of 16 output columns: packed[p][k][j] holds
// W[16p + j, k] (the last panel zero-padded), in the weight's own storage type (f32, bf16, f16).
// Every output element is computed as one FMA chain over k = 0..K-1 in order, starting from 0,
// with the bias added last, whatever M is and whichever path runs (the decode GEMV for small M,
// the blocked GEMM for large M). So a row's result is bitwise independent of the other rows in
// the batch, which the engine's determinism contract relies on.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"

namespace ferrite::kernels::cpu {

enum class WeightType : std::uint8_t { kF32, kF16, kBF16 };

constexpr std::int64_t kPanelWidth = 16;

std::size_t weight_type_size(WeightType t);

// Number of elements of the packed buffer for an [N, K] weight.
std::int64_t packed_weight_elems(std::int64_t n, std::int64_t k);

// Packs row-major W[N, K] (row stride ldw elements) into `packed` (same storage type).
void pack_linear_weight(const void* w, WeightType type, std::int64_t n, std::int64_t k, std::int64_t ldw,
                        void* packed, base::ThreadPool& pool);

// y[m, n] = sum_k x[m, k] * W[n, k] (+ bias[n]). x has row stride ldx, y row stride ldy (floats).
void linear(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* packed, WeightType type,
            std::int64_t n, const float* bias, float* y, std::int64_t ldy, base::ThreadPool& pool);

// The same result computed by plain loops (the specification; for tests).
void linear_reference(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* packed,
                      WeightType type, std::int64_t n, const float* bias, float* y, std::int64_t ldy);

}  // namespace ferrite::kernels::cpu
