#include "model/tensor_parallel.h"

#include <algorithm>
#include <string>

namespace ferrite::model {

std::pair<std::int64_t, std::int64_t> even_split(std::int64_t n, int size, int rank) {
  return {n * rank / size, n * (rank + 1) / size};
}

HeadShard head_shard(const ModelConfig& c, const TpShard& tp) {
  HeadShard s;
  s.q_count = c.num_attention_heads / tp.size;
  s.q_begin = s.q_count * tp.rank;
  if (c.num_key_value_heads >= tp.size) {
    s.kv_count = c.num_key_value_heads / tp.size;
    s.kv_begin = s.kv_count * tp.rank;
  } else {
    // Fewer KV heads than ranks: the rank's query heads all lie in one group (checked at load).
    const std::int64_t group = c.num_attention_heads / c.num_key_value_heads;
    s.kv_count = 1;
    s.kv_begin = s.q_begin / group;
  }
  return s;
}

VocabShard vocab_shard(std::int64_t vocab_size, const TpShard& tp) {
  VocabShard v;
  v.padded = (vocab_size + tp.size - 1) / tp.size;
  v.begin = std::min(vocab_size, v.padded * tp.rank);
  v.end = std::min(vocab_size, v.begin + v.padded);
  return v;
}

Status check_tensor_parallel(const ModelConfig& c, int tp) {
  if (tp < 1) return invalid_argument("--tensor-parallel-size must be >= 1, got " + std::to_string(tp));
  if (tp == 1) return ok_status();
  auto degrees = [&] {
    std::string ok;
    for (std::int64_t d = 2; d <= c.num_attention_heads && d <= 64; ++d)
      if (c.num_attention_heads % d == 0 && (c.num_key_value_heads % d == 0 || d % c.num_key_value_heads == 0))
        ok += (ok.empty() ? "" : ", ") + std::to_string(d);
    return ok.empty() ? std::string("none") : ok;
  };
  const std::string heads = std::to_string(c.num_attention_heads), kv = std::to_string(c.num_key_value_heads);
  if (c.num_attention_heads % tp != 0)
    return invalid_argument(
        "--tensor-parallel-size " + std::to_string(tp) + " does not divide the model's " + heads +
        " attention heads (num_attention_heads); tensor-parallel degrees this model allows: " + degrees());
  if (c.num_key_value_heads % tp != 0 && tp % c.num_key_value_heads != 0)
    return invalid_argument(
        "--tensor-parallel-size " + std::to_string(tp) + " and the model's " + kv +
        " KV heads (num_key_value_heads) must divide one another; degrees this model allows: " + degrees());
  if (c.vocab_size < tp)
    return invalid_argument("the vocabulary (" + std::to_string(c.vocab_size) +
                            ") is smaller than --tensor-parallel-size");
  return ok_status();
}

}  // namespace ferrite::model
