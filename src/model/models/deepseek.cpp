// DeepSeek-V2 and DeepSeek-V3: multi-head latent attention (MLA) and DeepSeek's mixture of experts.
//   h = embed(ids)
//   per layer, x = rms_norm(h):
//     q      = q_proj(x), or q_b_proj(rms_norm(q_a_proj(x)))            per head [q_nope (N) | q_pe (R)]
//     c, kpe = kv_a_proj_with_mqa(x) split [L | R];  c = kv_a_layernorm(c)  one latent per token
//     q_pe, kpe rotated (YaRN and its attention factor in cos/sin)
//     per head: k = [W_UK c | kpe], v = W_UV c   (kv_b_proj = [W_UK; W_UV] per head)
//     h += o_proj(softmax(scale * q.k) v)
//   then h += mlp(rms_norm(h)): dense below first_k_dense_replace, else the sparse block (moe.h).
//
// The KV cache holds only [c | kpe] per token (kernels/cpu/mla.h). Attention runs in the latent
// space for prefill and decode alike: q_nope . (W_UK c) = (W_UK^T q_nope) . c, so each head's query
// is absorbed into the latent (linear_heads with W_UK^T), attention returns sum_j p_j c_j, and W_UV
// maps it back to v_head_dim. One path for every row keeps a token's numbers independent of the
// batch and of chunking.
//
// Rotary layout: DeepSeek rotates interleaved pairs (x0, x1), (x2, x3), ... (transformers: V2's
// complex multiply, V3's rope_interleave). The rope rows of q_proj/q_b_proj and kv_a_proj_with_mqa
// are permuted at load to [x0, x2, ..., x1, x3, ...], after which the usual rotate-half rope gives
// the same pairs; q_pe and kpe are permuted alike, so their dot products are unchanged.
//
// Softmax scale: qk_head_dim^-0.5, times yarn_get_mscale(factor, mscale_all_dim)^2 when a scaled
// rope sets mscale_all_dim (transformers' yarn_apply_mscale).
#include <cmath>
#include <cstring>
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

// transformers builds q_a_layernorm and kv_a_layernorm with the RMSNorm default, not rms_norm_eps.
constexpr float kLatentNormEps = 1e-6f;

// Rows `rows` of a host f32 matrix [n, k], in that order.
Tensor take_rows(const Tensor& w, const std::vector<std::int64_t>& rows) {
  const std::int64_t k = w.dim(1);
  const Tensor src = w.is_contiguous() ? w : w.clone();
  Tensor out = Tensor::empty(Shape{static_cast<std::int64_t>(rows.size()), k}, DType::kF32);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::memcpy(out.data<float>() + static_cast<std::int64_t>(i) * k, src.data<float>() + rows[i] * k,
                static_cast<std::size_t>(k) * sizeof(float));
  return out;
}

Tensor take_entries(const Tensor& v, const std::vector<std::int64_t>& idx) {
  Tensor out = Tensor::empty(Shape{static_cast<std::int64_t>(idx.size())}, DType::kF32);
  for (std::size_t i = 0; i < idx.size(); ++i) out.data<float>()[i] = v.data<float>()[idx[i]];
  return out;
}

// Rows [first, first + count) of w [n, k], transposed: [k, count].
Tensor transposed_block(const Tensor& w, std::int64_t first, std::int64_t count) {
  const std::int64_t k = w.dim(1);
  Tensor out = Tensor::empty(Shape{k, count}, DType::kF32);
  for (std::int64_t r = 0; r < count; ++r)
    for (std::int64_t c = 0; c < k; ++c) out.data<float>()[c * count + r] = w.data<float>()[(first + r) * k + c];
  return out;
}

// The order in which the rope dimensions [0, r) are kept: interleaved pairs become halves.
std::vector<std::int64_t> rope_order(std::int64_t r, bool interleave) {
  std::vector<std::int64_t> o(static_cast<std::size_t>(r));
  for (std::int64_t i = 0; i < r; ++i)
    o[static_cast<std::size_t>(i)] = interleave ? (i < r / 2 ? 2 * i : 2 * (i - r / 2) + 1) : i;
  return o;
}

double yarn_get_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

class DeepseekModel final : public CausalLM {
 public:
  DeepseekModel(const ModelConfig& config, backend::Backend& backend) : CausalLM(config, backend), rope_(config_) {}

