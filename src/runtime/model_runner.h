// ModelRunner: turns the scheduler's StepPlan into the flat batch (DESIGN.md) and runs one
// forward pass for the whole mixed batch of prefill chunks and decodes.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"
#include "sched/scheduler.h"

namespace ferrite::runtime {

// Which logits rows a scheduled sequence produces: its sampling row (the last of its own new
// tokens, when it samples) followed by one row per draft slot (num_spec: the rows that verify the
// drafts), or, with `all_rows`, every row of its new tokens (prompt logprobs).
struct RowMap {
  std::int64_t first_row = -1;   // index into the returned logits of this sequence's first row
  std::int64_t num_rows = 0;     // rows returned for it (0, 1, or num_new_tokens)
};

// Builds the flat batch of `plan`. `want_all_rows(seq)` asks for every row of a sequence.
model::ForwardBatch build_forward_batch(const sched::StepPlan& plan, std::int64_t block_size,
                                        const std::function<bool(const sched::Sequence&)>& want_all_rows,
                                        std::vector<RowMap>* rows);

class ModelRunner {
 public:
  ModelRunner(model::CausalLM& model, model::KvCache kv) : model_(model), kv_(std::move(kv)) {}

  // Runs the plan; logits [rows, vocab] per RowMap (host f32).
  Result<backend::Tensor> execute(const sched::StepPlan& plan,
                                  const std::function<bool(const sched::Sequence&)>& want_all_rows,
                                  std::vector<RowMap>* rows);

  const model::KvCache& kv_cache() const { return kv_; }

 private:
  model::CausalLM& model_;
  model::KvCache kv_;
};

}  // namespace ferrite::runtime
