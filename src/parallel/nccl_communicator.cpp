#include "parallel/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <thread>

namespace ferrite::parallel {
namespace {

using Clock = std::chrono::steady_clock;

void backoff(long spins) {
  if (spins < 256) return;
  if (spins < 4096)
    std::this_thread::yield();
  else
    std::this_thread::sleep_for(std::chrono::microseconds(100));
}

std::string nccl_error(ncclResult_t r, ncclComm_t comm) {
  std::string s = ncclGetErrorString(r);
  const char* last = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  if (last != nullptr && *last != '\0') s += std::string(" (") + last + ")";
  return s;
}

// Polls a non-blocking communicator until its pending call has been issued. ncclSuccess when
// done, ncclInProgress at the deadline, or the asynchronous error.
ncclResult_t wait_issued(ncclComm_t comm, Clock::time_point deadline) {
  for (long spins = 0;; ++spins) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(comm, &state);
    if (r != ncclSuccess) return r;
    if (state != ncclInProgress) return state;
    if (Clock::now() >= deadline) return ncclInProgress;
    backoff(spins);
  }
}

}  // namespace

struct NcclCommunicator::Impl {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  float* scratch = nullptr;  // one float, for barrier()

  // Aborts the communicator (stops its kernels) and returns `s` after marking `self` broken.
  Status fail(NcclCommunicator& self, Status s) {
    if (comm != nullptr) {
      ncclCommAbort(comm);
      comm = nullptr;
    }
    return self.mark_broken(std::move(s));
  }

  template <typename Enqueue>
  Status run(NcclCommunicator& self, const char* collective, Enqueue enqueue) {
    if (comm == nullptr) return failed_precondition(self.where(collective) + ": the NCCL communicator was aborted");
    cudaSetDevice(self.device_);
    const auto deadline = Clock::now() + self.timeout();
    ncclResult_t r = enqueue();
    if (r != ncclSuccess && r != ncclInProgress)
      return fail(self, Status(StatusCode::kUnavailable, self.where(collective) + ": " + nccl_error(r, comm)));
    for (long spins = 0;; ++spins) {
      ncclResult_t state = ncclSuccess;
      r = ncclCommGetAsyncError(comm, &state);
      if (r == ncclSuccess && state != ncclSuccess && state != ncclInProgress) r = state;
      if (r != ncclSuccess)
        return fail(self, Status(StatusCode::kUnavailable, self.where(collective) + ": " + nccl_error(r, comm)));
      if (state == ncclSuccess) {  // issued: now wait for the stream
        cudaError_t q = cudaStreamQuery(stream);
        if (q == cudaSuccess) return ok_status();
        if (q != cudaErrorNotReady)
          return fail(self, internal_error(self.where(collective) + ": CUDA error " + cudaGetErrorString(q)));
      }
      if (Clock::now() >= deadline)
        return fail(self,
                    Status(StatusCode::kDeadlineExceeded,
                           self.where(collective) + ": timed out after " + std::to_string(self.timeout().count()) +
                               " ms waiting for the other ranks (one of them is late, stuck, dead or skipped "
                               "this collective); the NCCL communicator was aborted"));
      backoff(spins);
    }
  }
};

NcclCommunicator::NcclCommunicator(std::unique_ptr<Impl> impl, int rank, int world_size, int device,
                                   std::chrono::milliseconds timeout)
    : Communicator(timeout), impl_(std::move(impl)), rank_(rank), world_size_(world_size), device_(device) {}

NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(device_);
  if (impl_->comm != nullptr) {
    // Finalize flushes outstanding work, bounded by the timeout; abort if a peer never answers.
    ncclResult_t r = ncclCommFinalize(impl_->comm);
    if (r == ncclSuccess || r == ncclInProgress) r = wait_issued(impl_->comm, Clock::now() + timeout());
    if (r == ncclSuccess)
      ncclCommDestroy(impl_->comm);
    else
      ncclCommAbort(impl_->comm);
  }
  if (impl_->scratch != nullptr) cudaFree(impl_->scratch);
  if (impl_->stream != nullptr) cudaStreamDestroy(impl_->stream);
}

void* NcclCommunicator::stream() const { return impl_->stream; }

Status NcclCommunicator::all_reduce_sum(float* data, std::size_t n) {
  FERRITE_RETURN_IF_ERROR(check_all_reduce(data, n));
  if (n == 0) return ok_status();
  return impl_->run(*this, "all_reduce_sum",
                    [&] { return ncclAllReduce(data, data, n, ncclFloat32, ncclSum, impl_->comm, impl_->stream); });
}

