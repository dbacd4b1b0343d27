#include "parallel/communicator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef FERRITE_HAVE_MPI
#include "parallel/mpi_communicator.h"
#endif

namespace ferrite::parallel {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || x < 0 || x > 1 << 20) return fallback;
  return static_cast<int>(x);
}

std::string how_to_launch(int n) {
  return "launch one process per rank with `mpirun -np " + std::to_string(n) +
         " ferrite ...` (as root add --allow-run-as-root)";
}

bool overlaps(const void* a, std::size_t abytes, const void* b, std::size_t bbytes) {
  auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
  return pa < pb + bbytes && pb < pa + abytes;
}

}  // namespace

std::string Communicator::where(const char* collective) const {
  return std::string(collective) + " on rank " + std::to_string(rank()) + " of " + std::to_string(world_size()) + " (" +
         kind() + ")";
}

Status Communicator::mark_broken(Status s) {
  if (broken_.ok()) broken_ = s;
  return s;
}

Status Communicator::check_all_reduce(const float* data, std::size_t n) const {
  if (!broken_.ok())
    return failed_precondition(where("all_reduce_sum") +
                               ": communicator is broken by an earlier failure: " + broken_.message());
  if (n > 0 && data == nullptr)
    return invalid_argument(where("all_reduce_sum") + ": null data for " + std::to_string(n) + " floats");
  return ok_status();
}

Status Communicator::check_all_gather(const float* in, std::size_t n, const float* out) const {
  if (!broken_.ok())
    return failed_precondition(where("all_gather") +
                               ": communicator is broken by an earlier failure: " + broken_.message());
  if (n == 0) return ok_status();
  if (in == nullptr || out == nullptr) return invalid_argument(where("all_gather") + ": null buffer");
  const std::size_t nb = n * sizeof(float);
  const bool in_place = in == out + static_cast<std::size_t>(rank()) * n;
  if (!in_place && overlaps(in, nb, out, nb * static_cast<std::size_t>(world_size())))
    return invalid_argument(where("all_gather") + ": input overlaps output (only in == out + rank * n is allowed)");
  return ok_status();
}

Status Communicator::check_broadcast(const void* data, std::size_t bytes, int root) const {
  if (!broken_.ok())
    return failed_precondition(where("broadcast") +
                               ": communicator is broken by an earlier failure: " + broken_.message());
  if (root < 0 || root >= world_size())
    return invalid_argument(where("broadcast") + ": root " + std::to_string(root) + " is not a rank");
  if (bytes > 0 && data == nullptr) return invalid_argument(where("broadcast") + ": null data");
  return ok_status();
}

LocalCommunicator::LocalCommunicator() : Communicator(CommunicatorOptions{}.timeout) {}

Status LocalCommunicator::all_reduce_sum(float* data, std::size_t n) { return check_all_reduce(data, n); }

Status LocalCommunicator::all_gather(const float* in, std::size_t n, float* out) {
  FERRITE_RETURN_IF_ERROR(check_all_gather(in, n, out));
  if (n > 0 && in != out) std::memcpy(out, in, n * sizeof(float));
  return ok_status();
}

Status LocalCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  return check_broadcast(data, bytes, root);
}

Status LocalCommunicator::barrier() { return ok_status(); }

LaunchInfo detect_launch() {
  LaunchInfo info;
  // OpenMPI's mpirun sets OMPI_COMM_WORLD_*, MPICH's hydra PMI_*, a PMIx launcher (srun) PMIX_RANK.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
    info.under_mpi = true;
    info.world_size = env_int("OMPI_COMM_WORLD_SIZE", 0);
    info.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
  } else if (std::getenv("PMI_SIZE") != nullptr) {
    info.under_mpi = true;
    info.world_size = env_int("PMI_SIZE", 0);
    info.rank = env_int("PMI_RANK", 0);
  } else if (std::getenv("PMIX_RANK") != nullptr) {
    info.under_mpi = true;
    info.world_size = 0;  // known only once MPI is initialised
    info.rank = env_int("PMIX_RANK", 0);
  }
  return info;
}

bool mpi_available() {
#ifdef FERRITE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Result<std::unique_ptr<Communicator>> make_communicator(int requested_world_size, const CommunicatorOptions& options) {
  if (requested_world_size < 0)
    return invalid_argument("tensor-parallel size must be >= 1 (or 0 for the launched size), got " +
                            std::to_string(requested_world_size));
  if (options.timeout.count() <= 0) return invalid_argument("communicator timeout must be positive");
  const LaunchInfo launch = detect_launch();
  if (!launch.under_mpi) {
    if (requested_world_size > 1)
      return failed_precondition(
          "tensor-parallel size " + std::to_string(requested_world_size) + " needs " +
          std::to_string(requested_world_size) +
          " processes, but this one was not started by MPI: " + how_to_launch(requested_world_size));
    std::unique_ptr<Communicator> local = std::make_unique<LocalCommunicator>();
    local->set_timeout(options.timeout);
    return local;
  }
  if (requested_world_size != 0 && launch.world_size != 0 && launch.world_size != requested_world_size)
    return invalid_argument("tensor-parallel size " + std::to_string(requested_world_size) + " was requested but " +
                            std::to_string(launch.world_size) +
                            " processes were launched: " + how_to_launch(requested_world_size));
#ifdef FERRITE_HAVE_MPI
  return make_mpi_communicator(requested_world_size, options);
#else
  if (launch.world_size == 1 && requested_world_size <= 1) {
    std::unique_ptr<Communicator> local = std::make_unique<LocalCommunicator>();
    local->set_timeout(options.timeout);
    return local;
  }
  return failed_precondition("this process was started by an MPI launcher with " + std::to_string(launch.world_size) +
                             " processes, but ferrite was built without MPI (FERRITE_MPI=OFF); install "
                             "libopenmpi-dev and rebuild");
#endif
}

void abort_job(int exit_code) {
#ifdef FERRITE_HAVE_MPI
  mpi_abort(exit_code);
#else
  std::_Exit(exit_code);
#endif
}

}  // namespace ferrite::parallel
