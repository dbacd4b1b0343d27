// Sampling: logits processors and samplers, one request's row at a time, so a row's result
// never depends on the other rows in the batch. Semantics follow vLLM (v1):
//  1. logprobs (when requested) are taken from the raw model logits: log_softmax of the row
//     before any processor, with the chosen token's rank and the top-N;
//  2. processors, in order: allowed_token_ids (others -> -inf), logit_bias (added),
//     min_tokens (while fewer than min_tokens were generated: stop_token_ids -> -inf, and the
//     EOS ids too unless ignore_eos),
//     repetition_penalty (on tokens in prompt or output: positive logit / p, negative * p),
//     frequency_penalty (- f * count in output) and presence_penalty (- p if in output);
//  3. temperature == 0 (or below 1e-5): greedy, the first maximum;
//     else logits / temperature, then min_p (relative to the top probability), top_k and
//     top_p filtering in vLLM v1's order (min_p is an argmax-invariant processor applied before
//     its top-k/top-p sampler, so top_p's mass is that of the tokens min_p and top_k kept),
//     then one draw from the request's own generator.
//
// Exact rules (tests/data/sample/vectors.json holds them to an independent numpy reference):
//  - greedy: the smallest id among the maxima; NaN logits never win. No generator draw.
//  - weights: w_i = exp((l_i - max) / T) in f32; below exp(-87) (about 1.6e-38) a weight is 0,
//    as are -inf and NaN logits: such a token is never drawn.
//  - min_p: keep w_i >= min_p (w of the top token is 1, so this is p_i >= min_p * p_max).
//  - top_k (1 <= k < vocab): keep l_i >= the k-th largest logit, so ties at the k-th value are
//    all kept (vLLM's mask is `logits < kth_value`).
//  - top_p: order the kept tokens by weight descending, ties by smaller id; keep a token while
//    the mass strictly before it is < top_p * (mass of the kept tokens). The top token stays.
//  - draw: u = rng.uniform() (exactly one per sampled row); walk the kept tokens by ascending id
//    and take the first whose running weight sum exceeds u * (kept mass). Walking by id (not by
//    probability) makes the result a function of the kept set alone (up to float rounding),
//    whatever path found it.
//  - a sampled row whose logits are all -inf/NaN (or whose maximum is +inf) falls back to greedy.
//  - logprobs: rank = number of tokens whose logprob is >= the chosen one's (vLLM's
//    batched_count_greater_than), so tied tokens share the worse rank; top-N lists ties by
//    smaller id first.
// Token ids in params and RowState must be inside the vocabulary (the engine checks them
// against the model); an id outside it is a broken invariant and aborts.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ferrite/engine.h"
#include "ferrite/sampling_params.h"

namespace ferrite::sample {

// Below this temperature a row is greedy (vLLM's _SAMPLING_EPS).
inline constexpr double kGreedyTemperature = 1e-5;

inline bool is_greedy(const SamplingParams& p) { return p.temperature < kGreedyTemperature; }

// A request's random generator: counter-based (Philox-like via splitmix64), so its stream
// depends only on (seed, stream id, draws so far).
class Rng {
 public:
  Rng(std::uint64_t seed = 0, std::uint64_t stream = 0);
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  std::uint64_t next_u64();
  // Draws taken so far (each uniform() or next_u64() is one).
  std::uint64_t draws() const { return counter_; }

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

// What the sampler needs to know about one row's sequence.
struct RowState {
  const SamplingParams* params = nullptr;
  std::span<const std::int32_t> prompt_tokens;
  std::span<const std::int32_t> output_tokens;
  std::span<const std::int32_t> eos_token_ids;  // the model's EOS ids (masked by min_tokens unless ignore_eos)
  Rng* rng = nullptr;                           // needed by sampled rows only
};

struct SampleOutput {
  std::int32_t token = 0;
  std::optional<TokenLogprob> logprob;  // when params->logprobs is set
};

// Samples one token for each row of logits [rows, vocab]. Rows are used as scratch: their contents
// afterwards are unspecified. Not thread-safe per call, but calls on different threads are fine
// (scratch is per thread).
std::vector<SampleOutput> sample_rows(float* logits, std::int64_t rows, std::int64_t vocab,
                                      std::span<const RowState> states);

// The log-probability of `token` under log_softmax(logits_row), its 1-based rank, and the top_n
// (id, logprob) pairs, best first (ties: smaller id first).
TokenLogprob token_logprob(const float* logits_row, std::int64_t vocab, std::int32_t token, std::int32_t top_n);

// Step 2 alone, on one row in place: what the greedy argmax and the temperature see.
void apply_logits_processors(float* row, std::int64_t vocab, const RowState& state);

// The distribution step 3 draws from, given a row already through apply_logits_processors:
// out_probs[vocab] gets each token's probability after temperature and filtering (0 for removed
// tokens); a greedy row gets 1 at its argmax. For tests and for a speculative-decoding verifier.
void sampling_probs(const float* processed_row, std::int64_t vocab, const SamplingParams& params, float* out_probs);

// The first maximum of a row (NaN never wins; 0 when no value is > -inf).
std::int32_t argmax_first(const float* row, std::int64_t vocab);

}  // namespace ferrite::sample