Status NcclCommunicator::all_gather(const float* in, std::size_t n, float* out) {
  FERRITE_RETURN_IF_ERROR(check_all_gather(in, n, out));
  if (n == 0) return ok_status();
  // NCCL's all-gather is rank-major, and in place when in == out + rank * n, as ours.
  return impl_->run(*this, "all_gather",
                    [&] { return ncclAllGather(in, out, n, ncclFloat32, impl_->comm, impl_->stream); });
}

Status NcclCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  FERRITE_RETURN_IF_ERROR(check_broadcast(data, bytes, root));
  if (bytes == 0) return ok_status();
  return impl_->run(*this, "broadcast",
                    [&] { return ncclBroadcast(data, data, bytes, ncclInt8, root, impl_->comm, impl_->stream); });
}

Status NcclCommunicator::barrier() {
  if (!broken_.ok())
    return failed_precondition(where("barrier") +
                               ": communicator is broken by an earlier failure: " + broken_.message());
  return impl_->run(*this, "barrier", [&] {
    return ncclAllReduce(impl_->scratch, impl_->scratch, 1, ncclFloat32, ncclSum, impl_->comm, impl_->stream);
  });
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

Result<std::unique_ptr<NcclCommunicator>> make_nccl_communicator(Communicator& bootstrap, const NcclOptions& options) {
  const int rank = bootstrap.rank(), world = bootstrap.world_size();
  const std::string who =
      "creating the NCCL communicator on rank " + std::to_string(rank) + " of " + std::to_string(world);
  if (options.timeout.count() <= 0) return invalid_argument(who + ": timeout must be positive");
  // Every rank takes part in the id broadcast even when it has no device, so that no rank is left
  // waiting in it; a rank without a device reports after the broadcast.
  const int devices = cuda_device_count();
  struct {
    ncclUniqueId id;
    int valid;  // 0 when rank 0 could not make an id: every rank then fails rather than waits
  } root{};
  ncclResult_t r = ncclSuccess;
  if (rank == 0 && devices > 0) {
    r = ncclGetUniqueId(&root.id);
    root.valid = r == ncclSuccess ? 1 : 0;
  }
  FERRITE_RETURN_IF_ERROR(bootstrap.broadcast(&root, sizeof(root), 0));
  if (devices == 0) return Status(StatusCode::kUnavailable, who + ": no CUDA device on this machine");
  if (r != ncclSuccess) return Status(StatusCode::kUnavailable, who + ": ncclGetUniqueId: " + nccl_error(r, nullptr));
  if (!root.valid) return Status(StatusCode::kUnavailable, who + ": rank 0 could not create the NCCL unique id");
  const ncclUniqueId& id = root.id;
  const int device = options.device >= 0 ? options.device : rank % devices;
  if (device >= devices)
    return invalid_argument(who + ": device " + std::to_string(device) + " does not exist (" + std::to_string(devices) +
                            " devices)");
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
    return Status(StatusCode::kUnavailable,
                  who + ": cudaSetDevice(" + std::to_string(device) + "): " + cudaGetErrorString(e));

  auto impl = std::make_unique<NcclCommunicator::Impl>();
  if (cudaError_t e = cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking); e != cudaSuccess)
    return internal_error(who + ": cudaStreamCreate: " + cudaGetErrorString(e));
  if (cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&impl->scratch), sizeof(float)); e != cudaSuccess) {
    cudaStreamDestroy(impl->stream);
    return resource_exhausted(who + ": cudaMalloc: " + cudaGetErrorString(e));
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every NCCL call returns at once; we poll, so that nothing can hang
  r = ncclCommInitRankConfig(&impl->comm, world, id, rank, &config);
  if (r == ncclSuccess || r == ncclInProgress) r = wait_issued(impl->comm, Clock::now() + options.timeout);
  auto cleanup = [&] {
    if (impl->comm != nullptr) ncclCommAbort(impl->comm);
    cudaFree(impl->scratch);
    cudaStreamDestroy(impl->stream);
  };
  if (r == ncclInProgress) {
    cleanup();
    return Status(StatusCode::kDeadlineExceeded, who + ": timed out after " + std::to_string(options.timeout.count()) +
                                                     " ms waiting for the other ranks");
  }
  if (r != ncclSuccess) {
    std::string msg = who + ": ncclCommInitRankConfig: " + nccl_error(r, impl->comm);
    cleanup();
    return Status(StatusCode::kUnavailable, msg);
  }
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(std::move(impl), rank, world, device, options.timeout));
}

}  // namespace ferrite::parallel
