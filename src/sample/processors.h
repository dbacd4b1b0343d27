// apply_logits_processors with an undo log: sample_rows uses it to return a row to its raw
// logits for the logprobs without copying the row first.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sample/sampler.h"

namespace ferrite::sample {

using UndoLog = std::vector<std::pair<std::int32_t, float>>;  // (id, value before), in write order

// As apply_logits_processors; with `undo`, records each write (not allowed with allowed_token_ids,
// which rewrites the whole row: copy the row instead).
void apply_processors(float* row, std::int64_t vocab, const RowState& state, UndoLog* undo);

// Restores the values recorded in `undo` (newest first, so a twice-written id gets its first).
void restore(float* row, const UndoLog& undo);

}  // namespace ferrite::sample
