// CUDA kernels: pointers, shapes and a stream in, a status out; they allocate nothing.
// Each has a CPU twin in kernels/cpu/ that is its specification (tests/kernels/).
#pragma once

#include <cstdint>

namespace ferrite::kernels::cuda {

// Number of usable CUDA devices (0 when there is no driver or device).
int device_count();

// out[r, :] = x[r, :] / rms(x[r, :]) * w  (f32, device pointers).
// Returns 0 on success, or the cudaError_t of the launch.
int rms_norm_f32(const float* x, const float* w, float* out, std::int64_t rows, std::int64_t dim, float eps,
                 void* stream);

}  // namespace ferrite::kernels::cuda
