// The Llama family: Llama, Mistral, Qwen2 and Qwen3 differ only in flags of one block.
//   h = embed(ids)
//   per layer:  h += o_proj(attn(rope(q_norm?(q_proj(x))), rope(k_norm?(k_proj(x))), v_proj(x)))
//               with x = rms_norm(h);  then  h += down(silu(gate(x)) * up(x)) with x = rms_norm(h)
//   logits = lm_head(rms_norm(h))   (lm_head may be tied to embed)
// Qwen2 adds q/k/v biases (attention_bias), Qwen3 adds per-head q/k RMSNorm, Mistral and
// Qwen2 may use sliding-window attention per layer (ModelConfig::layer_uses_sliding_window).
// Mixtral, Qwen2-MoE and Qwen3-MoE are the same block with a mixture of experts (models/moe.h)
// in place of the MLP in the layers ModelConfig::layer_is_sparse picks.
// Under tensor parallelism each rank holds its shard (model/tensor_parallel.h) and the ranks
// meet in an all-reduce after o_proj, after the MLP and after the embedding lookup, and in an
// all-gather of the logit shards.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "model/models/models.h"
#include "model/models/moe.h"
#include "model/rope_scaling.h"
#include "model/tensor_parallel.h"
#include "parallel/communicator.h"

namespace ferrite::model {

namespace {

using backend::DType;
using backend::LinearWeight;
using backend::Shape;
using backend::Tensor;

class LlamaModel final : public CausalLM {
 public:
  // `comm`: null for the whole model, else this rank's shard over comm's ranks.
  LlamaModel(const ModelConfig& config, backend::Backend& backend, parallel::Communicator* comm)
      : CausalLM(config, backend), rope_(config_), comm_(comm) {
    if (comm_ != nullptr) tp_ = TpShard{comm_->rank(), comm_->world_size()};
  }

  Status load(WeightSource& w, DType dtype, bool show_progress);
  Result<Tensor> forward(const ForwardBatch& batch, KvCache& kv) override;

 private:
  struct Layer {
    Tensor input_norm, post_norm, q_norm, k_norm;
    LinearWeight q, k, v, o, gate, up, down;
    std::unique_ptr<SparseMoeBlock> moe;  // set in sparse layers, which have no gate/up/down
    std::int64_t window = 0;
  };

  Result<LinearWeight> linear_weight(WeightSource& w, const std::string& prefix, std::int64_t out, std::int64_t in,
                                     bool bias, DType dtype);
  // Column parallel: output rows [begin, end) of the [out, in] layer (and of its bias).
  Result<LinearWeight> column_shard(WeightSource& w, const std::string& prefix, std::int64_t out, std::int64_t in,
                                    std::int64_t begin, std::int64_t end, bool bias, DType dtype);
  // Row parallel: input columns [begin, end); the bias is rank 0's alone (added once to the sum).
  Result<LinearWeight> row_shard(WeightSource& w, const std::string& prefix, std::int64_t out, std::int64_t in,
                                 std::int64_t begin, std::int64_t end, bool bias, DType dtype);
  // The vocabulary shard of [vocab, hidden] `name`, zero-padded to `rows` rows.
  Result<Tensor> vocab_rows(WeightSource& w, const std::string& name, std::int64_t rows, DType dtype);
  // Sums a partial result over the ranks (nothing on one rank).
  Status all_reduce(Tensor& x);

