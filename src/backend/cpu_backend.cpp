#include <cstring>
#include <sstream>
#include <vector>

#include "backend/backend.h"
#include "base/check.h"
#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/mla.h"
#include "kernels/cpu/moe.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"

namespace ferrite::backend {

namespace {

namespace kc = ferrite::kernels::cpu;

kc::WeightType weight_type(DType dt) {
  switch (dt) {
    case DType::kF32: return kc::WeightType::kF32;
    case DType::kBF16: return kc::WeightType::kBF16;
    case DType::kF16: return kc::WeightType::kF16;
    default: FERRITE_CHECK_MSG(false, "not a float dtype"); return kc::WeightType::kF32;
  }
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int num_threads) : pool_(num_threads) {}

  Device device() const override { return Device::kCpu; }

  std::string describe() const override {
    std::ostringstream ss;
    ss << "cpu (" << pool_.num_threads() << " threads, " << (kc::use_avx512() ? "avx512" : "avx2") << ")";
    return ss.str();
  }

  Tensor empty(const Shape& shape, DType dtype) override { return Tensor::empty(shape, dtype); }
  Tensor upload(const Tensor& host) override { return host; }
  Tensor download(const Tensor& t) override { return t; }
  void fill_zero(Tensor& t) override {
    if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
  }

  Result<LinearWeight> prepare_linear(const Tensor& w, const Tensor& bias, DType dtype) override {
    if (w.ndim() != 2) return invalid_argument("linear weight must be 2-D, got " + w.shape().to_string());
    if (!is_float(dtype)) return invalid_argument(std::string("linear weight dtype must be float, got ") + dtype_name(dtype));
    const Tensor src = w.to_dtype(dtype);
    LinearWeight lw;
    lw.n = w.dim(0);
    lw.k = w.dim(1);
    lw.dtype = dtype;
    lw.packed = Tensor::empty({kc::packed_weight_elems(lw.n, lw.k)}, dtype);
    kc::pack_linear_weight(src.raw_data(), weight_type(dtype), lw.n, lw.k, lw.k, lw.packed.raw_data(), pool_);
    if (bias.defined()) {
      if (bias.ndim() != 1 || bias.dim(0) != lw.n)
        return invalid_argument("bias shape " + bias.shape().to_string() + " does not match weight " +
                                w.shape().to_string());
      lw.bias = bias.to_dtype(DType::kF32).clone();
    }
    return lw;
  }

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    FERRITE_CHECK(ids.dtype() == DType::kI32 && out.dim(0) == ids.numel() && out.dim(1) == table.dim(1));
    kc::embedding(table.raw_data(), weight_type(table.dtype()), table.dim(1), ids.data<std::int32_t>(), ids.numel(),
                  out.data<float>());
  }

  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override {
    const std::int64_t dim = x.dim(-1);
    FERRITE_CHECK(weight.numel() == dim && out.numel() == x.numel() && x.is_contiguous());
    kc::rms_norm(x.data<float>(), weight.data<float>(), out.data<float>(), x.numel() / dim, dim, dim, eps, pool_);
  }

  void linear(const Tensor& x, const LinearWeight& w, Tensor& y) override {
    // Leading dimensions are flattened: x is [M, k] and y [M, n] whatever their ranks.
    FERRITE_CHECK(x.numel() % w.k == 0 && y.numel() == (x.numel() / w.k) * w.n);
    const std::int64_t m = x.numel() / w.k;
    kc::linear(x.data<float>(), m, w.k, w.k, w.packed.raw_data(), weight_type(w.dtype), w.n,
               w.bias.defined() ? w.bias.data<float>() : nullptr, y.data<float>(), w.n, pool_);
  }

  void rope(Tensor& x, const Tensor& cos, const Tensor& sin, std::int64_t rot_dim) override {
    FERRITE_CHECK(x.ndim() == 3 && cos.dim(0) == x.dim(0) && cos.dim(1) * 2 == rot_dim);
    kc::rope_neox(x.data<float>(), x.dim(0), x.dim(1), x.dim(2), x.dim(1) * x.dim(2), rot_dim, cos.data<float>(),
                  sin.data<float>());
  }

