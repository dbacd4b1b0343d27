// bench_sched: host cost of one decode step with no model: Scheduler::schedule(), building the
// flat batch a model runner hands to the forward pass, on_step_done() and appending the sampled
// tokens. N running sequences (256 and 1024 by default) with ~1000-token contexts, prefix caching
// on (the engine default) and off. This is pure CPU bookkeeping that sits between GPU steps, so
// it has no bandwidth floor worth quoting; the target is < 100 us per step at 256 sequences.
// Prints JSON to stdout. Machines are shared: each figure is the best of --reps repetitions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kv/block_pool.h"
#include "sched/scheduler.h"
#ifdef FERRITE_BENCH_HAVE_RUNTIME
#include "runtime/model_runner.h"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using ferrite::kv::BlockPool;
using ferrite::sched::Scheduler;
using ferrite::sched::SchedulerConfig;
using ferrite::sched::Sequence;
using ferrite::sched::StepPlan;

constexpr std::int64_t kBlockSize = 16;

// What a model runner builds from a plan (DESIGN.md "Flat batch"), into buffers it keeps across
// steps the way a runner keeps pinned staging buffers.
struct FlatBatch {
  std::vector<std::int32_t> token_ids, positions, query_start, context_lens, block_tables, sample_rows;
  std::vector<std::int64_t> slot_mapping;
  std::int64_t max_blocks = 0;

  void build(const StepPlan& plan) {
    std::size_t width = 1;
    for (const auto& s : plan.seqs) width = std::max(width, s.seq->block_table.size());
    max_blocks = static_cast<std::int64_t>(width);
    token_ids.clear();
    positions.clear();
    slot_mapping.clear();
    query_start.clear();
    context_lens.clear();
    sample_rows.clear();
    block_tables.resize(plan.seqs.size() * width);
    query_start.push_back(0);
    std::int32_t* table = block_tables.data();
    for (const auto& s : plan.seqs) {
      const Sequence& seq = *s.seq;
      for (std::int64_t p = s.start; p < s.start + s.num_new_tokens; ++p) {
        token_ids.push_back(seq.tokens[static_cast<std::size_t>(p)]);
        positions.push_back(static_cast<std::int32_t>(p));
        slot_mapping.push_back(seq.block_table[static_cast<std::size_t>(p / kBlockSize)] * kBlockSize + p % kBlockSize);
      }
      query_start.push_back(static_cast<std::int32_t>(token_ids.size()));
      context_lens.push_back(static_cast<std::int32_t>(s.start + s.num_new_tokens));
      if (s.sample) sample_rows.push_back(static_cast<std::int32_t>(token_ids.size()) - 1);
      const std::size_t n = seq.block_table.size();
      std::memcpy(table, seq.block_table.data(), n * sizeof(std::int32_t));
      std::fill(table + n, table + width, 0);
      table += width;
    }
  }
};

struct Options {
  std::vector<std::int64_t> num_seqs{256, 1024};
  std::int64_t context = 1000;
  int steps = 30;
  int reps = 31;
  bool quick = false;
};

struct Phase {
  double schedule = 0, build = 0, update = 0, total = 0;  // microseconds per step
};

struct Result {
  Phase best, median;            // of the per-rep averages
  double p10_step_total = 0;     // 10th percentile of single steps: the uncontended cost
  double runtime_build_us = -1;  // runtime::build_forward_batch, best of reps, when linked
  std::int64_t avg_context = 0;
};

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

