#include <cuda_runtime.h>

#include "kernels/cuda/cuda_kernels.h"

namespace ferrite::kernels::cuda {

namespace {

// One block per row; the sum of squares is reduced in f32 across the block.
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ out,
                                std::int64_t dim, float eps) {
  const float* row = x + blockIdx.x * dim;
  float* orow = out + blockIdx.x * dim;
  float ss = 0.f;
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += row[i] * row[i];
  __shared__ float partial[32];
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    ss = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.f;
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (threadIdx.x == 0) partial[0] = ss;
  }
  __syncthreads();
  const float scale = rsqrtf(partial[0] / static_cast<float>(dim) + eps);
  for (std::int64_t i = threadIdx.x; i < dim; i += blockDim.x) orow[i] = row[i] * scale * w[i];
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

int rms_norm_f32(const float* x, const float* w, float* out, std::int64_t rows, std::int64_t dim, float eps,
                 void* stream) {
  if (rows == 0) return 0;
  rms_norm_kernel<<<static_cast<unsigned>(rows), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, w, out, dim, eps);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace ferrite::kernels::cuda