  Status load(WeightSource& w, DType dtype, bool show_progress);
  Result<Tensor> forward(const ForwardBatch& batch, KvCache& kv) override;

  // kv_bytes_per_token() (model.cpp, kv_cache_bytes_per_token) counts the latent row per layer.
  std::string kv_cache_layout() const override {
    return "MLA latent: kv_lora_rank " + std::to_string(config_.kv_lora_rank) + " + qk_rope_head_dim " +
           std::to_string(config_.qk_rope_head_dim) + " f32 (no per-head K/V)";
  }
  KvCache allocate_kv_cache(std::int64_t num_blocks, std::int64_t block_size) const override {
    KvCache kv;
    kv.num_blocks = num_blocks;
    kv.block_size = block_size;
    for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
      kv.latent.push_back(backend_.empty(Shape{num_blocks, block_size, latent_row()}, DType::kF32));
      backend_.fill_zero(kv.latent.back());
    }
    return kv;
  }

 private:
  struct Layer {
    Tensor input_norm, post_norm, q_a_norm, kv_a_norm;
    LinearWeight q_a;                // q_lora_rank > 0: [q_lora_rank, hidden]
    LinearWeight q_nope, q_pe;       // rows of q_proj / q_b_proj: [H * N, in], [H * R, in] (rope rows permuted)
    LinearWeight kv_latent, kv_pe;   // rows of kv_a_proj_with_mqa: [L, hidden], [R, hidden]
    std::vector<LinearWeight> uk_t;  // per head W_UK^T: [L, N]
    std::vector<LinearWeight> uv;    // per head W_UV: [V, L]
    LinearWeight o, gate, up, down;
    std::unique_ptr<SparseMoeBlock> moe;
  };

  std::int64_t latent_row() const { return config_.kv_lora_rank + config_.qk_rope_head_dim; }
  Result<LinearWeight> linear(const Tensor& weight, const Tensor& bias, DType dtype);
  Status load_attention(WeightSource& w, const std::string& p, DType dtype, Layer& L);

  RotaryEmbedding rope_;
  float scale_ = 1.0f;
  Tensor embed_, final_norm_;
  LinearWeight lm_head_;
  std::vector<Layer> layers_;
};

// Parameters are counted by the caller (a checkpoint tensor may become several LinearWeights).
Result<LinearWeight> DeepseekModel::linear(const Tensor& weight, const Tensor& bias, DType dtype) {
  FERRITE_ASSIGN_OR_RETURN(LinearWeight lw, backend_.prepare_linear(weight, bias, dtype));
  weight_bytes_ += lw.bytes();
  return lw;
}

