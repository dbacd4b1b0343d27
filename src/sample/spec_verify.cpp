// verify_draft: speculative decoding's accept/reject step (spec_verify.h has the contract).
#include "sample/spec_verify.h"

#include <algorithm>
#include <limits>

#include "base/check.h"
#include "sample/distribution.h"
#include "sample/row_ops.h"

namespace ferrite::sample {
namespace {

// Vocab-sized rows, reused across calls on a thread (a 152k-token row is 600 KB).
struct SpecScratch {
  std::vector<float> row;            // processed target row
  std::vector<float> probs;          // p_i
  std::vector<float> residual;       // max(0, p_i - q_i)
  std::vector<std::int32_t> output;  // output tokens + accepted drafts
};

SpecScratch& spec_scratch() {
  thread_local SpecScratch s;
  return s;
}

// The output tokens followed by `drafts`: row i's processors see its first size(output) + i.
void extend_output(std::vector<std::int32_t>& ext, const RowState& state, std::span<const std::int32_t> drafts) {
  ext.assign(state.output_tokens.begin(), state.output_tokens.end());
  ext.insert(ext.end(), drafts.begin(), drafts.end());
}

RowState at_position(const RowState& state, const std::vector<std::int32_t>& ext, std::size_t i) {
  RowState s = state;
  s.output_tokens = std::span<const std::int32_t>(ext.data(), state.output_tokens.size() + i);
  return s;
}

// One draw from a processed row, as sample_rows makes it (u already taken).
std::int32_t draw_from_row(const float* row, std::int64_t vocab, const SamplingParams& p, double u) {
  const Distribution d = build_distribution(row, vocab, p, thread_workspace());
  return d.fallback_greedy ? argmax_first(row, vocab) : draw(d, u);
}

}  // namespace

void draft_probs_from_logits(float* draft_logits, std::span<const std::int32_t> draft_tokens, std::int64_t vocab,
                             const RowState& state, float* out_q) {
  FERRITE_CHECK_MSG(state.params != nullptr, "RowState without SamplingParams");
  FERRITE_CHECK(vocab > 0);
  for (std::size_t i = 0; i < draft_tokens.size(); ++i) {
    draft_row_probs(draft_logits + static_cast<std::int64_t>(i) * vocab, draft_tokens.first(i), vocab, state,
                    out_q + static_cast<std::int64_t>(i) * vocab);
  }
}

void draft_row_probs(float* logits_row, std::span<const std::int32_t> preceding_drafts, std::int64_t vocab,
                     const RowState& state, float* out_q) {
  FERRITE_CHECK_MSG(state.params != nullptr, "RowState without SamplingParams");
  FERRITE_CHECK(vocab > 0);
  std::vector<std::int32_t>& ext = spec_scratch().output;
  extend_output(ext, state, preceding_drafts);
  apply_logits_processors(logits_row, vocab, at_position(state, ext, preceding_drafts.size()));
  sampling_probs(logits_row, vocab, *state.params, out_q);
}

std::int32_t draw_from_probs(const float* probs, std::int64_t vocab, double u) {
  double mass = 0.0;
  for (std::int64_t j = 0; j < vocab; ++j) mass += probs[j];
  if (!(mass > 0.0)) return argmax_first(probs, vocab);
  Distribution d;
  d.w = probs;
  d.n = vocab;
  d.mass = mass;
  return draw(d, u);
}

SpecVerifyResult verify_draft(const SpecVerifyInput& in, const RowState& state) {
  FERRITE_CHECK_MSG(state.params != nullptr, "RowState without SamplingParams");
  FERRITE_CHECK_MSG(in.target_logits != nullptr, "verify_draft: no target logits");
  FERRITE_CHECK(in.vocab > 0);
  const SamplingParams& p = *state.params;
  const std::int64_t vocab = in.vocab;
  const auto k = static_cast<std::int64_t>(in.draft_tokens.size());
  for (std::int32_t d : in.draft_tokens) FERRITE_CHECK_MSG(d >= 0 && d < vocab, "draft token outside the vocabulary");
  const bool greedy = is_greedy(p);
  FERRITE_CHECK_MSG(greedy || state.rng != nullptr, "sampled row without a generator");

  std::int64_t budget = in.max_new_tokens;
  if (budget < 0)
    budget = p.max_tokens ? *p.max_tokens - static_cast<std::int64_t>(state.output_tokens.size())
                          : std::numeric_limits<std::int64_t>::max();
  FERRITE_CHECK_MSG(budget >= 1, "verify_draft: the sequence may emit no more tokens");

  SpecScratch& sc = spec_scratch();
  extend_output(sc.output, state, in.draft_tokens);
  sc.row.resize(static_cast<std::size_t>(vocab));
  if (!greedy) {
    sc.probs.resize(static_cast<std::size_t>(vocab));
    sc.residual.resize(static_cast<std::size_t>(vocab));
  }

  SpecVerifyResult res;
  const auto n_out = static_cast<std::int64_t>(state.output_tokens.size());
  for (std::int64_t i = 0; i <= k; ++i) {
    const float* raw = in.target_logits + i * vocab;
    float* row = sc.row.data();
    std::copy(raw, raw + vocab, row);
    apply_logits_processors(row, vocab, at_position(state, sc.output, static_cast<std::size_t>(i)));

    std::int32_t token;
    bool accepted = false;
    if (greedy) {
      token = argmax_first(row, vocab);
      accepted = i < k && in.draft_tokens[static_cast<std::size_t>(i)] == token;
    } else if (i == k) {
      const double u = state.rng->uniform();
      token = draw_from_row(row, vocab, p, u);
    } else {
      const std::int32_t d = in.draft_tokens[static_cast<std::size_t>(i)];
      float* pr = sc.probs.data();
      sampling_probs(row, vocab, p, pr);
      const float* q = in.draft_probs ? in.draft_probs + i * vocab : nullptr;
      const double qd = q ? static_cast<double>(q[d]) : 1.0;
      const double u = state.rng->uniform();
      accepted = qd > 0.0 && u * qd < static_cast<double>(pr[d]);
      if (accepted) {
        token = d;
      } else {
        float* r = sc.residual.data();
        double mass = 0.0;
        for (std::int64_t j = 0; j < vocab; ++j) {
          const float qj = q ? q[j] : (j == d ? 1.0f : 0.0f);
          r[j] = std::max(0.0f, pr[j] - qj);
          mass += r[j];
        }
        const double u2 = state.rng->uniform();
        if (mass > 0.0) {
          Distribution dist;
          dist.w = r;
          dist.n = vocab;
          dist.mass = mass;
          token = draw(dist, u2);
        } else {
          token = draw_from_row(row, vocab, p, u2);
        }
      }
    }

    res.tokens.push_back(token);
    if (accepted) ++res.num_accepted;
    if (p.logprobs) res.logprobs.push_back(token_logprob(raw, vocab, token, *p.logprobs));

    // The engine's per-token stop check (engine_loop.cpp), in its order.
    const auto emitted = static_cast<std::int64_t>(res.tokens.size());
    const bool min_ok = n_out + emitted >= p.min_tokens;
    const bool is_stop_id =
        std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end();
    const bool is_eos = !p.ignore_eos && std::find(state.eos_token_ids.begin(), state.eos_token_ids.end(), token) !=
                                             state.eos_token_ids.end();
    if (min_ok && (is_stop_id || is_eos)) {
      res.finish = FinishReason::kStop;
      break;
    }
    if (emitted >= budget) {
      res.finish = FinishReason::kLength;
      break;
    }
    if (!accepted) break;
  }
  return res;
}

}  // namespace ferrite::sample
