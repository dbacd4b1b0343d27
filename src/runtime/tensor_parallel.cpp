#include "runtime/tensor_parallel.h"

#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/logging.h"

namespace ferrite::runtime {

namespace {

// The message rank 0 broadcasts before each step: a fixed header, then (for kForward) one
// payload of payload_bytes holding the batch's arrays in the order of append_batch.
enum : std::int64_t { kForward = 1, kStop = 2 };
struct Header {
  std::int64_t kind = 0;
  std::int64_t tokens = 0, seqs = 0, max_blocks = 0, sample_rows = 0;
  std::int64_t kv_blocks = 0, kv_block_size = 0;
  std::int64_t payload_bytes = 0;
};

template <typename T>
void append(std::vector<std::uint8_t>& out, const std::vector<T>& v) {
  const std::size_t at = out.size();
  out.resize(at + v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data() + at, v.data(), v.size() * sizeof(T));
}

template <typename T>
void take(const std::uint8_t*& p, std::size_t n, std::vector<T>* v) {
  v->resize(n);
  if (n > 0) std::memcpy(v->data(), p, n * sizeof(T));
  p += n * sizeof(T);
}

std::size_t payload_size(const Header& h) {
  const auto t = static_cast<std::size_t>(h.tokens), s = static_cast<std::size_t>(h.seqs);
  return t * (4 + 4 + 8) + (s + 1) * 4 + s * 4 + s * static_cast<std::size_t>(h.max_blocks) * 4 +
         static_cast<std::size_t>(h.sample_rows) * 4;
}

Header make_header(const model::ForwardBatch& b, const model::KvCache& kv) {
  Header h;
  h.kind = kForward;
  h.tokens = b.num_tokens();
  h.seqs = b.num_seqs();
  h.max_blocks = b.max_blocks;
  h.sample_rows = static_cast<std::int64_t>(b.sample_rows.size());
  h.kv_blocks = kv.num_blocks;
  h.kv_block_size = kv.block_size;
  return h;
}

}  // namespace

TensorParallelLeader::TensorParallelLeader(std::unique_ptr<model::CausalLM> shard,
                                           std::unique_ptr<parallel::Communicator> comm, backend::Backend& backend,
                                           std::chrono::milliseconds abort_grace)
    : CausalLM(shard->config(), backend), shard_(std::move(shard)), comm_(std::move(comm)), abort_grace_(abort_grace) {
  weight_dtype_ = shard_->weight_dtype();
  weight_bytes_ = shard_->weight_bytes();
  kv_heads_ = shard_->kv_heads();
  auto total = model::parameter_count(config_);
  num_parameters_ = total.ok() ? *total : shard_->num_parameters();
}

TensorParallelLeader::~TensorParallelLeader() {
  if (!comm_->broken().ok()) return;
  Header h;
  h.kind = kStop;
  const Status s = comm_->broadcast(&h, sizeof(h), 0);
  if (!s.ok()) FERRITE_LOG_WARN("tensor parallel: could not tell the other ranks to stop: {}", s.to_string());
}

void TensorParallelLeader::fail(const Status& s) {
  FERRITE_LOG_ERROR("tensor parallel: {}; the job ends in {} ms", s.to_string(), abort_grace_.count());
  // The engine reports the failure meanwhile; then every rank goes (a stuck peer would also keep
  // this process in MPI_Finalize at exit).
  std::thread([grace = abort_grace_] {
    std::this_thread::sleep_for(grace);
    FERRITE_LOG_ERROR("tensor parallel: ending the job after a failed collective");
    parallel::abort_job(1);
  }).detach();
  throw std::runtime_error("tensor parallel: " + s.to_string());
}

Result<backend::Tensor> TensorParallelLeader::forward(const model::ForwardBatch& batch, model::KvCache& kv) {
  if (!comm_->broken().ok()) fail(comm_->broken());
  Header h = make_header(batch, kv);
  std::vector<std::uint8_t> payload;
  payload.reserve(payload_size(h));
  append(payload, batch.token_ids);
  append(payload, batch.positions);
  append(payload, batch.slot_mapping);
  append(payload, batch.query_start);
  append(payload, batch.context_lens);
  append(payload, batch.block_tables);
  append(payload, batch.sample_rows);
  h.payload_bytes = static_cast<std::int64_t>(payload.size());
  // A malformed batch (sizes that disagree) is sent as it is: every rank's forward() rejects it
  // the same way, before any collective.
  Status s = comm_->broadcast(&h, sizeof(h), 0);
  if (s.ok() && !payload.empty()) s = comm_->broadcast(payload.data(), payload.size(), 0);
  if (!s.ok()) fail(s);
  auto logits = shard_->forward(batch, kv);
  if (!logits.ok() && !comm_->broken().ok()) fail(logits.status());
  return logits;
}

Status run_tensor_parallel_worker(model::CausalLM& shard, parallel::Communicator& comm, backend::Backend& backend) {
  (void)backend;
  const std::chrono::milliseconds step_timeout = comm.timeout();
  // Between steps rank 0 may be idle for as long as it likes (a server without requests); its
  // death is mpirun's to notice (it stops the job when a rank exits without MPI_Finalize).
  const std::chrono::milliseconds idle_timeout = std::chrono::hours(24 * 365);
  auto die = [&](const Status& s) {
    FERRITE_LOG_ERROR("tensor parallel rank {}: {}; ending the job", comm.rank(), s.to_string());
    parallel::abort_job(1);
  };
  model::KvCache kv;
  model::ForwardBatch b;
  std::vector<std::uint8_t> payload;
  for (;;) {
    Header h;
    comm.set_timeout(idle_timeout);
    Status s = comm.broadcast(&h, sizeof(h), 0);
    comm.set_timeout(step_timeout);
    if (!s.ok()) die(s);
    if (h.kind == kStop) return ok_status();
    if (h.kind != kForward || h.tokens < 0 || h.seqs < 0 || h.max_blocks < 0 || h.sample_rows < 0 ||
        h.payload_bytes < 0)
      die(internal_error("tensor parallel: malformed step header from rank 0"));
    payload.resize(static_cast<std::size_t>(h.payload_bytes));
    if (!payload.empty()) {
      s = comm.broadcast(payload.data(), payload.size(), 0);
      if (!s.ok()) die(s);
    }
    if (payload.size() != payload_size(h)) {
      // Rank 0 sent a batch whose arrays disagree with its sizes; its own forward() rejects it
      // before any collective, and so does this rank (an empty batch is rejected the same way).
      continue;
    }
    const std::uint8_t* p = payload.data();
    const auto t = static_cast<std::size_t>(h.tokens), n = static_cast<std::size_t>(h.seqs);
    take(p, t, &b.token_ids);
    take(p, t, &b.positions);
    take(p, t, &b.slot_mapping);
    take(p, n + 1, &b.query_start);
    take(p, n, &b.context_lens);
    take(p, n * static_cast<std::size_t>(h.max_blocks), &b.block_tables);
    take(p, static_cast<std::size_t>(h.sample_rows), &b.sample_rows);
    b.max_blocks = h.max_blocks;
    if (kv.num_blocks != h.kv_blocks || kv.block_size != h.kv_block_size) {
      kv = model::KvCache();
      kv = shard.allocate_kv_cache(h.kv_blocks, h.kv_block_size);
    }
    auto logits = shard.forward(b, kv);
    if (!logits.ok() && !comm.broken().ok()) die(logits.status());
  }
}

namespace {

// Creates the communicator, loads this rank's shard and checks with the others that every rank
// loaded. On rank 0 the result is the model to use, on the others the shard to run.
struct Loaded {
  std::unique_ptr<parallel::Communicator> comm;
  std::unique_ptr<model::CausalLM> model;
};

Result<Loaded> load_shard(const model::LoadOptions& options, const ParallelOptions& parallel,
                          backend::Backend& backend) {
  if (parallel.tensor_parallel_size < 1)
    return invalid_argument("--tensor-parallel-size must be >= 1, got " +
                            std::to_string(parallel.tensor_parallel_size));
  parallel::CommunicatorOptions co;
  co.timeout = parallel.collective_timeout;
  FERRITE_ASSIGN_OR_RETURN(auto comm, parallel::make_communicator(parallel.tensor_parallel_size, co));
  Loaded out;
  model::LoadOptions lo = options;
  lo.communicator = comm.get();
  lo.show_progress = options.show_progress && comm->rank() == 0;
  auto model = model::load_model(lo, backend);
  if (comm->world_size() > 1) {
    // Every rank says whether it loaded; one that failed makes all fail (none may wait for it).
    float failed = model.ok() ? 0.f : 1.f;
    FERRITE_RETURN_IF_ERROR(comm->all_reduce_sum(&failed, 1));
    if (model.ok() && failed > 0)
      return failed_precondition("tensor parallel: " + std::to_string(static_cast<int>(failed)) +
                                 " other rank(s) failed to load the model (their log says why)");
  }
  if (!model.ok()) {
    if (comm->world_size() == 1) return model.status();
    return model.status().with_context("rank " + std::to_string(comm->rank()));
  }
  out.model = std::move(model).value();
  out.comm = std::move(comm);
  return out;
}

}  // namespace

bool is_parallel_worker(int tensor_parallel_size) {
  const parallel::LaunchInfo launch = parallel::detect_launch();
  return tensor_parallel_size > 1 && launch.under_mpi && launch.rank > 0;
}

Result<std::unique_ptr<model::CausalLM>> load_parallel_model(const model::LoadOptions& options,
                                                             const ParallelOptions& parallel,
                                                             backend::Backend& backend) {
  if (parallel.tensor_parallel_size == 1 && !parallel::detect_launch().under_mpi)
    return model::load_model(options, backend);
  FERRITE_ASSIGN_OR_RETURN(Loaded l, load_shard(options, parallel, backend));
  if (l.comm->world_size() == 1) return std::move(l.model);
  if (l.comm->rank() != 0)
    return failed_precondition("load_parallel_model is for rank 0; rank " + std::to_string(l.comm->rank()) +
                               " runs run_parallel_worker");
  FERRITE_LOG_INFO("tensor parallel: {} ranks ({}), rank 0 holds {} of {} KV heads", l.comm->world_size(),
                   l.comm->kind(), l.model->kv_heads(), l.model->config().num_key_value_heads);
  return std::unique_ptr<model::CausalLM>(
      std::make_unique<TensorParallelLeader>(std::move(l.model), std::move(l.comm), backend, parallel.abort_grace));
}

Status run_parallel_worker(const model::LoadOptions& options, const ParallelOptions& parallel,
                           backend::Backend& backend) {
  FERRITE_ASSIGN_OR_RETURN(Loaded l, load_shard(options, parallel, backend));
  if (l.comm->rank() == 0) return failed_precondition("run_parallel_worker is for ranks > 0");
  return run_tensor_parallel_worker(*l.model, *l.comm, backend);
}

}  // namespace ferrite::runtime
