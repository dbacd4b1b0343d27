// Tensor-parallel sharding (Megatron-style) of the Llama family, over `tp` ranks:
//   - attention: each rank owns num_attention_heads / tp query heads (q_proj rows, column
//     parallel) and the KV heads those query heads read: num_key_value_heads / tp of them, or,
//     when there are fewer KV heads than ranks, the one KV head of its query group (replicated on
//     tp / num_key_value_heads ranks). o_proj is row parallel (its input columns), then all-reduce.
//   - MLP: gate/up rows and down columns of [r * I / tp, (r + 1) * I / tp) (uneven when tp does
//     not divide I), then all-reduce. MoE experts are sharded the same way, expert by expert
//     (router and shared-expert gate replicated).
//   - vocabulary: rank r owns token rows [r * V_r, min(V, (r + 1) * V_r)), V_r = ceil(V / tp), of
//     the embedding (masked lookup: a token outside the shard reads a zero row; then all-reduce)
//     and of the LM head (zero-padded to V_r rows, so every rank's logit shard has the same size;
//     all-gather, then the padding is dropped).
//   - norms, rotary tables and biases of column-parallel layers follow their rows; the bias of a
//     row-parallel layer is added by rank 0 only (it must be added once, after the sum).
// Each rank reads only its slices from the memory-mapped checkpoint (WeightSource::get_slice).
#pragma once

#include <cstdint>
#include <utility>

#include "ferrite/status.h"
#include "model/config.h"

namespace ferrite::model {

// This rank's place in the tensor-parallel group.
struct TpShard {
  int rank = 0;
  int size = 1;
  bool active() const { return size > 1; }
};

// [begin, end) of rank `rank`'s part of n items split as evenly as possible over `size` ranks.
std::pair<std::int64_t, std::int64_t> even_split(std::int64_t n, int size, int rank);

// Which heads a rank holds.
struct HeadShard {
  std::int64_t q_begin = 0, q_count = 0;    // query heads
  std::int64_t kv_begin = 0, kv_count = 0;  // KV heads
};
HeadShard head_shard(const ModelConfig& c, const TpShard& tp);

// Rows of the vocabulary a rank holds, and the padded shard size every rank uses.
struct VocabShard {
  std::int64_t begin = 0, end = 0;  // real token rows
  std::int64_t padded = 0;          // ceil(V / tp)
};
VocabShard vocab_shard(std::int64_t vocab_size, const TpShard& tp);

// Whether this configuration can be split over `tp` ranks; the error names the numbers and says
// which degrees would work.
Status check_tensor_parallel(const ModelConfig& c, int tp);

}  // namespace ferrite::model
