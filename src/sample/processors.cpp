// Step 2 of sampler.h: the logits processors that change what greedy picks.
#include "sample/processors.h"

#include <algorithm>
#include <cstdint>

#include "base/check.h"
#include "sample/row_ops.h"
#include "sample/sampler.h"

namespace ferrite::sample {

Workspace& thread_workspace() {
  thread_local Workspace ws;
  return ws;
}

namespace {

void check_id(std::int32_t id, std::int64_t vocab, const char* what) { FERRITE_CHECK_MSG(id >= 0 && id < vocab, what); }

// Repetition, frequency and presence penalties, in vLLM's order and f32 arithmetic. Each distinct
// token is touched once: the stamp array marks what was seen without clearing vocab-sized state.
void apply_penalties(float* row, std::int64_t vocab, const RowState& s, Workspace& ws, UndoLog* undo) {
  const SamplingParams& p = *s.params;
  const auto rep = static_cast<float>(p.repetition_penalty);
  const auto freq = static_cast<float>(p.frequency_penalty);
  const auto pres = static_cast<float>(p.presence_penalty);
  const bool use_rep = rep != 1.0f;
  if (!use_rep && freq == 0.0f && pres == 0.0f) return;
  if (static_cast<std::int64_t>(ws.stamp.size()) < vocab) {
    ws.stamp.assign(static_cast<std::size_t>(vocab), 0);
    ws.count.assign(static_cast<std::size_t>(vocab), 0);
    ws.epoch = 0;
  }
  if (++ws.epoch == 0) {  // wrapped: old stamps could collide
    std::fill(ws.stamp.begin(), ws.stamp.end(), 0u);
    ws.epoch = 1;
  }
  ws.distinct.clear();
  auto see = [&](std::int32_t t) {
    check_id(t, vocab, "sequence token id outside the vocabulary");
    if (ws.stamp[t] != ws.epoch) {
      ws.stamp[t] = ws.epoch;
      ws.count[t] = 0;
      ws.distinct.push_back(t);
    }
  };
  // Only repetition_penalty looks at the prompt.
  if (use_rep)
    for (std::int32_t t : s.prompt_tokens) see(t);
  for (std::int32_t t : s.output_tokens) {
    see(t);
    ++ws.count[t];
  }
  for (std::int32_t t : ws.distinct) {
    float l = row[t];
    if (use_rep) l = l > 0.0f ? l / rep : l * rep;
    const std::int32_t c = ws.count[t];
    l -= freq * static_cast<float>(c);
    if (c > 0) l -= pres;
    if (undo) undo->emplace_back(t, row[t]);
    row[t] = l;
  }
}

}  // namespace

void restore(float* row, const UndoLog& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) row[it->first] = it->second;
}

void apply_logits_processors(float* row, std::int64_t vocab, const RowState& s) {
  apply_processors(row, vocab, s, nullptr);
}

void apply_processors(float* row, std::int64_t vocab, const RowState& s, UndoLog* undo) {
  FERRITE_CHECK_MSG(s.params != nullptr, "RowState without SamplingParams");
  const SamplingParams& p = *s.params;
  Workspace& ws = thread_workspace();
  if (undo) undo->clear();
  auto set = [&](std::int32_t id, float v) {
    if (undo) undo->emplace_back(id, row[id]);
    row[id] = v;
  };

  if (!p.allowed_token_ids.empty()) {
    FERRITE_CHECK_MSG(undo == nullptr, "allowed_token_ids rewrites the row: no undo log");
    ws.saved.clear();
    for (std::int32_t id : p.allowed_token_ids) {
      check_id(id, vocab, "allowed_token_ids entry outside the vocabulary");
      ws.saved.push_back(row[id]);
    }
    std::fill(row, row + vocab, -kInf);
    for (std::size_t i = 0; i < ws.saved.size(); ++i) row[p.allowed_token_ids[i]] = ws.saved[i];
  }

  for (const auto& [id, bias] : p.logit_bias) {
    check_id(id, vocab, "logit_bias token id outside the vocabulary");
    set(id, row[id] + bias);
  }

  if (static_cast<std::int64_t>(s.output_tokens.size()) < p.min_tokens) {
    for (std::int32_t id : p.stop_token_ids) {
      check_id(id, vocab, "stop_token_ids entry outside the vocabulary");
      set(id, -kInf);
    }
    if (!p.ignore_eos)
      for (std::int32_t id : s.eos_token_ids) {
        check_id(id, vocab, "EOS token id outside the vocabulary");
        set(id, -kInf);
      }
  }

  apply_penalties(row, vocab, s, ws, undo);
}

}  // namespace ferrite::sample
