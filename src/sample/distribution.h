// Step 3 of sampler.h for a sampled row: temperature, min_p, top_k, top_p and the draw.
// A distribution is a list of weights, dense (token id == index) or over candidate ids in
// ascending order; a token is kept when its weight is positive (filters write 0 or drop it).
#pragma once

#include <cstdint>

#include "ferrite/sampling_params.h"
#include "sample/row_ops.h"

namespace ferrite::sample {

struct Distribution {
  bool fallback_greedy = false;       // no finite maximum: the caller takes the argmax
  const float* w = nullptr;           // unnormalised weights, 0 for removed tokens
  const std::int32_t* ids = nullptr;  // null: dense, token id == index; else ascending ids
  std::int64_t n = 0;
  double mass = 0.0;  // total weight
};

// Builds the distribution of a processed row; its arrays live in `ws`.
Distribution build_distribution(const float* row, std::int64_t vocab, const SamplingParams& p, Workspace& ws);

// The token whose running weight (ascending id) first exceeds u * mass.
std::int32_t draw(const Distribution& d, double u);

}  // namespace ferrite::sample
