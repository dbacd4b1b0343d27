// bench_tp: tensor-parallel step time and the part of it spent in collectives, on dummy weights.
// Run plainly for TP=1, under `mpirun -np N` for TP=N (docs/performance.md has the commands).
// Rank 0 drives the steps (as the engine does: TensorParallelLeader broadcasts each batch), the
// others run the worker loop. Every collective goes through a timing wrapper, so rank 0 reports
// per step: wall time, time inside collectives (the batch broadcast, the all-reduces, the logit
// all-gather; waiting for a slower rank counts here too), and tokens/s. JSON on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "base/thread_pool.h"
#include "benchmarks/model/floors_report.h"
#include "model/model.h"
#include "parallel/communicator.h"
#include "runtime/tensor_parallel.h"

namespace ferrite::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Forwards every collective to `inner` and adds up the time spent in each kind.
class TimedCommunicator final : public parallel::Communicator {
 public:
  explicit TimedCommunicator(std::unique_ptr<parallel::Communicator> inner)
      : Communicator(inner->timeout()), inner_(std::move(inner)) {}
  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  const char* kind() const override { return inner_->kind(); }
  Status all_reduce_sum(float* data, std::size_t n) override {
    return timed(&all_reduce_s_, &all_reduces_, [&] { return inner_->all_reduce_sum(data, n); });
  }
  Status all_gather(const float* in, std::size_t n, float* out) override {
    return timed(&all_gather_s_, &all_gathers_, [&] { return inner_->all_gather(in, n, out); });
  }
  Status broadcast(void* data, std::size_t bytes, int root) override {
    return timed(&broadcast_s_, &broadcasts_, [&] { return inner_->broadcast(data, bytes, root); });
  }
  Status barrier() override { return inner_->barrier(); }

  double total_s() const { return all_reduce_s_ + all_gather_s_ + broadcast_s_; }
  double all_reduce_s_ = 0, all_gather_s_ = 0, broadcast_s_ = 0;
  long all_reduces_ = 0, all_gathers_ = 0, broadcasts_ = 0;

 private:
  template <typename F>
  Status timed(double* acc, long* count, F f) {
    inner_->set_timeout(timeout());
    const auto t0 = Clock::now();
    Status s = f();
    *acc += since(t0);
    ++*count;
    if (!s.ok()) return mark_broken(s);
    return s;
  }
  std::unique_ptr<parallel::Communicator> inner_;
};

struct Options {
  std::string model_dir = FERRITE_BENCH_CONFIG_DIR "/qwen2.5-0.5b";
  int threads = 0;
  std::vector<std::int64_t> batches{1, 8};
  std::int64_t decode_steps = 16;
  std::int64_t prompt = 32;
  std::int64_t prefill = 256;
};

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "bench_tp: %s\n", m.c_str());
  std::exit(1);
}

// `seqs` sequences of `len` new tokens each, starting at `start`, each in its own run of blocks.
model::ForwardBatch make_batch(std::int64_t vocab, std::int64_t seqs, std::int64_t start, std::int64_t len,
                               std::int64_t blocks_per_seq) {
  constexpr std::int64_t kBlock = 16;
  model::ForwardBatch b;
  b.max_blocks = blocks_per_seq;
  b.query_start.push_back(0);
  for (std::int64_t s = 0; s < seqs; ++s) {
    for (std::int64_t p = start; p < start + len; ++p) {
      b.token_ids.push_back(
          static_cast<std::int32_t>((s * 7919 + p * 104729) % std::min<std::int64_t>(vocab - 1, 1000) + 1));
      b.positions.push_back(static_cast<std::int32_t>(p));
      b.slot_mapping.push_back((s * blocks_per_seq + p / kBlock) * kBlock + p % kBlock);
    }
    b.query_start.push_back(static_cast<std::int32_t>(b.token_ids.size()));
    b.context_lens.push_back(static_cast<std::int32_t>(start + len));
    for (std::int64_t j = 0; j < blocks_per_seq; ++j)
      b.block_tables.push_back(static_cast<std::int32_t>(s * blocks_per_seq + j));
    b.sample_rows.push_back(static_cast<std::int32_t>(b.token_ids.size()) - 1);
  }
  return b;
}

