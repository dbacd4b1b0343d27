// Shared helpers for the scheduler tests: a pool, a scheduler and a way to add sequences.
#pragma once

#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "kv/block_pool.h"
#include "sched/scheduler.h"

namespace ferrite::sched::testing {

inline std::vector<std::int32_t> iota_tokens(std::int64_t n, std::int32_t first) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

struct Harness {
  Harness(const SchedulerConfig& config, std::int64_t num_blocks, std::int64_t block_size, bool caching)
      : pool(num_blocks, block_size, caching), sched(config, pool) {}

  Sequence* add(std::vector<std::int32_t> prompt, const std::string& request_id = "", std::int32_t priority = 0,
                std::int64_t max_total_len = 0, std::int64_t wait_for_seq = -1, std::int32_t index = 0) {
    auto seq = std::make_unique<Sequence>();
    seq->seq_id = next_id++;
    seq->request_id = request_id.empty() ? "r" + std::to_string(seq->seq_id) : request_id;
    seq->index = index;
    seq->priority = priority;
    seq->arrival_time = static_cast<double>(seq->seq_id);
    seq->prompt_len = static_cast<std::int64_t>(prompt.size());
    seq->tokens = std::move(prompt);
    seq->max_total_len = max_total_len;
    seq->wait_for_seq = wait_for_seq;
    Sequence* raw = seq.get();
    sched.add(std::move(seq));
    return raw;
  }

  // schedule + on_step_done + one appended token per sampling sequence (never finishes any).
  StepPlan step() {
    StepPlan plan = sched.schedule();
    sched.check_invariants();
    sched.on_step_done(plan);
    for (const auto& s : plan.seqs) {
      if (s.sample) sched.append_token(s.seq, 5000 + static_cast<std::int32_t>(s.seq->num_tokens()));
    }
    sched.check_invariants();
    return plan;
  }

  kv::BlockPool pool;
  Scheduler sched;
  std::int64_t next_id = 0;
};

}  // namespace ferrite::sched::testing
