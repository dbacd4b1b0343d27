// Multi-head latent attention (DeepSeek-V2/V3) over a paged latent cache, on the CPU.
//
// Latent cache layout (token-major), per layer:
//   cache[num_blocks][block_size][latent_dim + rope_dim]   (f32)
// A token in slot s = block_id * block_size + offset holds [c | k_pe] at cache + s * (latent_dim + rope_dim):
// c is its compressed KV (kv_a_proj_with_mqa's first kv_lora_rank outputs after kv_a_layernorm) and
// k_pe its rotated rope key, shared by all heads. Full K and V are never stored.
//
// Attention runs in the latent space ("weight absorption"): the caller folds each head's W_UK into
// its query (q_latent = q_nope W_UK, so q_nope . k_nope = q_latent . c) and applies W_UV after, so
//   score_j = scale * (q_latent . c_j + q_pe . k_pe_j),   out = sum_j softmax(score)_j c_j
// per query head, over the causal context of the flat batch (attention.h describes the batch).
#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace ferrite::kernels::cpu {

// Writes [latent[t] | k_pe[t]] into each token's slot; a negative slot is skipped (padding).
// latent rows are latent_stride floats apart, k_pe rows rope_stride.
void write_mla_cache(const float* latent, std::int64_t latent_stride, const float* k_pe, std::int64_t rope_stride,
                     const std::int64_t* slot_mapping, std::int64_t tokens, std::int64_t latent_dim,
                     std::int64_t rope_dim, float* cache);

struct MlaAttentionArgs {
  const float* q_latent = nullptr;  // [T, heads, latent_dim], contiguous
  const float* q_pe = nullptr;      // [T, heads, rope_dim], contiguous
  float* out = nullptr;             // [T, heads, latent_dim], contiguous
  const float* cache = nullptr;
  const std::int32_t* query_start = nullptr;   // [S + 1]
  const std::int32_t* context_lens = nullptr;  // [S]
  const std::int32_t* block_tables = nullptr;  // [S, max_blocks]
  std::int64_t max_blocks = 0;
  std::int64_t num_seqs = 0;
  std::int64_t heads = 0;
  std::int64_t latent_dim = 0;
  std::int64_t rope_dim = 0;
  std::int64_t block_size = 16;
  float scale = 1.0f;
};

// Each (query row, head) is computed in a fixed order of its own (heads are grouped only to load
// each cached row once per group), so a row's output is bitwise the same whatever else is in the batch.
void mla_attention(const MlaAttentionArgs& a, base::ThreadPool& pool);

// The same by plain loops in double precision (the specification; for tests).
void mla_attention_reference(const MlaAttentionArgs& a);

}  // namespace ferrite::kernels::cpu
