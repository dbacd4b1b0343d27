#include "parallel/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/logging.h"

namespace ferrite::parallel {
namespace {

using Clock = std::chrono::steady_clock;

// Process-wide MPI state. MPI_Init may happen once per process, so it is not owned by any one
// communicator.
struct MpiProcess {
  std::mutex init_mu;
  bool initialised_by_us = false;
  int provided = -1;  // MPI_THREAD_* once initialised
  std::thread::id init_thread;
  std::mutex call_mu;  // taken around every MPI call when provided == MPI_THREAD_SERIALIZED
};

MpiProcess& process() {
  static auto* p = new MpiProcess;  // never destroyed: used from the atexit handler
  return *p;
}

// Serialises MPI calls when the library is not thread-multiple.
class CallLock {
 public:
  CallLock() : lock_(process().call_mu, std::defer_lock) {
    if (process().provided < MPI_THREAD_MULTIPLE) lock_.lock();
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

std::string error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buf, static_cast<std::size_t>(len));
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Status ensure_initialised() {
  MpiProcess& p = process();
  std::lock_guard<std::mutex> lock(p.init_mu);
  if (p.provided >= 0) return ok_status();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return failed_precondition("MPI was already finalised in this process");
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) {  // someone else owns MPI: use it as it is, leave finalising to them
    MPI_Query_thread(&p.provided);
  } else {
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &p.provided);
    if (rc != MPI_SUCCESS) return Status(StatusCode::kUnavailable, "MPI_Init_thread failed: " + error_string(rc));
    p.initialised_by_us = true;
    std::atexit(finalize_at_exit);
  }
  p.init_thread = std::this_thread::get_id();
  if (p.provided < MPI_THREAD_MULTIPLE)
    FERRITE_LOG_WARN("MPI provides thread level '{}' only (not multiple): ferrite serialises its MPI calls{}",
                     mpi_thread_level(),
                     p.provided < MPI_THREAD_SERIALIZED ? " and accepts them from the initialising thread only" : "");
  return ok_status();
}

// Polls `req` until it completes, fails or `deadline` passes. Returns MPI_SUCCESS and done=true,
// an MPI error code, or MPI_SUCCESS and done=false at the deadline (the request is left pending).
int poll(MPI_Request* req, Clock::time_point deadline, bool* done) {
  *done = false;
  for (long spins = 0;; ++spins) {
    int flag = 0;
    int rc;
    {
      CallLock lock;
      rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
    }
    if (rc != MPI_SUCCESS) return rc;
    if (flag) {
      *done = true;
      return MPI_SUCCESS;
    }
    if (Clock::now() >= deadline) return MPI_SUCCESS;
    if (spins < 256) continue;
    if (spins < 4096)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace

struct MpiCommunicator::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  // Requests left pending by a timeout: MPI cannot cancel a collective, so they are kept (never
  // freed) until the communicator goes away.
  std::vector<MPI_Request> abandoned;

  // Starts a nonblocking collective with `start` and waits for it; fills in the error.
  template <typename Start>
  Status run(MpiCommunicator& self, const char* collective, Clock::time_point deadline, Start start) {
    MPI_Request req = MPI_REQUEST_NULL;
    int rc;
    {
      CallLock lock;
      rc = start(&req);
    }
    if (rc != MPI_SUCCESS)
      return self.mark_broken(Status(StatusCode::kUnavailable, self.where(collective) + ": " + error_string(rc)));
    bool done = false;
    rc = poll(&req, deadline, &done);
    if (rc != MPI_SUCCESS)
      return self.mark_broken(Status(StatusCode::kUnavailable, self.where(collective) + ": " + error_string(rc)));
    if (!done) {
      abandoned.push_back(req);
      return self.mark_broken(
          Status(StatusCode::kDeadlineExceeded,
                 self.where(collective) + ": timed out after " + std::to_string(self.timeout().count()) +
                     " ms waiting for the other ranks (one of them is late, stuck, dead or skipped this collective); "
                     "the communicator is unusable from now on"));
    }
    return ok_status();
  }
};

MpiCommunicator::MpiCommunicator(std::unique_ptr<Impl> impl, int rank, int world_size,
                                 std::chrono::milliseconds timeout)
    : Communicator(timeout), impl_(std::move(impl)), rank_(rank), world_size_(world_size) {}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || impl_->comm == MPI_COMM_NULL) return;
  // MPI_Comm_free only marks the communicator for deallocation, so it returns even with an
  // abandoned collective pending (checked with OpenMPI 4.1).
  CallLock lock;
  MPI_Comm_free(&impl_->comm);
}

Status MpiCommunicator::thread_check(const char* collective) const {
  const MpiProcess& p = process();
  if (p.provided < MPI_THREAD_SERIALIZED && std::this_thread::get_id() != p.init_thread)
    return failed_precondition(where(collective) + ": MPI thread level is '" + mpi_thread_level() +
                               "', so collectives must be called from the thread that initialised MPI");
  return ok_status();
}

