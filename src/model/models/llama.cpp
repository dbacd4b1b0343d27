// The Llama family: Llama, Mistral, Qwen2 and Qwen3 differ only in flags of one block.
//   h = embed(ids)
//   per layer:  h += o_proj(attn(rope(q_norm?(q_proj(x))), rope(k_norm?(k_proj(x))), v_proj(x)))
//               with x = rms_norm(h);  then  h += down(silu(gate(x)) * up(x)) with x = rms_norm(h)
//   logits = lm_head(rms_norm(h))   (lm_head may be tied to embed)
// Qwen2 adds q/k/v biases (attention_bias), Qwen3 adds per-head q/k RMSNorm, Mistral and
// Qwen2 may use sliding-window attention per layer (ModelConfig::layer_uses_sliding_window).
// Mixtral, Qwen2-MoE and Qwen3-MoE are the same block with a mixture of experts (models/moe.h)
// in place of the MLP in the layers ModelConfig::layer_is_sparse picks.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "model/models/models.h"
#include "model/models/moe.h"
#include "model/rope_scaling.h"

namespace ferrite::model {

namespace {

using backend::DType;
using backend::LinearWeight;
using backend::Shape;
using backend::Tensor;

class LlamaModel final : public CausalLM {
 public:
  LlamaModel(const ModelConfig& config, backend::Backend& backend) : CausalLM(config, backend), rope_(config_) {}

  Status load(WeightSource& w, DType dtype, bool show_progress);
  Result<Tensor> forward(const ForwardBatch& batch, KvCache& kv) override;

 private:
  struct Layer {
    Tensor input_norm, post_norm, q_norm, k_norm;
    LinearWeight q, k, v, o, gate, up, down;
    std::unique_ptr<SparseMoeBlock> moe;  // set in sparse layers, which have no gate/up/down
    std::int64_t window = 0;
  };

  Result<Tensor> vector_weight(WeightSource& w, const std::string& name, std::int64_t n);
  Result<LinearWeight> linear_weight(WeightSource& w, const std::string& prefix, std::int64_t out, std::int64_t in,
                                     bool bias, DType dtype);