Status DeepseekModel::load_attention(WeightSource& w, const std::string& p, DType dtype, Layer& L) {
  const auto& c = config_;
  const std::int64_t h = c.hidden_size, heads = c.num_attention_heads;
  const std::int64_t nope = c.qk_nope_head_dim, r = c.qk_rope_head_dim, lat = c.kv_lora_rank, vd = c.v_head_dim;
  const std::int64_t qk = nope + r;
  const std::string a = p + ".self_attn.";
  const std::vector<std::int64_t> order = rope_order(r, c.rope_interleave);

  // Query: per head [nope | rope] rows of q_proj (or q_b_proj after the q LoRA).
  std::int64_t q_in = h;
  std::string q_name = a + "q_proj.weight";
  if (c.q_lora_rank > 0) {
    q_in = c.q_lora_rank;
    q_name = a + "q_b_proj.weight";
    FERRITE_ASSIGN_OR_RETURN(Tensor qa, w.get(a + "q_a_proj.weight", Shape{q_in, h}, DType::kF32));
    Tensor qa_bias;
    if (c.attention_bias) {
      FERRITE_ASSIGN_OR_RETURN(qa_bias, w.get(a + "q_a_proj.bias", Shape{q_in}, DType::kF32));
      num_parameters_ += q_in;
    }
    FERRITE_ASSIGN_OR_RETURN(L.q_a, linear(qa, qa_bias, dtype));
    num_parameters_ += q_in * h;
    FERRITE_ASSIGN_OR_RETURN(L.q_a_norm, vector_weight(w, a + "q_a_layernorm.weight", q_in));
  }
  FERRITE_ASSIGN_OR_RETURN(Tensor q, w.get(q_name, Shape{heads * qk, q_in}, DType::kF32));
  num_parameters_ += heads * qk * q_in;
  std::vector<std::int64_t> nope_rows, pe_rows;
  for (std::int64_t hd = 0; hd < heads; ++hd) {
    for (std::int64_t i = 0; i < nope; ++i) nope_rows.push_back(hd * qk + i);
    for (std::int64_t i : order) pe_rows.push_back(hd * qk + nope + i);
  }
  FERRITE_ASSIGN_OR_RETURN(L.q_nope, linear(take_rows(q, nope_rows), Tensor(), dtype));
  FERRITE_ASSIGN_OR_RETURN(L.q_pe, linear(take_rows(q, pe_rows), Tensor(), dtype));

  // Latent and rope key: kv_a_proj_with_mqa's rows [L | R].
  FERRITE_ASSIGN_OR_RETURN(Tensor kva, w.get(a + "kv_a_proj_with_mqa.weight", Shape{lat + r, h}, DType::kF32));
  num_parameters_ += (lat + r) * h;
  std::vector<std::int64_t> lat_rows, kpe_rows;
  for (std::int64_t i = 0; i < lat; ++i) lat_rows.push_back(i);
  for (std::int64_t i : order) kpe_rows.push_back(lat + i);
  Tensor lat_bias, kpe_bias;
  if (c.attention_bias) {
    FERRITE_ASSIGN_OR_RETURN(Tensor b, w.get(a + "kv_a_proj_with_mqa.bias", Shape{lat + r}, DType::kF32));
    num_parameters_ += lat + r;
    lat_bias = take_entries(b, lat_rows);
    kpe_bias = take_entries(b, kpe_rows);
  }
  FERRITE_ASSIGN_OR_RETURN(L.kv_latent, linear(take_rows(kva, lat_rows), lat_bias, dtype));
  FERRITE_ASSIGN_OR_RETURN(L.kv_pe, linear(take_rows(kva, kpe_rows), kpe_bias, dtype));
  FERRITE_ASSIGN_OR_RETURN(L.kv_a_norm, vector_weight(w, a + "kv_a_layernorm.weight", lat));

  // kv_b_proj [H * (N + V), L]: per head W_UK (N rows) then W_UV (V rows).
  FERRITE_ASSIGN_OR_RETURN(Tensor kvb, w.get(a + "kv_b_proj.weight", Shape{heads * (nope + vd), lat}, DType::kF32));
  num_parameters_ += heads * (nope + vd) * lat;
  const Tensor kvb_c = kvb.is_contiguous() ? kvb : kvb.clone();
  for (std::int64_t hd = 0; hd < heads; ++hd) {
    const std::int64_t first = hd * (nope + vd);
    FERRITE_ASSIGN_OR_RETURN(LinearWeight uk, linear(transposed_block(kvb_c, first, nope), Tensor(), dtype));
    FERRITE_ASSIGN_OR_RETURN(LinearWeight uv,
                             linear(kvb_c.slice_rows(first + nope, first + nope + vd).clone(), Tensor(), dtype));
    L.uk_t.push_back(std::move(uk));
    L.uv.push_back(std::move(uv));
  }

  FERRITE_ASSIGN_OR_RETURN(Tensor o, w.get(a + "o_proj.weight", Shape{h, heads * vd}, dtype));
  Tensor o_bias;
  if (c.o_proj_bias) {
    FERRITE_ASSIGN_OR_RETURN(o_bias, w.get(a + "o_proj.bias", Shape{h}, DType::kF32));
    num_parameters_ += h;
  }
  FERRITE_ASSIGN_OR_RETURN(L.o, linear(o, o_bias, dtype));
  num_parameters_ += h * heads * vd;
  return ok_status();
}

