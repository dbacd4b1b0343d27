// Prompt-lookup (n-gram) drafts for speculative decoding: no model, just the context. The
// longest suffix of the context, from max_n down to min_n tokens, that also occurs earlier
// proposes the tokens that followed it (up to k of them): after its most recent earlier
// occurrence that k tokens follow, or, if none does, after its earliest (in a run of one repeated
// token the most recent occurrence is followed by a single token; the earliest by the run). Text
// that quotes or edits its input (summaries, code edits, RAG answers) repeats long runs of the
// prompt, which is where these drafts are accepted.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ferrite::sample {

// Up to k draft tokens (none when no suffix of min_n..max_n tokens recurs). The earlier
// occurrence may overlap the suffix itself.
std::vector<std::int32_t> propose_ngram(std::span<const std::int32_t> context, std::int32_t min_n, std::int32_t max_n,
                                        std::int32_t k);

}  // namespace ferrite::sample
