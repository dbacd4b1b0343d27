// LocalCommunicator and rank bootstrap in a plain process (no mpirun): one rank works, more
// ranks are refused with the command that would launch them.
#include "parallel/communicator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace ferrite::parallel {
namespace {

bool launched_by_mpi() { return detect_launch().under_mpi; }

TEST(LocalCommunicator, CollectivesAreIdentities) {
  LocalCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  std::vector<float> data{1.5f, -2.f, 3.f};
  ASSERT_TRUE(comm.all_reduce_sum(data.data(), data.size()).ok());
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.f, 3.f}));
  std::vector<float> out(3, 0.f);
  ASSERT_TRUE(comm.all_gather(data.data(), data.size(), out.data()).ok());
  EXPECT_EQ(out, data);
  ASSERT_TRUE(comm.all_gather(out.data(), out.size(), out.data()).ok());  // in place
  EXPECT_EQ(out, data);
  ASSERT_TRUE(comm.broadcast(data.data(), sizeof(float) * data.size(), 0).ok());
  EXPECT_TRUE(comm.barrier().ok());
}

TEST(LocalCommunicator, RejectsBadArguments) {
  LocalCommunicator comm;
  float x = 0;
  EXPECT_EQ(comm.broadcast(&x, sizeof(x), 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.all_reduce_sum(nullptr, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(comm.all_reduce_sum(nullptr, 0).ok());
  std::vector<float> buf(4);
  Status s = comm.all_gather(buf.data() + 1, 2, buf.data());  // overlapping, not in place
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("all_gather on rank 0 of 1 (local)"), std::string::npos) << s.message();
}

TEST(MakeCommunicator, OneRankWithoutMpiIsLocal) {
  if (launched_by_mpi()) GTEST_SKIP() << "runs only outside mpirun";
  for (int n : {0, 1}) {
    auto comm = make_communicator(n);
    ASSERT_TRUE(comm.ok()) << comm.status().to_string();
    EXPECT_STREQ((*comm)->kind(), "local");
    EXPECT_EQ((*comm)->world_size(), 1);
  }
}

TEST(MakeCommunicator, MoreRanksWithoutMpiSaysHowToLaunch) {
  if (launched_by_mpi()) GTEST_SKIP() << "runs only outside mpirun";
  auto comm = make_communicator(4);
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(comm.status().message().find("`mpirun -np 4 ferrite ...`"), std::string::npos) << comm.status().message();
}

TEST(MakeCommunicator, RejectsBadArguments) {
  EXPECT_EQ(make_communicator(-1).status().code(), StatusCode::kInvalidArgument);
  CommunicatorOptions opts;
  opts.timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(make_communicator(1, opts).status().code(), StatusCode::kInvalidArgument);
}

TEST(MakeCommunicator, LaunchedSizeMustMatchRequested) {
  if (launched_by_mpi()) GTEST_SKIP() << "runs only outside mpirun";
  // Pretend OpenMPI's mpirun started 4 ranks; the mismatch is found before MPI is touched.
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  ::setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  const LaunchInfo launch = detect_launch();
  auto comm = make_communicator(2);
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::unsetenv("OMPI_COMM_WORLD_RANK");
  EXPECT_TRUE(launch.under_mpi);
  EXPECT_EQ(launch.world_size, 4);
  EXPECT_EQ(launch.rank, 2);
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(comm.status().message().find("4 processes were launched"), std::string::npos) << comm.status().message();
  EXPECT_NE(comm.status().message().find("mpirun -np 2"), std::string::npos) << comm.status().message();
}

}  // namespace
}  // namespace ferrite::parallel