Status DeepseekModel::load(WeightSource& w, DType dtype, bool show_progress) {
  weight_dtype_ = dtype;
  const auto& c = config_;
  const std::int64_t h = c.hidden_size, nl = c.num_hidden_layers;
  base::ProgressBar bar("loading weights", static_cast<std::uint64_t>(nl + 2), "layers", show_progress);

  double scale = 1.0 / std::sqrt(static_cast<double>(c.qk_nope_head_dim + c.qk_rope_head_dim));
  if (c.rope_scaling.type != RopeType::kDefault && c.rope_scaling.mscale_all_dim &&
      *c.rope_scaling.mscale_all_dim != 0) {
    const double m = yarn_get_mscale(c.rope_scaling.factor, *c.rope_scaling.mscale_all_dim);
    scale *= m * m;
  }
  scale_ = static_cast<float>(scale);

  FERRITE_ASSIGN_OR_RETURN(Tensor embed, w.get("model.embed_tokens.weight", Shape{c.vocab_size, h}, dtype));
  embed_ = backend_.upload(embed.clone());
  num_parameters_ += c.vocab_size * h;
  weight_bytes_ += embed_.nbytes();
  bar.advance();

  layers_.resize(static_cast<std::size_t>(nl));
  for (std::int64_t i = 0; i < nl; ++i) {
    Layer& L = layers_[static_cast<std::size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i);
    FERRITE_ASSIGN_OR_RETURN(L.input_norm, vector_weight(w, p + ".input_layernorm.weight", h));
    FERRITE_ASSIGN_OR_RETURN(L.post_norm, vector_weight(w, p + ".post_attention_layernorm.weight", h));
    FERRITE_RETURN_IF_ERROR(load_attention(w, p, dtype, L));
    if (c.layer_is_sparse(i)) {
      L.moe = std::make_unique<SparseMoeBlock>();
      FERRITE_RETURN_IF_ERROR(L.moe->load(w, backend_, c, p, dtype, &num_parameters_, &weight_bytes_));
    } else {
      const std::int64_t inter = c.intermediate_size;
      FERRITE_ASSIGN_OR_RETURN(Tensor g, w.get(p + ".mlp.gate_proj.weight", Shape{inter, h}, dtype));
      FERRITE_ASSIGN_OR_RETURN(Tensor u, w.get(p + ".mlp.up_proj.weight", Shape{inter, h}, dtype));
      FERRITE_ASSIGN_OR_RETURN(Tensor d, w.get(p + ".mlp.down_proj.weight", Shape{h, inter}, dtype));
      FERRITE_ASSIGN_OR_RETURN(L.gate, linear(g, Tensor(), dtype));
      FERRITE_ASSIGN_OR_RETURN(L.up, linear(u, Tensor(), dtype));
      FERRITE_ASSIGN_OR_RETURN(L.down, linear(d, Tensor(), dtype));
      num_parameters_ += 3 * inter * h;
    }
    bar.advance();
  }

  FERRITE_ASSIGN_OR_RETURN(final_norm_, vector_weight(w, "model.norm.weight", h));
  if (c.tie_word_embeddings) {
    FERRITE_ASSIGN_OR_RETURN(lm_head_, linear(embed, Tensor(), dtype));
  } else {
    FERRITE_ASSIGN_OR_RETURN(Tensor head, w.get("lm_head.weight", Shape{c.vocab_size, h}, dtype));
    FERRITE_ASSIGN_OR_RETURN(lm_head_, linear(head, Tensor(), dtype));
    num_parameters_ += c.vocab_size * h;
  }
  bar.advance();
  return ok_status();
}