Json measure(model::CausalLM& m, TimedCommunicator* comm, const Options& o) {
  Json out = Json::array();
  const std::int64_t max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  const std::int64_t max_len = std::max(o.prompt + o.decode_steps, o.prefill);
  const std::int64_t blocks_per_seq = (max_len + 15) / 16;
  model::KvCache kv = m.allocate_kv_cache(blocks_per_seq * max_batch, 16);
  const std::int64_t vocab = m.config().vocab_size;
  auto run = [&](const model::ForwardBatch& b) {
    auto r = m.forward(b, kv);
    if (!r.ok()) die(r.status().to_string());
  };
  auto record = [&](const char* phase, std::int64_t batch, std::int64_t tokens_per_step, std::int64_t steps,
                    double wall, double comm_s, long all_reduces) {
    Json j;
    j["phase"] = phase;
    j["batch"] = batch;
    j["tokens_per_step"] = tokens_per_step;
    j["steps"] = steps;
    j["step_ms"] = std::round(wall / static_cast<double>(steps) * 1e5) / 100;
    j["comm_ms_per_step"] = std::round(comm_s / static_cast<double>(steps) * 1e5) / 100;
    j["comm_fraction"] = std::round(comm_s / wall * 1000) / 1000;
    j["all_reduces_per_step"] = all_reduces / steps;
    j["tokens_per_s"] = std::round(static_cast<double>(tokens_per_step * steps) / wall * 10) / 10;
    out.push_back(j);
    std::fprintf(stderr, "%s batch %lld: %.2f ms/step, %.2f ms in collectives, %.1f tokens/s\n", phase,
                 static_cast<long long>(batch), wall / static_cast<double>(steps) * 1e3,
                 comm_s / static_cast<double>(steps) * 1e3, static_cast<double>(tokens_per_step * steps) / wall);
  };
  for (std::int64_t batch : o.batches) {
    run(make_batch(vocab, batch, 0, o.prompt, blocks_per_seq));  // prefill, untimed
    const double c0 = comm ? comm->total_s() : 0;
    const long r0 = comm ? comm->all_reduces_ : 0;
    const auto t0 = Clock::now();
    for (std::int64_t s = 0; s < o.decode_steps; ++s) run(make_batch(vocab, batch, o.prompt + s, 1, blocks_per_seq));
    record("decode", batch, batch, o.decode_steps, since(t0), comm ? comm->total_s() - c0 : 0,
           comm ? comm->all_reduces_ - r0 : 0);
  }
  {
    const std::int64_t reps = 3;
    run(make_batch(vocab, 1, 0, o.prefill, blocks_per_seq));  // warm-up
    const double c0 = comm ? comm->total_s() : 0;
    const long r0 = comm ? comm->all_reduces_ : 0;
    const auto t0 = Clock::now();
    for (std::int64_t i = 0; i < reps; ++i) run(make_batch(vocab, 1, 0, o.prefill, blocks_per_seq));
    record("prefill", 1, o.prefill, reps, since(t0), comm ? comm->total_s() - c0 : 0,
           comm ? comm->all_reduces_ - r0 : 0);
  }
  return out;
}

int run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      o.model_dir = next();
    else if (a == "--threads")
      o.threads = std::atoi(next().c_str());
    else if (a == "--decode-steps")
      o.decode_steps = std::atoll(next().c_str());
    else if (a == "--prefill")
      o.prefill = std::atoll(next().c_str());
    else if (a == "--quick") {
      o.decode_steps = 2;
      o.prefill = 16;
      o.batches = {1};
    } else
      die("unknown flag " + a + " (flags: --model DIR --threads N --decode-steps N --prefill N --quick)");
  }
  if (o.decode_steps < 1 || o.prefill < 1) die("--decode-steps and --prefill must be >= 1");
  base::ThreadPool::set_global_threads(o.threads);
  parallel::CommunicatorOptions co;
  co.timeout = std::chrono::seconds(600);
  auto made = parallel::make_communicator(0, co);
  if (!made.ok()) die(made.status().to_string());
  auto comm = std::make_unique<TimedCommunicator>(std::move(made).value());
  const int rank = comm->rank(), world = comm->world_size();
  auto backend = backend::make_cpu_backend(o.threads);
  model::LoadOptions lo;
  lo.model_dir = o.model_dir;
  lo.dtype = "bfloat16";
  lo.load_format = model::LoadFormat::kDummy;
  lo.show_progress = false;
  lo.communicator = comm.get();
  const auto t0 = Clock::now();
  auto loaded = model::load_model(lo, *backend);
  if (!loaded.ok()) die(loaded.status().to_string());
  const double load_s = since(t0);
  std::unique_ptr<model::CausalLM> shard = std::move(loaded).value();
  if (rank != 0) {
    const Status s = runtime::run_tensor_parallel_worker(*shard, *comm, *backend);
    if (!s.ok()) die(s.to_string());
    return 0;
  }
  Json root;
  root["benchmark"] = "bench_tp";
  root["machine"] = machine_json();
  root["model"] = o.model_dir;
  root["tensor_parallel_size"] = world;
  root["threads_per_rank"] = o.threads;
  root["communicator"] = comm->kind();
  root["weight_bytes_rank0"] = shard->weight_bytes();
  root["load_s"] = std::round(load_s * 100) / 100;
  TimedCommunicator* timed = comm.get();
  Json results;
  if (world > 1) {
    runtime::TensorParallelLeader leader(std::move(shard), std::move(comm), *backend, std::chrono::seconds(2));
    results = measure(leader, timed, o);
  } else {
    results = measure(*shard, nullptr, o);
  }
  root["results"] = results;
  std::printf("%s\n", root.dump(2).c_str());
  return 0;
}

}  // namespace
}  // namespace ferrite::bench

int main(int argc, char** argv) { return ferrite::bench::run(argc, argv); }
