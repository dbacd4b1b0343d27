// NcclCommunicator on device buffers. Plainly it runs one rank (LocalCommunicator bootstrap);
// under `mpirun -np N` on a machine with N GPUs the same checks run over N ranks, plus the
// timeout. Skips, saying why, where there is no CUDA device.
#include "parallel/nccl_communicator.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "parallel/communicator.h"

namespace ferrite::parallel {
namespace {

using std::chrono::milliseconds;

float value(int rank, std::size_t i) { return static_cast<float>(rank + 1) + 0.5f * static_cast<float>(i % 97); }

struct DeviceBuffer {
  explicit DeviceBuffer(std::size_t n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float)), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(p); }
  float* p = nullptr;
};

void upload(float* d, const std::vector<float>& h) {
  ASSERT_EQ(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
}
std::vector<float> download(const float* d, std::size_t n) {
  std::vector<float> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
    auto boot = make_communicator(0);
    ASSERT_TRUE(boot.ok()) << boot.status().to_string();
    bootstrap_ = std::move(boot).value();
    NcclOptions opts;
    opts.timeout = milliseconds(60000);
    auto comm = make_nccl_communicator(*bootstrap_, opts);
    ASSERT_TRUE(comm.ok()) << comm.status().to_string();
    comm_ = std::move(comm).value();
  }
  std::unique_ptr<Communicator> bootstrap_;
  std::unique_ptr<NcclCommunicator> comm_;
};

TEST_F(NcclCommunicatorTest, AllReduceAllGatherBroadcastBarrier) {
  const int rank = comm_->rank(), world = comm_->world_size();
  EXPECT_STREQ(comm_->kind(), "nccl");
  EXPECT_EQ(world, bootstrap_->world_size());
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
    std::vector<float> h(n);
    for (std::size_t i = 0; i < n; ++i) h[i] = value(rank, i);

    DeviceBuffer data(n);
    upload(data.p, h);
    ASSERT_TRUE(comm_->all_reduce_sum(data.p, n).ok());
    std::vector<float> got = download(data.p, n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      float want = 0;
      for (int r = 0; r < world; ++r) want += value(r, i);
      bad += got[i] != want;
    }
    EXPECT_EQ(bad, 0u) << "all_reduce_sum n=" << n;

    DeviceBuffer in(n), out(n * static_cast<std::size_t>(world));
    upload(in.p, h);
    ASSERT_TRUE(comm_->all_gather(in.p, n, out.p).ok());
    got = download(out.p, n * static_cast<std::size_t>(world));
    bad = 0;
    for (int r = 0; r < world; ++r)
      for (std::size_t i = 0; i < n; ++i) bad += got[static_cast<std::size_t>(r) * n + i] != value(r, i);
    EXPECT_EQ(bad, 0u) << "all_gather n=" << n;

    const int root = world - 1;
    std::vector<float> b(n, -7.f);
    if (rank == root) b = h;
    upload(data.p, b);
    ASSERT_TRUE(comm_->broadcast(data.p, n * sizeof(float), root).ok());
    got = download(data.p, n);
    bad = 0;
    for (std::size_t i = 0; i < n; ++i) bad += got[i] != value(root, i);
    EXPECT_EQ(bad, 0u) << "broadcast n=" << n;
  }
  EXPECT_TRUE(comm_->barrier().ok());
}

TEST_F(NcclCommunicatorTest, SkippedCollectiveTimesOut) {
  if (comm_->world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (mpirun -np 2 on 2 GPUs)";
  comm_->set_timeout(milliseconds(2000));
  ASSERT_TRUE(bootstrap_->barrier().ok());
  if (comm_->rank() != comm_->world_size() - 1) {
    DeviceBuffer data(1000);
    Status s = comm_->all_reduce_sum(data.p, 1000);
    EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.to_string();
    EXPECT_NE(s.message().find("all_reduce_sum"), std::string::npos) << s.message();
    EXPECT_EQ(comm_->barrier().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_TRUE(bootstrap_->barrier().ok());
}

}  // namespace
}  // namespace ferrite::parallel
