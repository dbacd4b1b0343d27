// Communicator: the collectives tensor parallelism needs, over the ranks of one job.
//
// Contract (every implementation):
// - Every rank calls the same collectives in the same order with the same sizes (and root).
// - Every collective returns a Status and never hangs: a collective that has not completed within
//   timeout() returns kDeadlineExceeded naming the collective, the rank and the timeout. A peer
//   that is late, stuck or dead looks the same from here.
// - After a timeout the communicator is broken: the unfinished operation cannot be withdrawn
//   (MPI cannot cancel a collective), so every later collective fails at once with
//   kFailedPrecondition quoting the first failure. The job should then report and exit; see
//   docs/parallelism.md for what exiting does under mpirun.
// - all_gather is rank-major: out[r * n + i] = in_of_rank_r[i]. `in` may be out + rank() * n
//   (in place); otherwise the buffers must not overlap.
// - Pointers are host pointers for MpiCommunicator and LocalCommunicator and device pointers for
//   NcclCommunicator (whose collectives run on its stream).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "ferrite/status.h"

namespace ferrite::parallel {

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "local", "mpi" or "nccl", for logs and errors.
  virtual const char* kind() const = 0;

  // data[i] = sum over ranks of data[i], on every rank.
  virtual Status all_reduce_sum(float* data, std::size_t n) = 0;
  // out[r * n + i] = in[i] of rank r; out holds world_size() * n floats.
  virtual Status all_gather(const float* in, std::size_t n, float* out) = 0;
  // The `bytes` bytes at `data` on rank `root` are copied to `data` on every rank.
  virtual Status broadcast(void* data, std::size_t bytes, int root) = 0;
  // Returns once every rank has entered barrier().
  virtual Status barrier() = 0;

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  // Non-OK once a collective has failed (see the contract above).
  const Status& broken() const { return broken_; }

 protected:
  explicit Communicator(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  // The common argument checks, named after the collective; OK or kInvalidArgument.
  Status check_all_reduce(const float* data, std::size_t n) const;
  Status check_all_gather(const float* in, std::size_t n, const float* out) const;
  Status check_broadcast(const void* data, std::size_t bytes, int root) const;
  // "all_reduce_sum on rank 1 of 2 (mpi)": the prefix of every error message.
  std::string where(const char* collective) const;
  // Records the first failure and returns it.
  Status mark_broken(Status s);

  std::chrono::milliseconds timeout_;
  Status broken_;
};

// World size 1: every collective is a copy or nothing. Used when ferrite is not launched by MPI.
class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator();
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  const char* kind() const override { return "local"; }
  Status all_reduce_sum(float* data, std::size_t n) override;
  Status all_gather(const float* in, std::size_t n, float* out) override;
  Status broadcast(void* data, std::size_t bytes, int root) override;
  Status barrier() override;
};

struct CommunicatorOptions {
  // Bound on every collective (and on communicator creation). Generous by default: a cold
  // first collective of a large model can take a while, a hung peer must still be noticed.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
};

// How this process was started.
struct LaunchInfo {
  bool under_mpi = false;  // OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK is set
  int world_size = 1;      // from the environment when under_mpi
  int rank = 0;
};
LaunchInfo detect_launch();

// Whether this build has the MPI communicator (FERRITE_MPI).
bool mpi_available();

// Ends this process and, under MPI, every rank of the job at once (MPI_Abort: mpirun exits with
// `exit_code`); the way out after a collective failed, when peers cannot be trusted to reach
// MPI_Finalize. Without MPI, std::_Exit(exit_code).
[[noreturn]] void abort_job(int exit_code);

// Rank bootstrap. requested_world_size is the tensor-parallel degree the user asked for; 0
// means "whatever the launch gave". Started without MPI: 1 (or 0) gives a LocalCommunicator, more
// is an error saying how to launch (`mpirun -np N ferrite ...`). Started by mpirun: MPI is
// initialised once per process (finalised at exit), the launched size must equal the requested
// one, and each call returns an MpiCommunicator over its own duplicate of MPI_COMM_WORLD (so a
// broken one does not break the others). Like every collective, calls must match across ranks.
Result<std::unique_ptr<Communicator>> make_communicator(int requested_world_size,
                                                        const CommunicatorOptions& options = {});

}  // namespace ferrite::parallel