  RotaryEmbedding rope_;
  Tensor embed_;
  Tensor final_norm_;
  LinearWeight lm_head_;
  std::vector<Layer> layers_;
};

Result<Tensor> LlamaModel::vector_weight(WeightSource& w, const std::string& name, std::int64_t n) {
  FERRITE_ASSIGN_OR_RETURN(Tensor t, w.get(name, Shape{n}, DType::kF32));
  num_parameters_ += n;
  weight_bytes_ += t.nbytes();
  return backend_.upload(t.clone());
}

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

Status LlamaModel::load(WeightSource& w, DType dtype, bool show_progress) {
  weight_dtype_ = dtype;
  const auto& c = config_;
  const std::int64_t h = c.hidden_size, d = c.head_dim;
  const std::int64_t nl = c.num_hidden_layers;
  base::ProgressBar bar("loading weights", static_cast<std::uint64_t>(nl + 2), "layers", show_progress);
  auto tick = [&] { bar.advance(); };

  FERRITE_ASSIGN_OR_RETURN(Tensor embed, w.get("model.embed_tokens.weight", Shape{c.vocab_size, h}, dtype));
  embed_ = backend_.upload(embed.clone());
  num_parameters_ += c.vocab_size * h;
  weight_bytes_ += embed_.nbytes();
  tick();

  layers_.resize(static_cast<std::size_t>(nl));
  for (std::int64_t i = 0; i < nl; ++i) {
    Layer& L = layers_[static_cast<std::size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i);
    FERRITE_ASSIGN_OR_RETURN(L.input_norm, vector_weight(w, p + ".input_layernorm.weight", h));
    FERRITE_ASSIGN_OR_RETURN(L.post_norm, vector_weight(w, p + ".post_attention_layernorm.weight", h));
    FERRITE_ASSIGN_OR_RETURN(L.q, linear_weight(w, p + ".self_attn.q_proj", c.num_attention_heads * d, h, c.attention_bias, dtype));
    FERRITE_ASSIGN_OR_RETURN(L.k, linear_weight(w, p + ".self_attn.k_proj", c.num_key_value_heads * d, h, c.attention_bias, dtype));
    FERRITE_ASSIGN_OR_RETURN(L.v, linear_weight(w, p + ".self_attn.v_proj", c.num_key_value_heads * d, h, c.attention_bias, dtype));
    FERRITE_ASSIGN_OR_RETURN(L.o, linear_weight(w, p + ".self_attn.o_proj", h, c.num_attention_heads * d, c.o_proj_bias, dtype));
    if (c.qk_norm) {
      FERRITE_ASSIGN_OR_RETURN(L.q_norm, vector_weight(w, p + ".self_attn.q_norm.weight", d));
      FERRITE_ASSIGN_OR_RETURN(L.k_norm, vector_weight(w, p + ".self_attn.k_norm.weight", d));
    }
    if (c.layer_is_sparse(i)) {
      L.moe = std::make_unique<SparseMoeBlock>();
      FERRITE_RETURN_IF_ERROR(L.moe->load(w, backend_, c, p, dtype, &num_parameters_, &weight_bytes_));
    } else {
      FERRITE_ASSIGN_OR_RETURN(L.gate,
                               linear_weight(w, p + ".mlp.gate_proj", c.intermediate_size, h, c.mlp_bias, dtype));
      FERRITE_ASSIGN_OR_RETURN(L.up, linear_weight(w, p + ".mlp.up_proj", c.intermediate_size, h, c.mlp_bias, dtype));
      FERRITE_ASSIGN_OR_RETURN(L.down,
                               linear_weight(w, p + ".mlp.down_proj", h, c.intermediate_size, c.mlp_bias, dtype));
    }
    L.window = c.layer_uses_sliding_window(i) ? c.sliding_window : 0;
    tick();
  }

  FERRITE_ASSIGN_OR_RETURN(final_norm_, vector_weight(w, "model.norm.weight", h));
  if (c.tie_word_embeddings) {
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
  const std::int64_t t = batch.num_tokens(), s = batch.num_seqs();
  const std::int64_t h = c.hidden_size, d = c.head_dim;
  const std::int64_t hq = c.num_attention_heads, hk = c.num_key_value_heads;
  auto& be = backend_;

  auto host_i32 = [](const std::vector<std::int32_t>& v, Shape shape) {
    Tensor x = Tensor::empty(shape, DType::kI32);
    std::copy(v.begin(), v.end(), x.data<std::int32_t>());
    return x;
  };
  Tensor ids = be.upload(host_i32(batch.token_ids, Shape{t}));
  backend::AttentionMeta meta;
  meta.query_start = be.upload(host_i32(batch.query_start, Shape{s + 1}));
  meta.context_lens = be.upload(host_i32(batch.context_lens, Shape{s}));
  meta.block_tables = be.upload(host_i32(batch.block_tables, Shape{s, std::max<std::int64_t>(batch.max_blocks, 1)}));
  Tensor slots = Tensor::empty(Shape{t}, DType::kI64);
  std::copy(batch.slot_mapping.begin(), batch.slot_mapping.end(), slots.data<std::int64_t>());
  meta.slot_mapping = be.upload(slots);
  meta.num_seqs = s;
  meta.max_blocks = batch.max_blocks;
  meta.block_size = kv.block_size;

  // cos/sin per token; dynamic NTK needs the sequence's length after this step.
  const std::int64_t half = rope_.rot_dim() / 2;
  Tensor cos = Tensor::empty(Shape{t, half}, DType::kF32), sin = Tensor::empty(Shape{t, half}, DType::kF32);
  for (std::int64_t i = 0; i < s; ++i)
    for (std::int32_t r = batch.query_start[static_cast<std::size_t>(i)]; r < batch.query_start[static_cast<std::size_t>(i + 1)]; ++r)
      rope_.cos_sin(batch.positions[static_cast<std::size_t>(r)], batch.context_lens[static_cast<std::size_t>(i)],
                    cos.data<float>() + r * half, sin.data<float>() + r * half);
  cos = be.upload(cos);
  sin = be.upload(sin);

  Tensor hidden = be.empty(Shape{t, h}, DType::kF32);
  be.embedding(embed_, ids, hidden);
  Tensor x = be.empty(Shape{t, h}, DType::kF32);
  Tensor q = be.empty(Shape{t, hq, d}, DType::kF32);
  Tensor k = be.empty(Shape{t, hk, d}, DType::kF32);
  Tensor v = be.empty(Shape{t, hk, d}, DType::kF32);
  Tensor attn = be.empty(Shape{t, hq, d}, DType::kF32);
  Tensor gate = be.empty(Shape{t, c.intermediate_size}, DType::kF32);
  Tensor up = be.empty(Shape{t, c.intermediate_size}, DType::kF32);
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
    be.add(hidden, x);
    be.rms_norm(hidden, L.post_norm, static_cast<float>(c.rms_norm_eps), x);
    if (L.moe) {
      L.moe->forward(be, x, moe_out);
      be.add(hidden, moe_out);
      continue;
    }
    be.linear(x, L.gate, gate);
    be.linear(x, L.up, up);
    be.silu_mul(gate, up, gate);
    be.linear(gate, L.down, x);
    be.add(hidden, x);
  }

  const auto rows = static_cast<std::int64_t>(batch.sample_rows.size());
  Tensor picked = be.empty(Shape{rows, h}, DType::kF32);
  be.gather_rows(hidden, host_i32(batch.sample_rows, Shape{rows}), picked);
  be.rms_norm(picked, final_norm_, static_cast<float>(c.rms_norm_eps), picked);
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
  auto model = std::make_unique<LlamaModel>(config, backend);
  FERRITE_RETURN_IF_ERROR(model->load(weights, weight_dtype, show_progress));
  return std::unique_ptr<CausalLM>(std::move(model));
}

}  // namespace ferrite::model
