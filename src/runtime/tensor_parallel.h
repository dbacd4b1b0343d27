// Tensor parallelism at run time: one process per rank (started by mpirun), each holding its
// shard of the model (model/tensor_parallel.h) and its own KV cache for its heads.
//
// Rank 0 runs everything else (front ends, scheduler, sampler) and drives the others:
// TensorParallelLeader is a CausalLM whose forward() broadcasts the flat batch (a fixed header
// with the sizes and the KV-cache shape, then the arrays) and then runs rank 0's shard. Ranks > 0
// sit in run_tensor_parallel_worker: receive a batch, run their shard on it (meeting rank 0 in
// the shard's all-reduces and all-gather), until rank 0 says stop. The KV cache of a worker is
// allocated (and re-allocated) to the block count and block size in the header, so every rank
// uses the same block ids. Only rank 0 uses the logits.
//
// Failure: a collective that fails (a peer died, stalled past the timeout, or MPI failed) breaks
// the communicator, and the job cannot go on. A worker then ends the whole job at once
// (parallel::abort_job). Rank 0's forward() throws std::runtime_error, which the engine loop
// turns into an engine failure (every request ends with an error, /health answers 503), and a
// watchdog ends the job `abort_grace` later, so front ends can still report the failure. Rank 0
// exiting any other way makes mpirun stop the workers; a clean shutdown tells them to stop.
#pragma once

#include <chrono>
#include <memory>

#include "backend/backend.h"
#include "model/model.h"
#include "parallel/communicator.h"

namespace ferrite::runtime {

struct ParallelOptions {
  int tensor_parallel_size = 1;
  // Bound on each collective inside a step (a worker waits for the next step without bound).
  std::chrono::milliseconds collective_timeout{std::chrono::seconds(300)};
  // After rank 0 saw a collective fail: how long front ends keep reporting before the job ends.
  std::chrono::milliseconds abort_grace{std::chrono::seconds(2)};
};

class TensorParallelLeader final : public model::CausalLM {
 public:
  TensorParallelLeader(std::unique_ptr<model::CausalLM> shard, std::unique_ptr<parallel::Communicator> comm,
                       backend::Backend& backend, std::chrono::milliseconds abort_grace);
  // Tells the workers to stop (unless the communicator is broken).
  ~TensorParallelLeader() override;

  Result<backend::Tensor> forward(const model::ForwardBatch& batch, model::KvCache& kv) override;
  parallel::Communicator& communicator() { return *comm_; }

 private:
  [[noreturn]] void fail(const Status& s);

  std::unique_ptr<model::CausalLM> shard_;
  std::unique_ptr<parallel::Communicator> comm_;
  std::chrono::milliseconds abort_grace_;
};

// The worker loop of ranks > 0; returns OK when rank 0 says stop. A failed collective does not
// return: it ends the job (parallel::abort_job(1)).
Status run_tensor_parallel_worker(model::CausalLM& shard, parallel::Communicator& comm, backend::Backend& backend);

// The model as rank 0 of this launch needs it: the whole model when the launch has one process
// (tensor_parallel_size 1, no mpirun), else a TensorParallelLeader over this rank's shard. Every
// rank of the launch calls load_parallel_model (rank 0) or run_parallel_worker (the others):
// they create the communicator together (a size that differs from the launch is an error naming
// both), load their shards, and agree that every rank loaded (a rank that failed makes all fail).
Result<std::unique_ptr<model::CausalLM>> load_parallel_model(const model::LoadOptions& options,
                                                             const ParallelOptions& parallel,
                                                             backend::Backend& backend);
Status run_parallel_worker(const model::LoadOptions& options, const ParallelOptions& parallel,
                           backend::Backend& backend);

// Whether this process is a rank > 0 of an MPI launch asked for tensor_parallel_size > 1.
bool is_parallel_worker(int tensor_parallel_size);

}  // namespace ferrite::runtime
