// MpiCommunicator: the Communicator over MPI (host pointers; OpenMPI on Debian, C bindings).
//
// MPI is initialised once per process, by the first make_communicator() call under an MPI
// launch, with MPI_Init_thread(MPI_THREAD_MULTIPLE). An MPI that offers only SERIALIZED gets
// every ferrite MPI call behind one process-wide mutex; one that offers only FUNNELED or SINGLE
// accepts collectives from the initialising thread alone (others get kFailedPrecondition). MPI is
// finalised at process exit (std::atexit), unless something else initialised it first.
//
// Each collective is the nonblocking MPI call (MPI_Iallreduce, MPI_Iallgather, MPI_Ibcast,
// MPI_Ibarrier) polled with MPI_Test until timeout(): spinning first (small decode all-reduces
// finish in microseconds), then yielding, then sleeping 100 us, so a waiting rank leaves the CPU
// to the late one. Errors come back as MPI error codes (MPI_ERRORS_RETURN on our communicator).
#pragma once

#include <memory>

#include "parallel/communicator.h"

namespace ferrite::parallel {

class MpiCommunicator final : public Communicator {
 public:
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  const char* kind() const override { return "mpi"; }
  Status all_reduce_sum(float* data, std::size_t n) override;
  Status all_gather(const float* in, std::size_t n, float* out) override;
  Status broadcast(void* data, std::size_t bytes, int root) override;
  Status barrier() override;

  struct Impl;  // holds the MPI_Comm, so that mpi.h stays out of this header

 private:
  friend Result<std::unique_ptr<Communicator>> make_mpi_communicator(int, const CommunicatorOptions&);
  MpiCommunicator(std::unique_ptr<Impl> impl, int rank, int world_size, std::chrono::milliseconds timeout);
  Status thread_check(const char* collective) const;

  std::unique_ptr<Impl> impl_;
  int rank_;
  int world_size_;
};

// Initialises MPI if needed and returns a communicator over a duplicate of MPI_COMM_WORLD.
// Collective over MPI_COMM_WORLD. requested_world_size 0 accepts the launched size.
Result<std::unique_ptr<Communicator>> make_mpi_communicator(int requested_world_size,
                                                            const CommunicatorOptions& options);

// The thread support MPI gave this process: "multiple", "serialized", "funneled", "single", or
// "not initialised".
const char* mpi_thread_level();

// Ends the whole job now: MPI_Abort on MPI_COMM_WORLD, which makes mpirun kill every rank and exit
// with `exit_code`. The way out after a collective timed out (a hung peer would also hang
// MPI_Finalize). Without MPI initialised, std::_Exit(exit_code).
[[noreturn]] void mpi_abort(int exit_code);

}  // namespace ferrite::parallel
