// Speculative decoding's verification step for one sequence: given k draft tokens and the target
// model's logits at the k+1 positions they open, decide which drafts to keep and which token comes
// after them. The emitted tokens are distributed exactly as if the target model had sampled them
// one by one with the same SamplingParams (vLLM v1's rejection sampler; Leviathan et al. 2023,
// Chen et al. 2023).
//
// Positions. Target row i (0 <= i <= k) scores the token after prefix + d_1..d_i. Every row goes
// through the sampler's own steps (sampler.h): apply_logits_processors with the output tokens
// extended by d_1..d_i (so penalties and min_tokens see the drafts as if generated one by one),
// then sampling_probs for p_i. A draft model's q rows must be processed the same way, or p and q
// are not comparable: draft_probs_from_logits does that.
//
// Greedy requests (is_greedy): d_i is accepted while it equals argmax_first of processed row i-1;
// the first mismatch emits that argmax instead and stops; when all k are accepted, the bonus token
// is the argmax of row k. q is ignored and no generator draw is made (rng may be null).
//
// Sampled requests, for i = 1..k (p = p_i, q = q_i; q is one-hot at d_i for n-gram drafts):
//  - u = rng.uniform(); accept d_i iff q(d_i) > 0 and u * q(d_i) < p(d_i), i.e. u < p/q, so a
//    token with p = 0 is never accepted. q(d_i) == 0 means d_i was not drawn from q (a broken
//    precondition, or q rounded to 0 in f32): it is rejected, as vLLM does.
//  - on rejection, a second u' = rng.uniform() draws from the residual r = max(0, p - q) (computed
//    in f32, its mass summed in double) by the sampler's draw rule: walk ids in ascending order
//    and take the first whose running weight exceeds u' * mass(r). If r has no mass (p == q up
//    to rounding), u' draws from p_i by the sampler's own path. Then stop.
//  - when all k are accepted, the bonus is drawn from row k exactly as sample_rows draws a row:
//    one u, build_distribution + draw, greedy fallback for a row without finite logits. So with
//    k == 0 this is sample_rows, draw for draw.
// Generator draws, sampled requests: 1 per draft tested; a rejection costs 1 more; the bonus 1.
// So a run that rejects after a accepted drafts takes a + 2, an all-accepted run k + 1, and a run
// cut short by a stop token or the budget (below) on an accepted draft j takes j. The same seed
// and the same drafts give the same output, but not the tokens a non-speculative run of that seed
// would give (its draws line up differently, as in vLLM). The draft model's own sampling must use
// a different generator (e.g. Rng(seed, 1)), or it shifts this one's stream.
//
// Why it is lossless: P(emit x at i) = min(p(x), q(x)) + (1 - sum_y min(p(y), q(y))) * r(x)/|r|,
// and |r| = sum max(0, p - q) = 1 - sum min(p, q), so the total is p(x). Given acceptance, the
// next draft is drawn from q_{i+1}(. | prefix, d_i) afresh, so the argument repeats per position.
//
// Stopping. The emitted list ends at the first token that finishes the sequence, as the engine's
// per-token check would: a stop_token_ids entry or an EOS id (unless ignore_eos) once the output,
// counting this token, has at least min_tokens tokens (finish = kStop, token included), or the
// budget max_new_tokens (finish = kLength; a stop token wins when both hold). No row after that
// is processed and no draw is made for it. Stop *strings* are not checked here: the engine's
// detokenizer feeds the emitted tokens one by one and truncates there (the extra accepted tokens
// are dropped, and the KV cache rolled back, by the caller).
//
// Logprobs (params.logprobs set): one TokenLogprob per emitted token, of the raw target row at its
// position (token_logprob, before any processor), as sample_rows does.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ferrite/engine.h"
#include "ferrite/sampling_params.h"
#include "sample/sampler.h"

namespace ferrite::sample {

struct SpecVerifyInput {
  std::span<const std::int32_t> draft_tokens;  // d_1..d_k, k >= 0, ids inside the vocabulary
  const float* target_logits = nullptr;        // [k + 1, vocab], raw; not modified
  const float* draft_probs = nullptr;          // [k, vocab] q_1..q_k (draft_probs_from_logits); null: one-hot (n-gram)
  std::int64_t vocab = 0;
  // How many more tokens the sequence may emit (>= 1); -1: params.max_tokens minus the output so
  // far when set, else no limit. The engine passes its own (max_tokens and context length).
  std::int64_t max_new_tokens = -1;
};

struct SpecVerifyResult {
  std::vector<std::int32_t> tokens;           // 1..k+1 tokens: accepted drafts, then a correction or bonus
  std::int32_t num_accepted = 0;              // how many of `tokens` are drafts (a prefix of them)
  std::vector<TokenLogprob> logprobs;         // one per token, when params.logprobs is set
  FinishReason finish = FinishReason::kNone;  // kStop or kLength when the last token ends the sequence
};

// Verifies one sequence's drafts. `state` is the sequence before the drafts (its output tokens do
// not include them); state.rng is advanced as documented above.
SpecVerifyResult verify_draft(const SpecVerifyInput& in, const RowState& state);

// q rows for verify_draft from a draft model's logits [k, vocab] (row i scores the token after
// prefix + d_1..d_i, as the target's): row i gets the processors with the output extended by
// d_1..d_i, then sampling_probs, into out_q [k, vocab]. `draft_logits` is used as scratch.
// Drafts sampled from these rows by sample_rows (same params, same extended output) are drawn
// from exactly these q.
void draft_probs_from_logits(float* draft_logits, std::span<const std::int32_t> draft_tokens, std::int64_t vocab,
                             const RowState& state, float* out_q);

// One q row as a draft model proposes it: `logits_row` (used as scratch) scores the token after
// prefix + preceding_drafts; the processors see the output extended by preceding_drafts, then
// sampling_probs fills out_q [vocab]. Row i of draft_probs_from_logits is this row with d_1..d_i.
void draft_row_probs(float* logits_row, std::span<const std::int32_t> preceding_drafts, std::int64_t vocab,
                     const RowState& state, float* out_q);

// One draw from a probability row by the sampler's rule (ascending ids, the first whose running
// sum exceeds u * total); a row without mass gives its argmax_first.
std::int32_t draw_from_probs(const float* probs, std::int64_t vocab, double u);

}  // namespace ferrite::sample
