// The inputs every architecture's forward pass builds from a flat batch (models.h).
#include <algorithm>

#include "model/models/models.h"

namespace ferrite::model {

using backend::DType;
using backend::Shape;
using backend::Tensor;

Tensor host_i32(const std::vector<std::int32_t>& v, Shape shape) {
  Tensor x = Tensor::empty(shape, DType::kI32);
  std::copy(v.begin(), v.end(), x.data<std::int32_t>());
  return x;
}

backend::AttentionMeta upload_attention_meta(backend::Backend& be, const ForwardBatch& batch, std::int64_t block_size) {
  const std::int64_t t = batch.num_tokens(), s = batch.num_seqs();
  backend::AttentionMeta meta;
  meta.query_start = be.upload(host_i32(batch.query_start, Shape{s + 1}));
  meta.context_lens = be.upload(host_i32(batch.context_lens, Shape{s}));
  meta.block_tables = be.upload(host_i32(batch.block_tables, Shape{s, std::max<std::int64_t>(batch.max_blocks, 1)}));
  Tensor slots = Tensor::empty(Shape{t}, DType::kI64);
  std::copy(batch.slot_mapping.begin(), batch.slot_mapping.end(), slots.data<std::int64_t>());
  meta.slot_mapping = be.upload(slots);
  meta.num_seqs = s;
  meta.max_blocks = batch.max_blocks;
  meta.block_size = block_size;
  return meta;
}

std::pair<Tensor, Tensor> rope_tables(backend::Backend& be, const RotaryEmbedding& rope, const ForwardBatch& batch) {
  const std::int64_t t = batch.num_tokens(), s = batch.num_seqs();
  const std::int64_t half = rope.rot_dim() / 2;
  Tensor cos = Tensor::empty(Shape{t, half}, DType::kF32), sin = Tensor::empty(Shape{t, half}, DType::kF32);
  for (std::int64_t i = 0; i < s; ++i)
    for (std::int32_t r = batch.query_start[static_cast<std::size_t>(i)];
         r < batch.query_start[static_cast<std::size_t>(i + 1)]; ++r)
      rope.cos_sin(batch.positions[static_cast<std::size_t>(r)], batch.context_lens[static_cast<std::size_t>(i)],
                   cos.data<float>() + r * half, sin.data<float>() + r * half);
  return {be.upload(cos), be.upload(sin)};
}

}  // namespace ferrite::model
