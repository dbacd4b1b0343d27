// Paged attention on the CPU.
//
// KV-cache layout (token-major), per layer and for K and V alike:
//   cache[num_blocks][block_size][num_kv_heads][head_dim]   (f32)
// A token in slot s = block_id * block_size + offset lives at cache + s * num_kv_heads * head_dim.
//
// Flat batch (DESIGN.md): T query tokens over S sequences; sequence i owns query rows
// [query_start[i], query_start[i+1]), has context_lens[i] tokens in the cache after this step
// (its new tokens included, written by write_kv_cache before attention), and its KV blocks are
// block_tables[i * max_blocks + j]. The q rows of a sequence are its last tokens, so row r of
// sequence i sits at position context_lens[i] - (query_start[i+1] - query_start[i]) + r.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"

namespace ferrite::kernels::cpu {

// Copies each token's K and V ([kv_heads, head_dim], rows `k_stride`/`v_stride` floats apart)
// into its slot. A negative slot is skipped (padding).
void write_kv_cache(const float* k, std::int64_t k_stride, const float* v, std::int64_t v_stride,
                    const std::int64_t* slot_mapping, std::int64_t tokens, std::int64_t kv_heads,
                    std::int64_t head_dim, float* k_cache, float* v_cache);

struct PagedAttentionArgs {
  const float* q = nullptr;       // [T, q_heads, head_dim], rows q_stride floats apart
  std::int64_t q_stride = 0;
  float* out = nullptr;           // [T, q_heads, head_dim], rows out_stride floats apart
  std::int64_t out_stride = 0;
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  const std::int32_t* query_start = nullptr;   // [S + 1]
  const std::int32_t* context_lens = nullptr;  // [S]
  const std::int32_t* block_tables = nullptr;  // [S, max_blocks]
  std::int64_t max_blocks = 0;
  std::int64_t num_seqs = 0;
  std::int64_t q_heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t block_size = 16;
  float scale = 1.0f;
  // Keys further than this many positions back are masked (a query attends to itself and the
  // window - 1 keys before it). 0: no window.
  std::int64_t sliding_window = 0;
};

// Causal grouped-query attention over the paged cache, softmax in f32.
void paged_attention(const PagedAttentionArgs& a, base::ThreadPool& pool);

// The same by plain loops (the specification; for tests).
void paged_attention_reference(const PagedAttentionArgs& a);

}  // namespace ferrite::kernels::cpu
