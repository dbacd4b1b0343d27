// Backend: memory and the op set a model forward pass needs. Models are written once against
// this interface; CpuBackend (here) is the reference, CudaBackend (issue: CUDA backend) mirrors it.
// Activations are f32; weights keep their storage dtype (f32, bf16, f16) in a backend-specific
// layout made by prepare_linear.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/tensor.h"
#include "ferrite/status.h"

namespace ferrite::backend {

// A linear layer's weight in the backend's layout: y = x W^T (+ bias).
struct LinearWeight {
  Tensor packed;       // backend layout; CPU: 16-column panels (kernels/cpu/linear.h)
  Tensor bias;         // f32 [n], or undefined
  std::int64_t n = 0;  // output features
  std::int64_t k = 0;  // input features
  DType dtype = DType::kF32;
  std::size_t bytes() const { return packed.nbytes() + (bias.defined() ? bias.nbytes() : 0); }
};

// The routed experts of one mixture-of-experts layer in the backend's layout (CPU: one packed
// linear weight per expert; a GPU backend may hold them as one [E, ...] block for a grouped GEMM).
struct MoeWeights {
  std::vector<LinearWeight> gate_up;  // per expert: [2 * inter, hidden], the gate rows then the up rows
  std::vector<LinearWeight> down;     // per expert: [hidden, inter]
  std::int64_t num_experts = 0;
  std::int64_t hidden = 0;
  std::int64_t inter = 0;
  DType dtype = DType::kF32;
  std::size_t bytes() const {
    std::size_t b = 0;
    for (const auto& w : gate_up) b += w.bytes();
    for (const auto& w : down) b += w.bytes();
    return b;
  }
};

// DeepSeek's grouped router (kernels/cpu/moe.h, moe_route_grouped, is the specification).
struct MoeRouting {
  std::int64_t top_k = 0;
  bool sigmoid = false;          // scores: sigmoid (DeepSeek-V3) or softmax (V2) of the logits
  std::int64_t num_groups = 1;   // experts in equal consecutive groups
  std::int64_t topk_groups = 1;  // groups kept
  bool group_top2_sum = false;   // a group's score: sum of its 2 best (V3) or its best (V2)
  bool renormalize = false;
  float routed_scaling = 1.0f;
};

// The flat-batch attention metadata (DESIGN.md), as int32 host or device tensors.
struct AttentionMeta {
  Tensor query_start;   // i32 [S + 1]
  Tensor context_lens;  // i32 [S]
  Tensor block_tables;  // i32 [S, max_blocks]
  Tensor slot_mapping;  // i64 [T]
  std::int64_t num_seqs = 0;
  std::int64_t max_blocks = 0;
  std::int64_t block_size = 16;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string describe() const = 0;

  // New uninitialised tensor on this backend.
  virtual Tensor empty(const Shape& shape, DType dtype) = 0;
  // A copy of a host tensor on this backend (f32/i32/i64 as given).
  virtual Tensor upload(const Tensor& host) = 0;
  // A host copy of a tensor of this backend.
  virtual Tensor download(const Tensor& t) = 0;
  virtual void fill_zero(Tensor& t) = 0;

  // w: host [n, k] (any float dtype); bias: host [n] or undefined. Stored as `dtype`.
  virtual Result<LinearWeight> prepare_linear(const Tensor& w, const Tensor& bias, DType dtype) = 0;

  // out[t, :] = table[ids[t], :]   (table: [vocab, dim] float dtype; ids: i32 [T]; out f32)
  virtual void embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // RMSNorm over the last dimension; out may be x.
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // y[M, n] = x[M, k] W^T + bias
  virtual void linear(const Tensor& x, const LinearWeight& w, Tensor& y) = 0;
  // In-place rotary embedding on x [T, heads, head_dim]; cos/sin f32 [T, rot_dim / 2].
  virtual void rope(Tensor& x, const Tensor& cos, const Tensor& sin, std::int64_t rot_dim) = 0;
  // Writes k, v [T, kv_heads, head_dim] into the caches at meta.slot_mapping.
  virtual void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta, Tensor& k_cache,
                        Tensor& v_cache) = 0;
  // out [T, q_heads, head_dim] = causal paged attention of q over the caches.
  virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMeta& meta,
                         float scale, std::int64_t sliding_window, Tensor& out) = 0;
  // out = silu(gate) * up
  virtual void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  // a += b
  virtual void add(Tensor& a, const Tensor& b) = 0;
  // out[i, :] = x[rows[i], :]   (rows: i32 host tensor)
  virtual void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) = 0;

  // Mixture of experts (kernels/cpu/moe.h is the specification).
  // gate_up[e]: host [2 * inter, hidden]; down[e]: host [hidden, inter]; stored as `dtype`.
  virtual Result<MoeWeights> prepare_moe(const std::vector<Tensor>& gate_up, const std::vector<Tensor>& down,
                                         DType dtype) = 0;
  // logits f32 [T, E] -> topk_ids i32 [T, k], topk_weights f32 [T, k]: softmax, the k largest
  // (ties to the lower id), renormalised to sum 1 when `renormalize`.
  virtual void moe_route(const Tensor& logits, std::int64_t top_k, bool renormalize, Tensor& topk_ids,
                         Tensor& topk_weights) = 0;
  // out[t] = sum_j topk_weights[t, j] * down_e(silu(gate_e(x[t])) * up_e(x[t])), e = topk_ids[t, j].
  virtual void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const MoeWeights& w,
                           Tensor& out) = 0;
  // logits f32 [T, E] -> topk_ids i32 [T, k], topk_weights f32 [T, k] by DeepSeek's grouped routing;
  // correction_bias: f32 [E] added to the scores for the selection only, or undefined.
  virtual void moe_route_grouped(const Tensor& logits, const MoeRouting& routing, const Tensor& correction_bias,
                                 Tensor& topk_ids, Tensor& topk_weights) = 0;
  // a[t, :] += sigmoid(gate[t]) * b[t, :]   (gate: f32 [T, 1])
  virtual void add_sigmoid_gated(Tensor& a, const Tensor& b, const Tensor& gate) = 0;

  // Multi-head latent attention (kernels/cpu/mla.h is the specification and has the cache layout).
  // y[t, h, :] = x[t, h, :] W_h^T for every head h: x [T, H, k], y [T, H, n], w: H weights of [n, k].
  virtual void linear_heads(const Tensor& x, const std::vector<LinearWeight>& w, Tensor& y) = 0;
  // Writes [latent[t] | k_pe[t]] (latent [T, L], k_pe [T, R] or [T, 1, R]) into cache
  // [num_blocks, block_size, L + R] at meta.slot_mapping.
  virtual void write_mla_cache(const Tensor& latent, const Tensor& k_pe, const AttentionMeta& meta, Tensor& cache) = 0;
  // out [T, H, L] = causal attention in the latent space: q_latent [T, H, L], q_pe [T, H, R].
  virtual void mla_attention(const Tensor& q_latent, const Tensor& q_pe, const Tensor& cache, const AttentionMeta& meta,
                             float scale, Tensor& out) = 0;

  virtual void synchronize() {}
};

// The CPU backend; num_threads <= 0 uses every core.
std::unique_ptr<Backend> make_cpu_backend(int num_threads = 0);

}  // namespace ferrite::backend
