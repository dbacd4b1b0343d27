// Rotary position embedding frequencies with Hugging Face's scaling variants
// (transformers' modeling_rope_utils): default, linear, dynamic NTK, llama3 and YaRN.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace ferrite::model {

class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const ModelConfig& config);

  std::int64_t rot_dim() const { return rot_dim_; }

  // cos/sin rows ([rot_dim / 2] each, attention factor folded in) for a token at `position`
  // of a sequence that holds `seq_len` tokens after this step. seq_len matters only for
  // dynamic NTK scaling, which (as in transformers) recomputes the frequencies from the
  // sequence length once it passes max_position_embeddings.
  void cos_sin(std::int64_t position, std::int64_t seq_len, float* cos, float* sin) const;

 private:
  std::vector<float> compute_inv_freq(std::int64_t seq_len) const;

  const ModelConfig& config_;
  std::int64_t rot_dim_;
  std::vector<float> inv_freq_;  // for every sequence length, except with dynamic scaling
  float attention_factor_ = 1.0f;
};

}  // namespace ferrite::model