Status MpiCommunicator::all_reduce_sum(float* data, std::size_t n) {
  FERRITE_RETURN_IF_ERROR(check_all_reduce(data, n));
  FERRITE_RETURN_IF_ERROR(thread_check("all_reduce_sum"));
  const auto deadline = Clock::now() + timeout_;
  // MPI counts are int: larger arrays go in chunks (each element is reduced independently).
  constexpr std::size_t kChunk = static_cast<std::size_t>(INT_MAX);
  for (std::size_t off = 0; off < n; off += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, n - off));
    FERRITE_RETURN_IF_ERROR(impl_->run(*this, "all_reduce_sum", deadline, [&](MPI_Request* req) {
      return MPI_Iallreduce(MPI_IN_PLACE, data + off, count, MPI_FLOAT, MPI_SUM, impl_->comm, req);
    }));
  }
  return ok_status();
}

Status MpiCommunicator::all_gather(const float* in, std::size_t n, float* out) {
  FERRITE_RETURN_IF_ERROR(check_all_gather(in, n, out));
  FERRITE_RETURN_IF_ERROR(thread_check("all_gather"));
  if (n == 0) return ok_status();
  if (n > static_cast<std::size_t>(INT_MAX))
    return invalid_argument(where("all_gather") + ": " + std::to_string(n) +
                            " floats per rank is more than MPI's int count");
  const bool in_place = in == out + static_cast<std::size_t>(rank_) * n;
  const auto deadline = Clock::now() + timeout_;
  const int count = static_cast<int>(n);
  return impl_->run(*this, "all_gather", deadline, [&](MPI_Request* req) {
    return MPI_Iallgather(in_place ? MPI_IN_PLACE : in, count, MPI_FLOAT, out, count, MPI_FLOAT, impl_->comm, req);
  });
}

Status MpiCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  FERRITE_RETURN_IF_ERROR(check_broadcast(data, bytes, root));
  FERRITE_RETURN_IF_ERROR(thread_check("broadcast"));
  const auto deadline = Clock::now() + timeout_;
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  auto* p = static_cast<char*>(data);
  for (std::size_t off = 0; off < bytes; off += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, bytes - off));
    FERRITE_RETURN_IF_ERROR(impl_->run(*this, "broadcast", deadline, [&](MPI_Request* req) {
      return MPI_Ibcast(p + off, count, MPI_BYTE, root, impl_->comm, req);
    }));
  }
  return ok_status();
}

Status MpiCommunicator::barrier() {
  if (!broken_.ok())
    return failed_precondition(where("barrier") +
                               ": communicator is broken by an earlier failure: " + broken_.message());
  FERRITE_RETURN_IF_ERROR(thread_check("barrier"));
  const auto deadline = Clock::now() + timeout_;
  return impl_->run(*this, "barrier", deadline, [&](MPI_Request* req) { return MPI_Ibarrier(impl_->comm, req); });
}

Result<std::unique_ptr<Communicator>> make_mpi_communicator(int requested_world_size,
                                                            const CommunicatorOptions& options) {
  FERRITE_RETURN_IF_ERROR(ensure_initialised());
  int world = 0, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (requested_world_size != 0 && requested_world_size != world)
    return invalid_argument("tensor-parallel size " + std::to_string(requested_world_size) +
                            " was requested but MPI has " + std::to_string(world) + " ranks: launch with `mpirun -np " +
                            std::to_string(requested_world_size) + " ferrite ...`");
  if (process().provided < MPI_THREAD_SERIALIZED && std::this_thread::get_id() != process().init_thread)
    return failed_precondition(std::string("MPI thread level is '") + mpi_thread_level() +
                               "': communicators must be made on the thread that initialised MPI");
  auto impl = std::make_unique<MpiCommunicator::Impl>();
  MPI_Request req = MPI_REQUEST_NULL;
  int rc;
  {
    CallLock lock;
    rc = MPI_Comm_idup(MPI_COMM_WORLD, &impl->comm, &req);
  }
  bool done = false;
  if (rc == MPI_SUCCESS) rc = poll(&req, Clock::now() + options.timeout, &done);
  if (rc != MPI_SUCCESS)
    return Status(StatusCode::kUnavailable,
                  "creating the MPI communicator on rank " + std::to_string(rank) + ": " + error_string(rc));
  if (!done)
    return Status(StatusCode::kDeadlineExceeded, "creating the MPI communicator on rank " + std::to_string(rank) +
                                                     " of " + std::to_string(world) + ": timed out after " +
                                                     std::to_string(options.timeout.count()) +
                                                     " ms waiting for the other ranks to create theirs");
  {
    CallLock lock;
    // Errors on our communicator come back as codes (and then as a Status), not as an abort.
    MPI_Comm_set_errhandler(impl->comm, MPI_ERRORS_RETURN);
  }
  return std::unique_ptr<Communicator>(new MpiCommunicator(std::move(impl), rank, world, options.timeout));
}

const char* mpi_thread_level() {
  switch (process().provided) {
    case MPI_THREAD_MULTIPLE:
      return "multiple";
    case MPI_THREAD_SERIALIZED:
      return "serialized";
    case MPI_THREAD_FUNNELED:
      return "funneled";
    case MPI_THREAD_SINGLE:
      return "single";
    default:
      return "not initialised";
  }
}

void mpi_abort(int exit_code) {
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (initialised && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace ferrite::parallel
