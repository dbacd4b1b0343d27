// NcclCommunicator: the Communicator over NCCL, for device pointers (built with FERRITE_CUDA when
// NCCL is found). One process per GPU; the ranks are those of a bootstrap Communicator (MPI under
// mpirun, or LocalCommunicator for one rank), over which rank 0's ncclUniqueId is broadcast.
//
// Each collective is enqueued on stream() and then waited for, bounded by timeout(): the
// communicator is non-blocking (ncclConfig_t::blocking = 0), and the wait polls
// ncclCommGetAsyncError and cudaStreamQuery. At the deadline, or on an asynchronous NCCL error,
// it calls ncclCommAbort (which also stops the NCCL kernels on the GPU) and returns
// kDeadlineExceeded / kUnavailable; the communicator is then broken, as the contract in
// communicator.h says. Work that the caller put on stream() before a collective is ordered
// before it.
#pragma once

#include <memory>

#include "parallel/communicator.h"

namespace ferrite::parallel {

struct NcclOptions {
  int device = -1;  // CUDA device of this rank; -1: bootstrap rank % number of devices
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
};

class NcclCommunicator final : public Communicator {
 public:
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  const char* kind() const override { return "nccl"; }
  // Device pointers on device().
  Status all_reduce_sum(float* data, std::size_t n) override;
  Status all_gather(const float* in, std::size_t n, float* out) override;
  Status broadcast(void* data, std::size_t bytes, int root) override;
  // A one-float all-reduce on a scratch buffer: returns when every rank's stream reached it.
  Status barrier() override;

  int device() const { return device_; }
  void* stream() const;  // the cudaStream_t the collectives run on

  struct Impl;  // ncclComm_t, stream, scratch: CUDA and NCCL types stay out of this header

 private:
  friend Result<std::unique_ptr<NcclCommunicator>> make_nccl_communicator(Communicator&, const NcclOptions&);
  NcclCommunicator(std::unique_ptr<Impl> impl, int rank, int world_size, int device, std::chrono::milliseconds timeout);

  std::unique_ptr<Impl> impl_;
  int rank_;
  int world_size_;
  int device_;
};

// Collective over `bootstrap` (each of its ranks calls it). kUnavailable when there is no CUDA
// device; kDeadlineExceeded when the ranks do not all arrive within options.timeout.
Result<std::unique_ptr<NcclCommunicator>> make_nccl_communicator(Communicator& bootstrap,
                                                                 const NcclOptions& options = {});

// Number of CUDA devices this process can use (0 without a driver or device).
int cuda_device_count();

}  // namespace ferrite::parallel