  RotaryEmbedding rope_;
  parallel::Communicator* comm_ = nullptr;
  TpShard tp_;
  VocabShard vocab_;
  Tensor embed_;
  Tensor final_norm_;
  LinearWeight lm_head_;
  std::vector<Layer> layers_;
};

Result<LinearWeight> LlamaModel::linear_weight(WeightSource& w, const std::string& prefix, std::int64_t out,
                                               std::int64_t in, bool bias, DType dtype) {
  FERRITE_ASSIGN_OR_RETURN(Tensor weight, w.get(prefix + ".weight", Shape{out, in}, dtype));
  Tensor b;
  if (bias) {
    FERRITE_ASSIGN_OR_RETURN(b, w.get(prefix + ".bias", Shape{out}, DType::kF32));
    num_parameters_ += out;
  }
  num_parameters_ += out * in;
  FERRITE_ASSIGN_OR_RETURN(LinearWeight lw, backend_.prepare_linear(weight, b, dtype));
  weight_bytes_ += lw.bytes();
  return lw;
}

Result<LinearWeight> LlamaModel::column_shard(WeightSource& w, const std::string& prefix, std::int64_t out,
                                              std::int64_t in, std::int64_t begin, std::int64_t end, bool bias,
                                              DType dtype) {
  if (!tp_.active()) return linear_weight(w, prefix, out, in, bias, dtype);
  FERRITE_ASSIGN_OR_RETURN(Tensor weight, w.get_slice(prefix + ".weight", Shape{out, in}, 0, begin, end, dtype));
  Tensor b;
  if (bias) {
    FERRITE_ASSIGN_OR_RETURN(b, w.get_slice(prefix + ".bias", Shape{out}, 0, begin, end, DType::kF32));
    b = b.clone();
    num_parameters_ += end - begin;
  }
  num_parameters_ += (end - begin) * in;
  FERRITE_ASSIGN_OR_RETURN(LinearWeight lw, backend_.prepare_linear(weight, b, dtype));
  weight_bytes_ += lw.bytes();
  return lw;
}

Result<LinearWeight> LlamaModel::row_shard(WeightSource& w, const std::string& prefix, std::int64_t out,
                                           std::int64_t in, std::int64_t begin, std::int64_t end, bool bias,
                                           DType dtype) {
  if (!tp_.active()) return linear_weight(w, prefix, out, in, bias, dtype);
  FERRITE_ASSIGN_OR_RETURN(Tensor weight, w.get_slice(prefix + ".weight", Shape{out, in}, 1, begin, end, dtype));
  Tensor b;
  if (bias && tp_.rank == 0) {
    FERRITE_ASSIGN_OR_RETURN(b, w.get(prefix + ".bias", Shape{out}, DType::kF32));
    num_parameters_ += out;
  }
  num_parameters_ += out * (end - begin);
  FERRITE_ASSIGN_OR_RETURN(LinearWeight lw, backend_.prepare_linear(weight, b, dtype));
  weight_bytes_ += lw.bytes();
  return lw;
}

Result<Tensor> LlamaModel::vocab_rows(WeightSource& w, const std::string& name, std::int64_t rows, DType dtype) {
  const std::int64_t h = config_.hidden_size;
  FERRITE_ASSIGN_OR_RETURN(Tensor shard,
                           w.get_slice(name, Shape{config_.vocab_size, h}, 0, vocab_.begin, vocab_.end, dtype));
  Tensor out = Tensor::zeros(Shape{rows, h}, dtype);
  const Tensor c = shard.is_contiguous() ? shard : shard.clone();
  std::memcpy(out.raw_data(), c.raw_data(), c.nbytes());
  num_parameters_ += (vocab_.end - vocab_.begin) * h;
  return out;
}

Status LlamaModel::all_reduce(Tensor& x) {
  if (!tp_.active()) return ok_status();
  backend_.synchronize();
  return comm_->all_reduce_sum(x.data<float>(), static_cast<std::size_t>(x.numel()));
}

Status LlamaModel::load(WeightSource& w, DType dtype, bool show_progress) {
  weight_dtype_ = dtype;
  const auto& c = config_;
  const std::int64_t h = c.hidden_size, d = c.head_dim;
  const std::int64_t nl = c.num_hidden_layers;
  base::ProgressBar bar("loading weights", static_cast<std::uint64_t>(nl + 2), "layers", show_progress);
  auto tick = [&] { bar.advance(); };

  const HeadShard heads = head_shard(c, tp_);
  const std::int64_t q0 = heads.q_begin * d, q1 = (heads.q_begin + heads.q_count) * d;
  const std::int64_t kv0 = heads.kv_begin * d, kv1 = (heads.kv_begin + heads.kv_count) * d;
  kv_heads_ = heads.kv_count;
  vocab_ = vocab_shard(c.vocab_size, tp_);

  Tensor embed;
  if (tp_.active()) {
    // One zero row past the padded shard: the lookup of a token another rank owns reads it.
    FERRITE_ASSIGN_OR_RETURN(embed, vocab_rows(w, "model.embed_tokens.weight", vocab_.padded + 1, dtype));
    embed_ = backend_.upload(embed);
  } else {
    FERRITE_ASSIGN_OR_RETURN(embed, w.get("model.embed_tokens.weight", Shape{c.vocab_size, h}, dtype));
    embed_ = backend_.upload(embed.clone());
    num_parameters_ += c.vocab_size * h;
  }
  weight_bytes_ += embed_.nbytes();
  tick();

  layers_.resize(static_cast<std::size_t>(nl));
  for (std::int64_t i = 0; i < nl; ++i) {
    Layer& L = layers_[static_cast<std::size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i);
    FERRITE_ASSIGN_OR_RETURN(L.input_norm, vector_weight(w, p + ".input_layernorm.weight", h));
    FERRITE_ASSIGN_OR_RETURN(L.post_norm, vector_weight(w, p + ".post_attention_layernorm.weight", h));
    FERRITE_ASSIGN_OR_RETURN(L.q, column_shard(w, p + ".self_attn.q_proj", c.num_attention_heads * d, h, q0, q1,
                                               c.attention_bias, dtype));
    FERRITE_ASSIGN_OR_RETURN(L.k, column_shard(w, p + ".self_attn.k_proj", c.num_key_value_heads * d, h, kv0, kv1,
                                               c.attention_bias, dtype));
    FERRITE_ASSIGN_OR_RETURN(L.v, column_shard(w, p + ".self_attn.v_proj", c.num_key_value_heads * d, h, kv0, kv1,
                                               c.attention_bias, dtype));
    FERRITE_ASSIGN_OR_RETURN(L.o, row_shard(w, p + ".self_attn.o_proj", h, c.num_attention_heads * d, q0, q1,
                                            c.o_proj_bias, dtype));
    if (c.qk_norm) {
      FERRITE_ASSIGN_OR_RETURN(L.q_norm, vector_weight(w, p + ".self_attn.q_norm.weight", d));
      FERRITE_ASSIGN_OR_RETURN(L.k_norm, vector_weight(w, p + ".self_attn.k_norm.weight", d));
    }
    if (c.layer_is_sparse(i)) {
      L.moe = std::make_unique<SparseMoeBlock>();
      FERRITE_RETURN_IF_ERROR(L.moe->load(w, backend_, c, p, dtype, &num_parameters_, &weight_bytes_, tp_));
    } else {
      const auto [i0, i1] = even_split(c.intermediate_size, tp_.size, tp_.rank);
      FERRITE_ASSIGN_OR_RETURN(L.gate, column_shard(w, p + ".mlp.gate_proj", c.intermediate_size, h, i0, i1,
                                                    c.mlp_bias, dtype));
      FERRITE_ASSIGN_OR_RETURN(L.up, column_shard(w, p + ".mlp.up_proj", c.intermediate_size, h, i0, i1,
                                                  c.mlp_bias, dtype));
      FERRITE_ASSIGN_OR_RETURN(L.down, row_shard(w, p + ".mlp.down_proj", h, c.intermediate_size, i0, i1,
                                                 c.mlp_bias, dtype));
    }
    L.window = c.layer_uses_sliding_window(i) ? c.sliding_window : 0;
    tick();
  }

  FERRITE_ASSIGN_OR_RETURN(final_norm_, vector_weight(w, "model.norm.weight", h));
  if (tp_.active()) {
    // The logit shard: vocab_.padded rows (zero past the vocabulary), the same size on every rank.
    Tensor head;
    if (c.tie_word_embeddings) {
      head = embed.slice_rows(0, vocab_.padded);
    } else {
      FERRITE_ASSIGN_OR_RETURN(head, vocab_rows(w, "lm_head.weight", vocab_.padded, dtype));
    }
    FERRITE_ASSIGN_OR_RETURN(lm_head_, backend_.prepare_linear(head, Tensor(), dtype));
    weight_bytes_ += lm_head_.bytes();
  } else if (c.tie_word_embeddings) {
    FERRITE_ASSIGN_OR_RETURN(lm_head_, backend_.prepare_linear(embed, Tensor(), dtype));
    weight_bytes_ += lm_head_.bytes();
  } else {
    FERRITE_ASSIGN_OR_RETURN(lm_head_, linear_weight(w, "lm_head", c.vocab_size, h, false, dtype));
  }
  tick();
  return ok_status();
}

Result<Tensor> LlamaModel::forward(const ForwardBatch& batch, KvCache& kv) {
  FERRITE_RETURN_IF_ERROR(validate_batch(batch, kv));
  const auto& c = config_;
  const std::int64_t t = batch.num_tokens();
  const std::int64_t h = c.hidden_size, d = c.head_dim;
  const std::int64_t hq = c.num_attention_heads / tp_.size, hk = kv_heads();  // this rank's heads
  auto& be = backend_;

  Tensor ids;
  if (tp_.active()) {
    // Vocabulary-parallel lookup: a token of another rank's shard reads the zero row past ours.
    std::vector<std::int32_t> local(batch.token_ids);
    for (auto& id : local)
      id = id >= vocab_.begin && id < vocab_.end ? static_cast<std::int32_t>(id - vocab_.begin)
                                                 : static_cast<std::int32_t>(vocab_.padded);
    ids = be.upload(host_i32(local, Shape{t}));
  } else {
    ids = be.upload(host_i32(batch.token_ids, Shape{t}));
  }
  const backend::AttentionMeta meta = upload_attention_meta(be, batch, kv.block_size);
  auto [cos, sin] = rope_tables(be, rope_, batch);

  Tensor hidden = be.empty(Shape{t, h}, DType::kF32);
  be.embedding(embed_, ids, hidden);
  FERRITE_RETURN_IF_ERROR(all_reduce(hidden));
  Tensor x = be.empty(Shape{t, h}, DType::kF32);
  Tensor q = be.empty(Shape{t, hq, d}, DType::kF32);
  Tensor k = be.empty(Shape{t, hk, d}, DType::kF32);
  Tensor v = be.empty(Shape{t, hk, d}, DType::kF32);
  Tensor attn = be.empty(Shape{t, hq, d}, DType::kF32);
  const auto [i0, i1] = even_split(c.intermediate_size, tp_.size, tp_.rank);
  Tensor gate = be.empty(Shape{t, i1 - i0}, DType::kF32);
  Tensor up = be.empty(Shape{t, i1 - i0}, DType::kF32);
  Tensor moe_out = c.num_experts > 0 ? be.empty(Shape{t, h}, DType::kF32) : Tensor();  // the MoE output
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  for (std::size_t li = 0; li < layers_.size(); ++li) {
    Layer& L = layers_[li];
    be.rms_norm(hidden, L.input_norm, static_cast<float>(c.rms_norm_eps), x);
    be.linear(x, L.q, q);
    be.linear(x, L.k, k);
    be.linear(x, L.v, v);
    if (c.qk_norm) {
      Tensor qv = q.view(Shape{t * hq, d}), kv2 = k.view(Shape{t * hk, d});
      be.rms_norm(qv, L.q_norm, static_cast<float>(c.rms_norm_eps), qv);
      be.rms_norm(kv2, L.k_norm, static_cast<float>(c.rms_norm_eps), kv2);
    }
    be.rope(q, cos, sin, rope_.rot_dim());
    be.rope(k, cos, sin, rope_.rot_dim());
    be.write_kv(k, v, meta, kv.k[li], kv.v[li]);
    be.attention(q, kv.k[li], kv.v[li], meta, scale, L.window, attn);
    be.linear(attn, L.o, x);
    FERRITE_RETURN_IF_ERROR(all_reduce(x));
    be.add(hidden, x);
    be.rms_norm(hidden, L.post_norm, static_cast<float>(c.rms_norm_eps), x);
    if (L.moe) {
      L.moe->forward(be, x, moe_out);
      FERRITE_RETURN_IF_ERROR(all_reduce(moe_out));
      be.add(hidden, moe_out);
      continue;
    }
    be.linear(x, L.gate, gate);
    be.linear(x, L.up, up);
    be.silu_mul(gate, up, gate);
    be.linear(gate, L.down, x);
    FERRITE_RETURN_IF_ERROR(all_reduce(x));
    be.add(hidden, x);
  }

  const auto rows = static_cast<std::int64_t>(batch.sample_rows.size());
  Tensor picked = be.empty(Shape{rows, h}, DType::kF32);
  be.gather_rows(hidden, host_i32(batch.sample_rows, Shape{rows}), picked);
  be.rms_norm(picked, final_norm_, static_cast<float>(c.rms_norm_eps), picked);
  if (tp_.active()) {
    // Each rank's [rows, padded] shard; gathered rank-major, then laid out as [rows, vocab].
    Tensor part = be.empty(Shape{rows, vocab_.padded}, DType::kF32);
    be.linear(picked, lm_head_, part);
    const Tensor mine = be.download(part);
    const std::int64_t n = rows * vocab_.padded;
    Tensor all = Tensor::empty(Shape{tp_.size, rows, vocab_.padded}, DType::kF32);
    FERRITE_RETURN_IF_ERROR(comm_->all_gather(mine.data<float>(), static_cast<std::size_t>(n), all.data<float>()));
    Tensor logits = Tensor::empty(Shape{rows, c.vocab_size}, DType::kF32);
    for (int r = 0; r < tp_.size; ++r) {
      const VocabShard vs = vocab_shard(c.vocab_size, TpShard{r, tp_.size});
      for (std::int64_t i = 0; i < rows; ++i)
        std::memcpy(logits.data<float>() + i * c.vocab_size + vs.begin, all.data<float>() + r * n + i * vocab_.padded,
                    static_cast<std::size_t>(vs.end - vs.begin) * sizeof(float));
    }
    return logits;
  }
  Tensor logits = be.empty(Shape{rows, c.vocab_size}, DType::kF32);
  be.linear(picked, lm_head_, logits);
  return be.download(logits);
}

}  // namespace

std::int64_t llama_family_parameter_count(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, d = c.head_dim, i = c.intermediate_size;
  const std::int64_t q = c.num_attention_heads * d, kv = c.num_key_value_heads * d;
  std::int64_t layer = h * q + 2 * h * kv + q * h + 2 * h;
  if (c.attention_bias) layer += q + 2 * kv;
  if (c.o_proj_bias) layer += h;
  if (c.qk_norm) layer += 2 * d;
  std::int64_t dense_mlp = 3 * h * i;
  if (c.mlp_bias) dense_mlp += 2 * i + h;
  std::int64_t total = c.vocab_size * h + c.num_hidden_layers * layer + h;
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l)
    total += c.layer_is_sparse(l) ? sparse_moe_parameter_count(c) : dense_mlp;
  if (!c.tie_word_embeddings) total += c.vocab_size * h;
  return total;
}

Result<std::unique_ptr<CausalLM>> make_llama_family(const ModelConfig& config, WeightSource& weights,
                                                    backend::Backend& backend, backend::DType weight_dtype,
                                                    bool show_progress) {
  auto model = std::make_unique<LlamaModel>(config, backend, nullptr);
  FERRITE_RETURN_IF_ERROR(model->load(weights, weight_dtype, show_progress));
  return std::unique_ptr<CausalLM>(std::move(model));
}

Result<std::unique_ptr<CausalLM>> make_llama_family_shard(const ModelConfig& config, WeightSource& weights,
                                                          backend::Backend& backend, backend::DType weight_dtype,
                                                          bool show_progress, parallel::Communicator& comm) {
  FERRITE_RETURN_IF_ERROR(check_tensor_parallel(config, comm.world_size()));
  auto model = std::make_unique<LlamaModel>(config, backend, &comm);
  FERRITE_RETURN_IF_ERROR(model->load(weights, weight_dtype, show_progress));
  return std::unique_ptr<CausalLM>(std::move(model));
}

}  // namespace ferrite::model
