// CUDA kernels against their CPU twins. Skips, saying why, where there is no CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/norm.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ferrite::kernels {
namespace {

TEST(CudaRmsNorm, MatchesCpuTwin) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 2.f);
  const std::int64_t rows = 33, dim = 896;
  std::vector<float> x(static_cast<std::size_t>(rows * dim)), w(static_cast<std::size_t>(dim));
  for (auto& v : x) v = dist(rng);
  for (auto& v : w) v = dist(rng);
  std::vector<float> ref(x.size()), got(x.size());
  base::ThreadPool pool(1);
  cpu::rms_norm(x.data(), w.data(), ref.data(), rows, dim, dim, 1e-6f, pool);
  float *dx, *dw, *dout;
  ASSERT_EQ(cudaMalloc(&dx, x.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dw, w.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dout, x.size() * 4), cudaSuccess);
  cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dw, w.data(), w.size() * 4, cudaMemcpyHostToDevice);
  ASSERT_EQ(cuda::rms_norm_f32(dx, dw, dout, rows, dim, 1e-6f, nullptr), 0);
  cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(dout);
  for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5f * (1 + std::fabs(ref[i]))) << i;
}

}  // namespace
}  // namespace ferrite::kernels
