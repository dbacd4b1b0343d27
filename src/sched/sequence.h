// Sequence: the scheduler's record of one completion (a request with n > 1 has n of them).
// It holds token ids and block ids only, never tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kv/block_pool.h"

namespace ferrite::sched {

enum class SeqStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  std::int64_t seq_id = 0;          // unique, increasing with arrival
  std::string request_id;
  std::int32_t index = 0;           // completion index within the request
  std::int32_t priority = 0;        // lower first under the priority policy
  double arrival_time = 0;

  std::vector<std::int32_t> tokens; // prompt then output
  std::int64_t prompt_len = 0;
  std::int64_t max_total_len = 0;   // prompt + max_tokens, at most max_model_len

  // Tokens whose KV is in the cache. A preempted sequence drops to 0 and recomputes (its
  // output tokens so far become part of what it prefills).
  std::int64_t num_computed = 0;
  std::int64_t num_cached_prompt = 0;  // prompt tokens found in the prefix cache at first admission
  std::vector<std::int32_t> block_table;
  std::vector<kv::BlockHash> block_hashes;  // hashes of the full blocks of `tokens`, as far as known
  // The hash chain of full blocks registered so far (block_hashes[i] registered for i < this).
  std::int64_t num_registered_blocks = 0;

  SeqStatus status = SeqStatus::kWaiting;
  std::int64_t num_preemptions = 0;
  // A later completion of an n > 1 request waits until its first completion has prefilled, so
  // it finds the shared prompt blocks in the prefix cache instead of computing them again.
  std::int64_t wait_for_seq = -1;
  // Skip prefix-cache lookups on admission (a request for prompt logprobs needs logits at every
  // prompt position, so its prompt must be computed).
  bool skip_prefix_cache = false;

  // Speculative decoding. num_lookahead: draft slots the scheduler may reserve after the last
  // token when the sequence decodes (set by the engine before schedule()); spec_tokens: the
  // drafts verified this step, positions num_tokens() onwards (the engine fills them; not part of
  // `tokens` until accepted).
  std::int32_t num_lookahead = 0;
  std::vector<std::int32_t> spec_tokens;
  // Tokens whose KV the draft model holds (draft-model speculation; the draft shares the block
  // table). Never more than num_computed between steps; 0 after preemption.
  std::int64_t num_draft_computed = 0;

  std::int64_t num_tokens() const { return static_cast<std::int64_t>(tokens.size()); }
  std::int64_t num_output() const { return num_tokens() - prompt_len; }
  bool prefill_done() const { return num_computed >= num_tokens() - 1 && num_computed >= prompt_len; }
};

}  // namespace ferrite::sched
