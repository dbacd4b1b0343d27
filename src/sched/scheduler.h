// Scheduler: continuous batching over a token budget, chunked prefill, prefix caching and
// preemption by recompute. Pure bookkeeping over Sequences and block ids (STYLE.md #1):
// schedule() returns a StepPlan; the model runner turns it into tensors.
//
// One step (schedule):
//  1. Running sequences first, in order (FCFS: arrival; priority: priority then arrival), each
//     asking for all its uncomputed tokens (1 for a decoding sequence; a chunk for one still
//     prefilling), capped by what is left of max_num_batched_tokens. A sequence that needs a new
//     block when none is free preempts the last running sequence in that order (lowest priority,
//     latest arrival): its blocks are released and it goes back to the front of the waiting queue
//     with num_computed = 0; if it is itself the last, it preempts itself.
//  2. Then waiting sequences in order while the budget, max_num_seqs and free blocks allow. On
//     admission a sequence first takes what the prefix cache has for its full blocks (never its
//     last token: at least one token is always computed so there are logits to sample from),
//     then new blocks for the tokens scheduled this step. Prompts longer than the remaining budget
//     are split into chunks. Under FCFS a waiting sequence that does not fit stops admission (no
//     overtaking); under priority, likewise in priority order.
//  3. A scheduled sequence "samples" this step when, after it, all its tokens are computed.
// Speculative decoding: a running sequence that samples this step and has num_lookahead > 0
// also gets up to num_lookahead draft slots after its last token (ScheduledSeq::num_spec),
// counted in the token budget and given blocks like any other token, but never more than the
// budget left, nor more than max_total_len - num_tokens - 1 (k drafts can emit k + 1 tokens),
// nor more than the free blocks hold: drafts never preempt anything.
// The engine writes the drafts into seq->spec_tokens; on_step_done() counts only the sequence's
// own tokens as computed; accept_verified() then appends the emitted tokens, counts the accepted
// drafts as computed, and frees the tail blocks that held only rejected drafts. Blocks are
// registered in the prefix cache only over accepted tokens (and, with a draft model's KV in the
// same blocks, only as far as the draft has computed too), so a rejected draft never reaches it.
// After the model ran: on_step_done(plan) advances num_computed and registers newly full
// blocks in the prefix cache; the engine then appends each sampled token (append_token) and
// finishes sequences that stopped (finish).
//
// Choices the steps above leave open:
//  - A step that preempted admits nothing: blocks are short, and admitting would only preempt
//    again next step (vLLM v1 does the same).
//  - Where a preempted sequence goes: under FCFS the front of the waiting queue; under priority
//    its place in (priority, arrival) order, i.e. the front among its own priority.
//  - wait_for_seq: a sequence whose first completion exists and has not prefilled is skipped,
//    keeping its place, and does not stop admission. It is treated as not yet arrived rather than
//    as not fitting: blocking would idle the batch while the first completion prefills (possibly
//    in chunks over several steps). Later sequences may pass it only during that window; once
//    eligible it is again ahead of everything that arrived after it.
//  - A sequence added with max_total_len <= 0 gets max_model_len.
//  - Pointers in a StepPlan stay valid until on_step_done(); finish() and abort_request() must
//    not run between schedule() and on_step_done() for a sequence in the plan.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv/block_pool.h"
#include "sched/sequence.h"

namespace ferrite::sched {

enum class Policy { kFcfs, kPriority };

struct SchedulerConfig {
  std::int64_t max_num_batched_tokens = 2048;
  std::int64_t max_num_seqs = 256;
  std::int64_t max_model_len = 4096;
  Policy policy = Policy::kFcfs;
  // A draft model keeps its KV in the same blocks: register blocks only over what it computed.
  bool draft_kv = false;
};

struct ScheduledSeq {
  Sequence* seq = nullptr;
  std::int64_t start = 0;           // first token position computed this step (== num_computed before)
  std::int64_t num_new_tokens = 0;  // tokens [start, start + num_new_tokens) computed this step
  bool sample = false;              // produces logits for the next token this step
  std::int64_t num_spec = 0;        // of num_new_tokens, draft slots after the last token (sample is true)
};

struct StepPlan {
  std::vector<ScheduledSeq> seqs;   // running (decode and continuing prefill) first, then new
  std::vector<Sequence*> preempted; // sequences preempted during this schedule() call
  std::int64_t num_batched_tokens = 0;
  bool empty() const { return seqs.empty(); }
};

struct SchedulerStats {
  std::int64_t num_running = 0;
  std::int64_t num_waiting = 0;
  std::int64_t num_preemptions = 0;  // total so far
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, kv::BlockPool& pool);

  // Takes a new sequence (validated by the engine: 0 < tokens <= max_model_len, etc.).
  void add(std::unique_ptr<Sequence> seq);
  StepPlan schedule();
  void on_step_done(const StepPlan& plan);
  void append_token(Sequence* seq, std::int32_t token);
  // After verifying a sequence's drafts (num_spec > 0 in the plan just done): appends `emitted`
  // (the first num_accepted are accepted drafts, a correction or bonus token may follow), counts
  // the accepted drafts as computed, clears spec_tokens and frees blocks past the last token.
  void accept_verified(Sequence* seq, std::span<const std::int32_t> emitted, std::int64_t num_accepted);
  // Releases the sequence's blocks and forgets it; the pointer is invalid afterwards.
  void finish(Sequence* seq);
  // Finishes every sequence of the request (waiting or running); returns their ids.
  std::vector<std::int64_t> abort_request(const std::string& request_id);

  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  SchedulerStats stats() const;
  const std::deque<Sequence*>& running() const { return running_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }
  Sequence* find(std::int64_t seq_id) const;
  // The block pool's invariants plus: every block of every sequence has a reference, the
  // references add up, running sequences hold blocks for their computed tokens.
  void check_invariants() const;

 private:
  // Strict order of the policy: (priority,) arrival_time, seq_id.
  bool before(const Sequence* a, const Sequence* b) const;
  std::int64_t blocks_for(std::int64_t num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }
  void insert_running(Sequence* seq);
  void insert_waiting(Sequence* seq);
  void preempt_last(StepPlan& plan);
  void release_blocks(Sequence* seq);
  void allocate_blocks(Sequence* seq, std::int64_t num_tokens);
  void ensure_hashes(Sequence* seq, std::int64_t num_blocks);
  void register_full_blocks(Sequence* seq);
  bool waits_for_sibling(const Sequence* seq) const;
  bool try_admit(Sequence* seq, std::int64_t budget, StepPlan& plan);

  SchedulerConfig config_;
  kv::BlockPool& pool_;
  std::unordered_map<std::int64_t, std::unique_ptr<Sequence>> seqs_;
  std::deque<Sequence*> running_;
  std::deque<Sequence*> waiting_;
  std::int64_t num_preemptions_ = 0;
  std::int64_t block_size_;
  std::vector<std::int32_t> hits_;  // scratch for try_admit, kept to avoid a per-step allocation
};

}  // namespace ferrite::sched
