#include <cstring>
#include <sstream>

#include "backend/backend.h"
#include "base/check.h"
#include "base/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
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

 private:
  base::ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int num_threads) { return std::make_unique<CpuBackend>(num_threads); }

}  // namespace ferrite::backend
