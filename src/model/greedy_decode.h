// A plain greedy decode loop over one or more sequences, each with its own contiguous run of
// KV blocks: prefill every prompt in one flat batch, then decode all sequences together one
// token per step. It is the driver of `ferrite generate --prompt-ids` and of the reference
// tests until the engine (scheduler, block pool) takes over, and stays as the engine's
// simplest cross-check.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace ferrite::model {

struct GreedyOptions {
  std::int64_t max_tokens = 16;
  std::int64_t block_size = 16;
  bool stop_at_eos = true;
  // Prefill chunk: at most this many prompt tokens per sequence per step (0: whole prompt).
  std::int64_t prefill_chunk = 0;
};

struct GreedyResult {
  std::vector<std::vector<std::int32_t>> tokens;  // generated ids per sequence
  std::vector<std::vector<float>> last_prompt_logits;  // logits at each prompt's last position
};

Result<GreedyResult> greedy_decode(CausalLM& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                   const GreedyOptions& options);

}  // namespace ferrite::model
