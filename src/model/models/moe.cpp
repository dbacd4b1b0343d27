#include "model/models/moe.h"

#include <cstring>
#include <vector>

namespace ferrite::model {

namespace {

using backend::DType;
using backend::LinearWeight;
using backend::Shape;
using backend::Tensor;

Result<LinearWeight> load_linear(WeightSource& w, backend::Backend& be, const std::string& name, std::int64_t out,
                                 std::int64_t in, DType dtype, std::int64_t* params, std::size_t* bytes) {
  FERRITE_ASSIGN_OR_RETURN(Tensor t, w.get(name, Shape{out, in}, dtype));
  FERRITE_ASSIGN_OR_RETURN(LinearWeight lw, be.prepare_linear(t, Tensor(), dtype));
  *params += out * in;
  *bytes += lw.bytes();
  return lw;
}

// [a; b] stacked along rows (both [rows, cols], same dtype).
Tensor stack_rows(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(Shape{a.dim(0) + b.dim(0), a.dim(1)}, a.dtype());
  const Tensor ac = a.is_contiguous() ? a : a.clone(), bc = b.is_contiguous() ? b : b.clone();
  std::memcpy(out.raw_data(), ac.raw_data(), ac.nbytes());
  std::memcpy(static_cast<char*>(out.raw_data()) + ac.nbytes(), bc.raw_data(), bc.nbytes());
  return out;
}

// Rows (dim 0) or columns (dim 1) [begin, end) of a weight, as a LinearWeight.
Result<LinearWeight> load_linear_slice(WeightSource& w, backend::Backend& be, const std::string& name,
                                       std::int64_t out, std::int64_t in, int dim, std::int64_t begin,
                                       std::int64_t end, DType dtype, std::int64_t* params, std::size_t* bytes) {
  FERRITE_ASSIGN_OR_RETURN(Tensor t, w.get_slice(name, Shape{out, in}, dim, begin, end, dtype));
  FERRITE_ASSIGN_OR_RETURN(LinearWeight lw, be.prepare_linear(t, Tensor(), dtype));
  *params += t.numel();
  *bytes += lw.bytes();
  return lw;
}

// Where a layer's experts are: per-expert tensors (Mixtral's w1/w3/w2 under block_sparse_moe, or
// gate/up/down_proj under mlp), or transformers 5's fused experts.gate_up_proj / down_proj.
struct ExpertNames {
  std::string per_expert, fused, moe;  // moe: the prefix in use (of the router too)
  const char* gate;
  const char* up;
  const char* down;
  bool use_fused;
};

ExpertNames expert_names(WeightSource& w, const ModelConfig& c, const std::string& layer) {
  const bool mixtral = c.architecture == "MixtralForCausalLM";
  ExpertNames n;
  n.per_expert = layer + (mixtral ? ".block_sparse_moe" : ".mlp");
  n.gate = mixtral ? "w1" : "gate_proj";
  n.up = mixtral ? "w3" : "up_proj";
  n.down = mixtral ? "w2" : "down_proj";
  n.fused = layer + ".mlp";
  // Per-expert tensors are checked first: the dummy source "contains" every name.
  n.use_fused = !w.contains(n.per_expert + ".experts.0." + n.gate + ".weight") && w.contains(n.fused + ".experts.gate_up_proj");
  n.moe = n.use_fused ? n.fused : n.per_expert;
  return n;
}

}  // namespace

Status SparseMoeBlock::load(WeightSource& w, backend::Backend& be, const ModelConfig& c, const std::string& layer,
                            DType dtype, std::int64_t* params, std::size_t* bytes, const TpShard& tp) {
  if (tp.active()) return load_shard(w, be, c, layer, dtype, params, bytes, tp);
  const std::int64_t h = c.hidden_size, e_n = c.num_experts, inter = c.moe_intermediate_size;
  top_k_ = c.num_experts_per_tok;
  renormalize_ = c.norm_topk_prob;
  const ExpertNames names = expert_names(w, c, layer);
  const std::string &per_expert = names.per_expert, &fused = names.fused, &moe = names.moe;
  const char *gate_name = names.gate, *up_name = names.up, *down_name = names.down;
  const bool use_fused = names.use_fused;

  FERRITE_ASSIGN_OR_RETURN(router_, load_linear(w, be, moe + ".gate.weight", e_n, h, dtype, params, bytes));
  grouped_ = c.architecture == "DeepseekV2ForCausalLM" || c.architecture == "DeepseekV3ForCausalLM";
  if (grouped_) {
    routing_.top_k = top_k_;
    routing_.sigmoid = c.router_scoring == RouterScoring::kSigmoid;
    routing_.num_groups = c.num_expert_groups;
    routing_.topk_groups = c.topk_groups;
    routing_.group_top2_sum = c.group_score == GroupScore::kTop2Sum;
    routing_.renormalize = c.norm_topk_prob;
    routing_.routed_scaling = static_cast<float>(c.routed_scaling_factor);
    if (c.score_correction_bias) {
      FERRITE_ASSIGN_OR_RETURN(Tensor b, w.get(moe + ".gate.e_score_correction_bias", Shape{e_n}, DType::kF32));
      correction_bias_ = be.upload(b.clone());
      *params += e_n;
      *bytes += correction_bias_.nbytes();
    }
  }
  std::vector<Tensor> gate_up, down;
  if (use_fused) {
    FERRITE_ASSIGN_OR_RETURN(Tensor gu, w.get(fused + ".experts.gate_up_proj", Shape{e_n, 2 * inter, h}, dtype));
    FERRITE_ASSIGN_OR_RETURN(Tensor dn, w.get(fused + ".experts.down_proj", Shape{e_n, h, inter}, dtype));
    const Tensor gu2 = gu.view(Shape{e_n * 2 * inter, h}), dn2 = dn.view(Shape{e_n * h, inter});
    for (std::int64_t e = 0; e < e_n; ++e) {
      gate_up.push_back(gu2.slice_rows(e * 2 * inter, (e + 1) * 2 * inter));
      down.push_back(dn2.slice_rows(e * h, (e + 1) * h));
    }
  } else {
    for (std::int64_t e = 0; e < e_n; ++e) {
      const std::string p = per_expert + ".experts." + std::to_string(e) + ".";
      FERRITE_ASSIGN_OR_RETURN(Tensor g, w.get(p + gate_name + ".weight", Shape{inter, h}, dtype));
      FERRITE_ASSIGN_OR_RETURN(Tensor u, w.get(p + up_name + ".weight", Shape{inter, h}, dtype));
      FERRITE_ASSIGN_OR_RETURN(Tensor d, w.get(p + down_name + ".weight", Shape{h, inter}, dtype));
      gate_up.push_back(stack_rows(g, u));
      down.push_back(d);
    }
  }
  FERRITE_ASSIGN_OR_RETURN(experts_, be.prepare_moe(gate_up, down, dtype));
  *params += e_n * 3 * h * inter;
  *bytes += experts_.bytes();

  if (grouped_ && c.n_shared_experts > 0) {
    // DeepSeek: shared_experts, one plain MLP of n_shared_experts * moe_intermediate_size, no gate.
    shared_ = true;
    const std::int64_t s = c.n_shared_experts * inter;
    const std::string p = layer + ".mlp.shared_experts";
    FERRITE_ASSIGN_OR_RETURN(shared_gate_proj_,
                             load_linear(w, be, p + ".gate_proj.weight", s, h, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_up_, load_linear(w, be, p + ".up_proj.weight", s, h, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_down_, load_linear(w, be, p + ".down_proj.weight", h, s, dtype, params, bytes));
    return ok_status();
  }
  shared_ = c.shared_expert_intermediate_size > 0;
  shared_gated_ = shared_;
  if (shared_) {
    const std::int64_t s = c.shared_expert_intermediate_size;
    const std::string p = layer + ".mlp.shared_expert";
    FERRITE_ASSIGN_OR_RETURN(shared_gate_proj_,
                             load_linear(w, be, p + ".gate_proj.weight", s, h, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_up_, load_linear(w, be, p + ".up_proj.weight", s, h, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_down_, load_linear(w, be, p + ".down_proj.weight", h, s, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_gate_, load_linear(w, be, p + "_gate.weight", 1, h, dtype, params, bytes));
  }
  return ok_status();
}

Status SparseMoeBlock::load_shard(WeightSource& w, backend::Backend& be, const ModelConfig& c, const std::string& layer,
                                  DType dtype, std::int64_t* params, std::size_t* bytes, const TpShard& tp) {
  const std::int64_t h = c.hidden_size, e_n = c.num_experts, inter = c.moe_intermediate_size;
  const auto [i0, i1] = even_split(inter, tp.size, tp.rank);
  top_k_ = c.num_experts_per_tok;
  renormalize_ = c.norm_topk_prob;
  const ExpertNames names = expert_names(w, c, layer);
  const std::string &per_expert = names.per_expert, &fused = names.fused, &moe = names.moe;
  const char *gate_name = names.gate, *up_name = names.up, *down_name = names.down;
  const bool use_fused = names.use_fused;

  FERRITE_ASSIGN_OR_RETURN(router_, load_linear(w, be, moe + ".gate.weight", e_n, h, dtype, params, bytes));
  std::vector<Tensor> gate_up, down;
  if (use_fused) {
    // transformers' in-memory layout: the whole tensors, then this rank's rows and columns.
    FERRITE_ASSIGN_OR_RETURN(Tensor gu, w.get(fused + ".experts.gate_up_proj", Shape{e_n, 2 * inter, h}, dtype));
    FERRITE_ASSIGN_OR_RETURN(Tensor dn, w.get(fused + ".experts.down_proj", Shape{e_n, h, inter}, dtype));
    const Tensor gu2 = (gu.is_contiguous() ? gu : gu.clone()).view(Shape{e_n * 2 * inter, h});
    const Tensor dn2 = (dn.is_contiguous() ? dn : dn.clone()).view(Shape{e_n * h, inter});
    for (std::int64_t e = 0; e < e_n; ++e) {
      const std::int64_t base = e * 2 * inter;
      gate_up.push_back(stack_rows(gu2.slice_rows(base + i0, base + i1), gu2.slice_rows(base + inter + i0, base + inter + i1)));
      down.push_back(slice_tensor(dn2.slice_rows(e * h, (e + 1) * h).clone(), 1, i0, i1, dtype));
    }
  } else {
    for (std::int64_t e = 0; e < e_n; ++e) {
      const std::string p = per_expert + ".experts." + std::to_string(e) + ".";
      FERRITE_ASSIGN_OR_RETURN(Tensor g, w.get_slice(p + gate_name + ".weight", Shape{inter, h}, 0, i0, i1, dtype));
      FERRITE_ASSIGN_OR_RETURN(Tensor u, w.get_slice(p + up_name + ".weight", Shape{inter, h}, 0, i0, i1, dtype));
      FERRITE_ASSIGN_OR_RETURN(Tensor d, w.get_slice(p + down_name + ".weight", Shape{h, inter}, 1, i0, i1, dtype));
      gate_up.push_back(stack_rows(g, u));
      down.push_back(d);
    }
  }
  FERRITE_ASSIGN_OR_RETURN(experts_, be.prepare_moe(gate_up, down, dtype));
  *params += e_n * 3 * h * (i1 - i0);
  *bytes += experts_.bytes();

  shared_ = c.shared_expert_intermediate_size > 0;
  shared_gated_ = shared_;
  if (shared_) {
    const std::int64_t s = c.shared_expert_intermediate_size;
    const auto [s0, s1] = even_split(s, tp.size, tp.rank);
    const std::string p = layer + ".mlp.shared_expert";
    FERRITE_ASSIGN_OR_RETURN(shared_gate_proj_,
                             load_linear_slice(w, be, p + ".gate_proj.weight", s, h, 0, s0, s1, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_up_,
                             load_linear_slice(w, be, p + ".up_proj.weight", s, h, 0, s0, s1, dtype, params, bytes));
    FERRITE_ASSIGN_OR_RETURN(shared_down_,
                             load_linear_slice(w, be, p + ".down_proj.weight", h, s, 1, s0, s1, dtype, params, bytes));
    // The gate multiplies the shared expert's output, which is linear in the shards: replicated.
    FERRITE_ASSIGN_OR_RETURN(shared_gate_, load_linear(w, be, p + "_gate.weight", 1, h, dtype, params, bytes));
  }
  return ok_status();
}

void SparseMoeBlock::forward(backend::Backend& be, const Tensor& x, Tensor& out) const {
  const std::int64_t t = x.dim(0);
  Tensor logits = be.empty(Shape{t, experts_.num_experts}, DType::kF32);
  be.linear(x, router_, logits);
  Tensor ids = be.empty(Shape{t, top_k_}, DType::kI32);
  Tensor weights = be.empty(Shape{t, top_k_}, DType::kF32);
  if (grouped_)
    be.moe_route_grouped(logits, routing_, correction_bias_, ids, weights);
  else
    be.moe_route(logits, top_k_, renormalize_, ids, weights);
  be.moe_experts(x, ids, weights, experts_, out);
  if (shared_) {
    const std::int64_t s = shared_up_.n;
    Tensor g = be.empty(Shape{t, s}, DType::kF32), u = be.empty(Shape{t, s}, DType::kF32);
    be.linear(x, shared_gate_proj_, g);
    be.linear(x, shared_up_, u);
    be.silu_mul(g, u, g);
    Tensor y = be.empty(Shape{t, x.dim(1)}, DType::kF32);
    be.linear(g, shared_down_, y);
    if (!shared_gated_) {
      be.add(out, y);
      return;
    }
    Tensor gate = be.empty(Shape{t, 1}, DType::kF32);
    be.linear(x, shared_gate_, gate);
    be.add_sigmoid_gated(out, y, gate);
  }
}

std::int64_t sparse_moe_parameter_count(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, s = c.shared_expert_intermediate_size;
  std::int64_t n = c.num_experts * h + c.num_experts * 3 * h * c.moe_intermediate_size;
  if (s > 0) n += 3 * h * s + h;
  n += 3 * h * c.n_shared_experts * c.moe_intermediate_size;  // DeepSeek's ungated shared experts
  if (c.score_correction_bias) n += c.num_experts;
  return n;
}

}  // namespace ferrite::model
