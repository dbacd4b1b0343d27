#pragma once

#include <cstdint>

namespace ferrite::kernels::cpu {

// Rotary embedding, "rotate half" (GPT-NeoX / Hugging Face Llama) layout, in place.
// x: [tokens, heads, head_dim] with `token_stride` floats between tokens; only the first
// `rot_dim` dims of each head rotate. cos/sin: [tokens, rot_dim / 2], one row per token (the
// caller computes them per position with the model's scaling, and any attention factor folded in).
// For i < rot_dim/2: x[i], x[i + rot_dim/2] = x[i] c - x[i+h] s, x[i+h] c + x[i] s.
void rope_neox(float* x, std::int64_t tokens, std::int64_t heads, std::int64_t head_dim, std::int64_t token_stride,
               std::int64_t rot_dim, const float* cos, const float* sin);

}  // namespace ferrite::kernels::cpu