Result<Tensor> DeepseekModel::forward(const ForwardBatch& batch, KvCache& kv) {
  FERRITE_RETURN_IF_ERROR(validate_batch(batch, kv));
  if (static_cast<std::int64_t>(kv.latent.size()) != config_.num_hidden_layers)
    return invalid_argument("the KV cache was not allocated by this model (no MLA latent pools)");
  const auto& c = config_;
  const std::int64_t t = batch.num_tokens();
  const std::int64_t h = c.hidden_size, heads = c.num_attention_heads;
  const std::int64_t nope = c.qk_nope_head_dim, r = c.qk_rope_head_dim, lat = c.kv_lora_rank, vd = c.v_head_dim;
  auto& be = backend_;

  Tensor ids = be.upload(host_i32(batch.token_ids, Shape{t}));
  const backend::AttentionMeta meta = upload_attention_meta(be, batch, kv.block_size);
  auto [cos, sin] = rope_tables(be, rope_, batch);

  Tensor hidden = be.empty(Shape{t, h}, DType::kF32);
  be.embedding(embed_, ids, hidden);
  Tensor x = be.empty(Shape{t, h}, DType::kF32);
  Tensor qa = c.q_lora_rank > 0 ? be.empty(Shape{t, c.q_lora_rank}, DType::kF32) : Tensor();
  Tensor q_nope = be.empty(Shape{t, heads, nope}, DType::kF32);
  Tensor q_pe = be.empty(Shape{t, heads, r}, DType::kF32);
  Tensor q_lat = be.empty(Shape{t, heads, lat}, DType::kF32);
  Tensor latent = be.empty(Shape{t, lat}, DType::kF32);
  Tensor k_pe = be.empty(Shape{t, 1, r}, DType::kF32);
  Tensor o_lat = be.empty(Shape{t, heads, lat}, DType::kF32);
  Tensor attn = be.empty(Shape{t, heads, vd}, DType::kF32);
  Tensor gate = be.empty(Shape{t, c.intermediate_size}, DType::kF32);
  Tensor up = be.empty(Shape{t, c.intermediate_size}, DType::kF32);
  Tensor moe_out = be.empty(Shape{t, h}, DType::kF32);
  const auto eps = static_cast<float>(c.rms_norm_eps);

  for (std::size_t li = 0; li < layers_.size(); ++li) {
    Layer& L = layers_[li];
    be.rms_norm(hidden, L.input_norm, eps, x);
    const Tensor* q_src = &x;
    if (c.q_lora_rank > 0) {
      be.linear(x, L.q_a, qa);
      be.rms_norm(qa, L.q_a_norm, kLatentNormEps, qa);
      q_src = &qa;
    }
    be.linear(*q_src, L.q_nope, q_nope);
    be.linear(*q_src, L.q_pe, q_pe);
    be.linear(x, L.kv_latent, latent);
    be.rms_norm(latent, L.kv_a_norm, kLatentNormEps, latent);
    be.linear(x, L.kv_pe, k_pe);
    be.rope(q_pe, cos, sin, r);
    be.rope(k_pe, cos, sin, r);
    be.write_mla_cache(latent, k_pe, meta, kv.latent[li]);
    be.linear_heads(q_nope, L.uk_t, q_lat);
    be.mla_attention(q_lat, q_pe, kv.latent[li], meta, scale_, o_lat);
    be.linear_heads(o_lat, L.uv, attn);
    be.linear(attn, L.o, x);
    be.add(hidden, x);
    be.rms_norm(hidden, L.post_norm, eps, x);
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
  be.rms_norm(picked, final_norm_, eps, picked);
  Tensor logits = be.empty(Shape{rows, c.vocab_size}, DType::kF32);
  be.linear(picked, lm_head_, logits);
  return be.download(logits);
}

}  // namespace

std::int64_t deepseek_family_parameter_count(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, heads = c.num_attention_heads;
  const std::int64_t qk = c.qk_nope_head_dim + c.qk_rope_head_dim, lat = c.kv_lora_rank, r = c.qk_rope_head_dim;
  std::int64_t attn =
      c.q_lora_rank > 0 ? h * c.q_lora_rank + c.q_lora_rank + c.q_lora_rank * heads * qk : h * heads * qk;
  attn += h * (lat + r) + lat + lat * heads * (c.qk_nope_head_dim + c.v_head_dim) + heads * c.v_head_dim * h;
  if (c.attention_bias) attn += (c.q_lora_rank > 0 ? c.q_lora_rank : 0) + lat + r;
  if (c.o_proj_bias) attn += h;
  std::int64_t total = c.vocab_size * h + h + c.num_hidden_layers * (attn + 2 * h);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l)
    total += c.layer_is_sparse(l) ? sparse_moe_parameter_count(c) : 3 * h * c.intermediate_size;
  if (!c.tie_word_embeddings) total += c.vocab_size * h;
  return total;
}

Result<std::unique_ptr<CausalLM>> make_deepseek_family(const ModelConfig& config, WeightSource& weights,
                                                       backend::Backend& backend, backend::DType weight_dtype,
                                                       bool show_progress) {
  auto model = std::make_unique<DeepseekModel>(config, backend);
  FERRITE_RETURN_IF_ERROR(model->load(weights, weight_dtype, show_progress));
  return std::unique_ptr<CausalLM>(std::move(model));
}

}  // namespace ferrite::model