  void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta, Tensor& k_cache,
                Tensor& v_cache) override {
    FERRITE_CHECK(k.ndim() == 3 && v.shape() == k.shape());
    const std::int64_t row = k.dim(1) * k.dim(2);
    kc::write_kv_cache(k.data<float>(), row, v.data<float>(), row, meta.slot_mapping.data<std::int64_t>(), k.dim(0),
                       k.dim(1), k.dim(2), k_cache.data<float>(), v_cache.data<float>());
  }

  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMeta& meta,
                 float scale, std::int64_t sliding_window, Tensor& out) override {
    kc::PagedAttentionArgs a;
    a.q = q.data<float>();
    a.q_stride = q.dim(1) * q.dim(2);
    a.out = out.data<float>();
    a.out_stride = out.dim(1) * out.dim(2);
    a.k_cache = k_cache.data<float>();
    a.v_cache = v_cache.data<float>();
    a.query_start = meta.query_start.data<std::int32_t>();
    a.context_lens = meta.context_lens.data<std::int32_t>();
    a.block_tables = meta.block_tables.data<std::int32_t>();
    a.max_blocks = meta.max_blocks;
    a.num_seqs = meta.num_seqs;
    a.q_heads = q.dim(1);
    a.kv_heads = k_cache.dim(2);
    a.head_dim = q.dim(2);
    a.block_size = meta.block_size;
    a.scale = scale;
    a.sliding_window = sliding_window;
    kc::paged_attention(a, pool_);
  }

  void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) override {
    const std::int64_t dim = gate.dim(-1);
    kc::silu_mul(gate.data<float>(), up.data<float>(), out.data<float>(), gate.numel() / dim, dim, dim, pool_);
  }

  void add(Tensor& a, const Tensor& b) override {
    FERRITE_CHECK(a.numel() == b.numel());
    kc::add_inplace(a.data<float>(), b.data<float>(), a.numel());
  }

  void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) override {
    const std::int64_t dim = x.dim(-1);
    const auto* r = rows.data<std::int32_t>();
    for (std::int64_t i = 0; i < rows.numel(); ++i)
      std::memcpy(out.data<float>() + i * dim, x.data<float>() + r[i] * dim, static_cast<std::size_t>(dim) * 4);
  }

  Result<MoeWeights> prepare_moe(const std::vector<Tensor>& gate_up, const std::vector<Tensor>& down,
                                 DType dtype) override {
    if (gate_up.empty() || gate_up.size() != down.size())
      return invalid_argument("prepare_moe: expected one gate_up and one down weight per expert");
    MoeWeights m;
    m.num_experts = static_cast<std::int64_t>(gate_up.size());
    m.dtype = dtype;
    for (std::size_t e = 0; e < gate_up.size(); ++e) {
      FERRITE_ASSIGN_OR_RETURN(LinearWeight gu, prepare_linear(gate_up[e], Tensor(), dtype));
      FERRITE_ASSIGN_OR_RETURN(LinearWeight dn, prepare_linear(down[e], Tensor(), dtype));
      if (e == 0) {
        m.hidden = gu.k;
        m.inter = dn.k;
      }
      if (gu.k != m.hidden || gu.n != 2 * m.inter || dn.n != m.hidden || dn.k != m.inter)
        return invalid_argument("prepare_moe: expert " + std::to_string(e) + " has gate_up " +
                                gate_up[e].shape().to_string() + " and down " + down[e].shape().to_string() +
                                ", expected [2 * inter, hidden] and [hidden, inter] as expert 0");
      m.gate_up.push_back(std::move(gu));
      m.down.push_back(std::move(dn));
    }
    return m;
  }

  void moe_route(const Tensor& logits, std::int64_t top_k, bool renormalize, Tensor& topk_ids,
                 Tensor& topk_weights) override {
    const std::int64_t t = logits.dim(0), e = logits.dim(1);
    FERRITE_CHECK(logits.ndim() == 2 && topk_ids.dtype() == DType::kI32 && topk_ids.numel() == t * top_k &&
                  topk_weights.numel() == t * top_k);
    kc::moe_topk_softmax(logits.data<float>(), t, e, top_k, renormalize, topk_ids.data<std::int32_t>(),
                         topk_weights.data<float>());
  }

  void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const MoeWeights& w,
                   Tensor& out) override {
    const std::int64_t t = x.dim(0);
    FERRITE_CHECK(x.ndim() == 2 && x.dim(1) == w.hidden && out.numel() == x.numel() && topk_ids.dim(0) == t &&
                  topk_weights.shape() == topk_ids.shape());
    gate_up_ptrs_.clear();
    down_ptrs_.clear();
    for (const auto& g : w.gate_up) gate_up_ptrs_.push_back(g.packed.raw_data());
    for (const auto& d : w.down) down_ptrs_.push_back(d.packed.raw_data());
    kc::MoeExpertsArgs a;
    a.x = x.data<float>();
    a.tokens = t;
    a.hidden = w.hidden;
    a.topk_ids = topk_ids.data<std::int32_t>();
    a.topk_weights = topk_weights.data<float>();
    a.top_k = topk_ids.dim(1);
    a.num_experts = w.num_experts;
    a.inter = w.inter;
    a.type = weight_type(w.dtype);
    a.gate_up = gate_up_ptrs_.data();
    a.down = down_ptrs_.data();
    a.out = out.data<float>();
    const std::size_t need = kc::moe_workspace_bytes(t, a.top_k, w.hidden, w.inter, w.num_experts);
    if (workspace_.size() < need) workspace_.resize(need);
    kc::moe_experts(a, workspace_.data(), pool_);
  }

  void add_sigmoid_gated(Tensor& a, const Tensor& b, const Tensor& gate) override {
    const std::int64_t dim = a.dim(-1), rows = a.numel() / dim;
    FERRITE_CHECK(b.numel() == a.numel() && gate.numel() == rows);
    kc::add_sigmoid_gated(a.data<float>(), b.data<float>(), gate.data<float>(), rows, dim);
  }

  void moe_route_grouped(const Tensor& logits, const MoeRouting& routing, const Tensor& correction_bias,
                         Tensor& topk_ids, Tensor& topk_weights) override {
    const std::int64_t t = logits.dim(0), e = logits.dim(1), k = routing.top_k;
    FERRITE_CHECK(logits.ndim() == 2 && topk_ids.dtype() == DType::kI32 && topk_ids.numel() == t * k &&
                  topk_weights.numel() == t * k);
    FERRITE_CHECK(!correction_bias.defined() || correction_bias.numel() == e);
    kc::MoeGroupedRouting r;
    r.num_experts = e;
    r.top_k = k;
    r.scoring = routing.sigmoid ? kc::MoeScoring::kSigmoid : kc::MoeScoring::kSoftmax;
    r.num_groups = routing.num_groups;
    r.topk_groups = routing.topk_groups;
    r.group_score = routing.group_top2_sum ? kc::MoeGroupScore::kTop2Sum : kc::MoeGroupScore::kMax;
    r.correction_bias = correction_bias.defined() ? correction_bias.data<float>() : nullptr;
    r.renormalize = routing.renormalize;
    r.routed_scaling = routing.routed_scaling;
    kc::moe_route_grouped(logits.data<float>(), t, r, topk_ids.data<std::int32_t>(), topk_weights.data<float>());
  }

  void linear_heads(const Tensor& x, const std::vector<LinearWeight>& w, Tensor& y) override {
    const auto heads = static_cast<std::int64_t>(w.size());
    FERRITE_CHECK(heads > 0 && x.ndim() == 3 && y.ndim() == 3 && x.dim(1) == heads && y.dim(1) == heads &&
                  x.dim(0) == y.dim(0) && x.dim(2) == w[0].k && y.dim(2) == w[0].n && x.is_contiguous() &&
                  y.is_contiguous());
    const std::int64_t t = x.dim(0), k = x.dim(2), n = y.dim(2);
    for (std::int64_t h = 0; h < heads; ++h) {
      const LinearWeight& wh = w[static_cast<std::size_t>(h)];
      FERRITE_CHECK(wh.k == k && wh.n == n);
      kc::linear(x.data<float>() + h * k, t, k, heads * k, wh.packed.raw_data(), weight_type(wh.dtype), n,
                 wh.bias.defined() ? wh.bias.data<float>() : nullptr, y.data<float>() + h * n, heads * n, pool_);
    }
  }

  void write_mla_cache(const Tensor& latent, const Tensor& k_pe, const AttentionMeta& meta, Tensor& cache) override {
    const std::int64_t t = latent.dim(0), l = latent.dim(-1), r = k_pe.dim(-1);
    FERRITE_CHECK(latent.numel() == t * l && k_pe.numel() == t * r && cache.ndim() == 3 && cache.dim(2) == l + r &&
                  latent.is_contiguous() && k_pe.is_contiguous());
    kc::write_mla_cache(latent.data<float>(), l, k_pe.data<float>(), r, meta.slot_mapping.data<std::int64_t>(), t, l,
                        r, cache.data<float>());
  }

  void mla_attention(const Tensor& q_latent, const Tensor& q_pe, const Tensor& cache, const AttentionMeta& meta,
                     float scale, Tensor& out) override {
    FERRITE_CHECK(q_latent.ndim() == 3 && q_pe.ndim() == 3 && q_pe.dim(0) == q_latent.dim(0) &&
                  q_pe.dim(1) == q_latent.dim(1) && out.shape() == q_latent.shape() && cache.ndim() == 3 &&
                  cache.dim(2) == q_latent.dim(2) + q_pe.dim(2));
    kc::MlaAttentionArgs a;
    a.q_latent = q_latent.data<float>();
    a.q_pe = q_pe.data<float>();
    a.out = out.data<float>();
    a.cache = cache.data<float>();
    a.query_start = meta.query_start.data<std::int32_t>();
    a.context_lens = meta.context_lens.data<std::int32_t>();
    a.block_tables = meta.block_tables.data<std::int32_t>();
    a.max_blocks = meta.max_blocks;
    a.num_seqs = meta.num_seqs;
    a.heads = q_latent.dim(1);
    a.latent_dim = q_latent.dim(2);
    a.rope_dim = q_pe.dim(2);
    a.block_size = meta.block_size;
    a.scale = scale;
    kc::mla_attention(a, pool_);
  }

 private:
  base::ThreadPool pool_;
  // moe_experts' scratch, kept between calls (the backend is used from the engine loop thread only).
  std::vector<unsigned char> workspace_;
  std::vector<const void*> gate_up_ptrs_, down_ptrs_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int num_threads) { return std::make_unique<CpuBackend>(num_threads); }

}  // namespace ferrite::backend