Result run(std::int64_t num_seqs, bool caching, const Options& o) {
  const std::int64_t max_len = o.context + 200 + static_cast<std::int64_t>(o.steps) * o.reps + 64;
  const std::int64_t blocks_per_seq = (max_len + kBlockSize - 1) / kBlockSize;
  BlockPool pool(num_seqs * blocks_per_seq + 64, kBlockSize, caching);
  SchedulerConfig config;
  config.max_num_seqs = num_seqs;
  config.max_num_batched_tokens = 8192;
  config.max_model_len = max_len;
  Scheduler sched(config, pool);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int32_t> token(1, 150000);
  // Every timed step adds a token, so start half the timed steps short of the target context.
  const std::int64_t start_len =
      std::max<std::int64_t>(o.context - static_cast<std::int64_t>(o.steps) * o.reps / 2, 101);
  std::uniform_int_distribution<std::int64_t> len(start_len - 100, start_len + 100);
  for (std::int64_t i = 0; i < num_seqs; ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = i;
    seq->request_id = "r" + std::to_string(i);
    seq->arrival_time = static_cast<double>(i);
    const std::int64_t n = len(rng);
    for (std::int64_t k = 0; k < n; ++k) seq->tokens.push_back(token(rng));
    seq->prompt_len = n;
    seq->max_total_len = max_len;
    sched.add(std::move(seq));
  }
  auto sample = [&](const StepPlan& plan) {
    for (const auto& s : plan.seqs) {
      if (s.sample) sched.append_token(s.seq, static_cast<std::int32_t>((s.seq->num_tokens() * 2654435761u) % 150000));
    }
  };
  // Prefill everything (not timed) until every sequence decodes.
  while (!sched.waiting().empty() || std::any_of(sched.running().begin(), sched.running().end(), [](const Sequence* s) {
    return s->num_computed + 1 < s->num_tokens();
  })) {
    StepPlan plan = sched.schedule();
    sched.on_step_done(plan);
    sample(plan);
  }
  sched.check_invariants();

  FlatBatch batch;
  std::vector<Phase> reps;
  std::vector<double> runtime_build, step_totals;
  std::int64_t ctx_sum = 0, ctx_count = 0;
  for (int r = 0; r < o.reps; ++r) {
    Clock::duration t_sched{}, t_build{}, t_update{};
    for (int step = 0; step < o.steps; ++step) {
      const auto t0 = Clock::now();
      StepPlan plan = sched.schedule();
      const auto t1 = Clock::now();
      batch.build(plan);
      const auto t2 = Clock::now();
      sched.on_step_done(plan);
      sample(plan);
      const auto t3 = Clock::now();
      t_sched += t1 - t0;
      t_build += t2 - t1;
      t_update += t3 - t2;
      step_totals.push_back(us(t3 - t0));
      ctx_sum += batch.context_lens.front();
      ++ctx_count;
      if (static_cast<std::int64_t>(plan.seqs.size()) != num_seqs || batch.token_ids.size() != plan.seqs.size()) {
        std::fprintf(stderr, "bench_sched: expected %lld decodes per step\n", static_cast<long long>(num_seqs));
        std::exit(1);
      }
    }
    Phase p;
    p.schedule = us(t_sched) / o.steps;
    p.build = us(t_build) / o.steps;
    p.update = us(t_update) / o.steps;
    p.total = p.schedule + p.build + p.update;
    reps.push_back(p);
#ifdef FERRITE_BENCH_HAVE_RUNTIME
    {
      // The runner's own builder, on the current running set, for comparison (allocates per call).
      StepPlan plan = sched.schedule();
      std::vector<ferrite::runtime::RowMap> rows;
      const auto t0 = Clock::now();
      for (int k = 0; k < 20; ++k) {
        auto fb = ferrite::runtime::build_forward_batch(plan, kBlockSize, {}, &rows);
        if (fb.num_seqs() != num_seqs) std::exit(1);
      }
      runtime_build.push_back(us(Clock::now() - t0) / 20);
      sched.on_step_done(plan);
      sample(plan);
    }
#endif
  }
  sched.check_invariants();
  Result res;
  auto by_total = [](const Phase& a, const Phase& b) { return a.total < b.total; };
  std::sort(reps.begin(), reps.end(), by_total);
  res.best = reps.front();
  res.median = reps[reps.size() / 2];
  if (!runtime_build.empty()) res.runtime_build_us = *std::min_element(runtime_build.begin(), runtime_build.end());
  std::sort(step_totals.begin(), step_totals.end());
  res.p10_step_total = step_totals[step_totals.size() / 10];
  res.avg_context = ctx_sum / ctx_count;
  return res;
}

void usage() {
  std::fprintf(stderr, "usage: bench_sched [--seqs N[,N...]] [--context N] [--steps N] [--reps N] [--quick]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      o.quick = true;
      o.num_seqs = {16};
      o.context = 200;
      o.steps = 10;
      o.reps = 1;
    } else if (a == "--seqs") {
      o.num_seqs.clear();
      const std::string v = next();
      for (std::size_t p = 0; p < v.size();) {
        const std::size_t q = v.find(',', p);
        o.num_seqs.push_back(std::atoll(v.substr(p, q - p).c_str()));
        p = q == std::string::npos ? v.size() : q + 1;
      }
    } else if (a == "--context") {
      o.context = std::atoll(next().c_str());
    } else if (a == "--steps") {
      o.steps = std::atoi(next().c_str());
    } else if (a == "--reps") {
      o.reps = std::atoi(next().c_str());
    } else {
      usage();
      return a == "--help" ? 0 : 2;
    }
  }
  if (o.context < 101 || o.steps < 1 || o.reps < 1) {
    usage();
    return 2;
  }
  std::printf(
      "{\n  \"benchmark\": \"sched_decode_step\",\n  \"block_size\": %lld,\n  \"steps_per_rep\": %d,\n"
      "  \"reps\": %d,\n  \"results\": [",
      static_cast<long long>(kBlockSize), o.steps, o.reps);
  bool first = true;
  for (std::int64_t n : o.num_seqs) {
    for (bool caching : {true, false}) {
      const Result r = run(n, caching, o);
      std::printf(
          "%s\n    {\"num_seqs\": %lld, \"prefix_caching\": %s, \"avg_context\": %lld,\n"
          "     \"best_us_per_step\": {\"total\": %.2f, \"schedule\": %.2f, \"build_batch\": %.2f, "
          "\"on_step_done_and_append\": %.2f},\n"
          "     \"median_us_per_step\": {\"total\": %.2f, \"schedule\": %.2f, \"build_batch\": %.2f, "
          "\"on_step_done_and_append\": %.2f},\n"
          "     \"p10_single_step_us\": %.2f, \"runtime_build_forward_batch_us\": %.2f}",
          first ? "" : ",", static_cast<long long>(n), caching ? "true" : "false",
          static_cast<long long>(r.avg_context), r.best.total, r.best.schedule, r.best.build, r.best.update,
          r.median.total, r.median.schedule, r.median.build, r.median.update, r.p10_step_total, r.runtime_build_us);
      first = false;
      std::fflush(stdout);
    }
  }
  std::printf("\n  ]\n}\n");
  return 0;
}
