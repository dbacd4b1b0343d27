// CausalLM: a loaded model that runs one forward pass over a flat batch (DESIGN.md) against
// its paged KV cache. Architectures register a factory by their config.json name; adding one
// is a file in models/, a registry line and a reference fixture (docs/adding-a-model.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace ferrite::parallel {
class Communicator;
}

namespace ferrite::model {

// One step's flat batch, on the host. T tokens over S sequences.
struct ForwardBatch {
  std::vector<std::int32_t> token_ids;     // [T]
  std::vector<std::int32_t> positions;     // [T]
  std::vector<std::int64_t> slot_mapping;  // [T] block_id * block_size + offset
  std::vector<std::int32_t> query_start;   // [S + 1]
  std::vector<std::int32_t> context_lens;  // [S] tokens in the cache after this step
  std::vector<std::int32_t> block_tables;  // [S * max_blocks]
  std::int64_t max_blocks = 0;
  std::vector<std::int32_t> sample_rows;   // rows whose logits are returned
  std::int64_t num_tokens() const { return static_cast<std::int64_t>(token_ids.size()); }
  std::int64_t num_seqs() const { return static_cast<std::int64_t>(context_lens.size()); }
};

// Per-layer K and V pools: [num_blocks, block_size, kv_heads, head_dim] f32 (token-major;
// the layout kernels/cpu/attention.h reads). Models with multi-head latent attention (DeepSeek)
// keep one latent pool per layer instead, [num_blocks, block_size, kv_lora_rank + qk_rope_head_dim]
// (kernels/cpu/mla.h), and leave k and v empty.
struct KvCache {
  std::int64_t num_blocks = 0;
  std::int64_t block_size = 16;
  std::vector<backend::Tensor> k;
  std::vector<backend::Tensor> v;
  std::vector<backend::Tensor> latent;
};

enum class LoadFormat { kAuto, kSafetensors, kDummy };

struct LoadOptions {
  std::string model_dir;
  // "auto": the config's torch_dtype for bf16/f16 checkpoints, else the file's dtype.
  std::string dtype = "auto";
  LoadFormat load_format = LoadFormat::kAuto;
  std::uint64_t dummy_seed = 0;
  bool show_progress = true;
  // Tensor parallelism (model/tensor_parallel.h): with a communicator of N > 1 ranks, this rank
  // loads its shard, and forward() must be called on every rank with the same batch (the ranks
  // meet in collectives). Null or one rank: the whole model.
  parallel::Communicator* communicator = nullptr;
};

Result<LoadFormat> parse_load_format(const std::string& s);

class WeightSource;

class CausalLM {
 public:
  virtual ~CausalLM() = default;

  const ModelConfig& config() const { return config_; }
  backend::DType weight_dtype() const { return weight_dtype_; }
  std::int64_t num_parameters() const { return num_parameters_; }
  std::size_t weight_bytes() const { return weight_bytes_; }
  // KV heads this process holds: all of them, or a tensor-parallel rank's share.
  std::int64_t kv_heads() const { return kv_heads_ > 0 ? kv_heads_ : config_.num_key_value_heads; }
  // KV-cache bytes one token takes over all layers, in this process (the engine sizes its block
  // pool by this).
  virtual std::int64_t kv_bytes_per_token() const;
  // What one token's cache entry holds, per layer, for logs (e.g. "K and V: 8 heads x 128 dims").
  virtual std::string kv_cache_layout() const;

  virtual KvCache allocate_kv_cache(std::int64_t num_blocks, std::int64_t block_size) const;

  // Runs the batch; returns logits [sample_rows, vocab] (f32, host). Validates token ids and the
  // batch shape (a bad batch is an error, never an out-of-bounds access).
  virtual Result<backend::Tensor> forward(const ForwardBatch& batch, KvCache& kv) = 0;

 protected:
  CausalLM(ModelConfig config, backend::Backend& backend) : config_(std::move(config)), backend_(backend) {}
  Status validate_batch(const ForwardBatch& batch, const KvCache& kv) const;
  // A 1-D f32 weight (norms), uploaded and counted in num_parameters_ and weight_bytes_.
  Result<backend::Tensor> vector_weight(WeightSource& w, const std::string& name, std::int64_t n);

  ModelConfig config_;
  backend::Backend& backend_;
  backend::DType weight_dtype_ = backend::DType::kF32;
  std::int64_t num_parameters_ = 0;
  std::size_t weight_bytes_ = 0;
  std::int64_t kv_heads_ = 0;  // 0: config_.num_key_value_heads
};

// Where a model's weights come from: safetensors files, or deterministic random values.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The tensor `name` of exactly `shape`, as `dtype` (host).
  virtual Result<backend::Tensor> get(const std::string& name, const backend::Shape& shape, backend::DType dtype) = 0;
  virtual bool contains(const std::string& name) const = 0;
  // Rows (dim 0) or columns (dim 1) [begin, end) of the tensor `name`, whose whole shape must be
  // `full_shape`, as `dtype` (tensor-parallel shards). The default gets the whole tensor and
  // copies the slice; the file source touches only the slice's bytes of the mapping (zero-copy for
  // rows in the file's dtype), the dummy source makes only the slice's values.
  virtual Result<backend::Tensor> get_slice(const std::string& name, const backend::Shape& full_shape, int dim,
                                            std::int64_t begin, std::int64_t end, backend::DType dtype);
};

// Rows (dim 0) or columns (dim 1) [begin, end) of a host tensor, as `dtype`: a view when dim is 0
// and the dtype matches, else a new tensor holding only the slice.
backend::Tensor slice_tensor(const backend::Tensor& full, int dim, std::int64_t begin, std::int64_t end,
                             backend::DType dtype);

std::unique_ptr<WeightSource> make_file_weight_source(WeightStore store);
// Values from a generator seeded by (seed, tensor name): norms are 1, everything else
// uniform in [-a, a] with a = 1/sqrt(in_features). Same values on every run and machine.
std::unique_ptr<WeightSource> make_dummy_weight_source(std::uint64_t seed);

// Builds a model of a registered architecture (the table in model.cpp) from its weights.
using ModelFactory = Result<std::unique_ptr<CausalLM>> (*)(const ModelConfig&, WeightSource&, backend::Backend&,
                                                           backend::DType weight_dtype, bool show_progress);

// f32 KV-cache bytes one token takes over all layers, from the config alone: K and V per KV head,
// or for multi-head latent attention the latent and the rope key (kv_lora_rank + qk_rope_head_dim).
std::int64_t kv_cache_bytes_per_token(const ModelConfig& config);

// Builds one rank's shard of a model over `comm` (world size > 1).
using ShardedModelFactory = Result<std::unique_ptr<CausalLM>> (*)(const ModelConfig&, WeightSource&,
                                                                  backend::Backend&, backend::DType weight_dtype,
                                                                  bool show_progress, parallel::Communicator& comm);

// Parameters of a checkpoint with this configuration, computed from the config alone.
Result<std::int64_t> parameter_count(const ModelConfig& config);

// Reads config.json, picks the architecture, loads the weights onto `backend`.
Result<std::unique_ptr<CausalLM>> load_model(const LoadOptions& options, backend::Backend& backend);

}  // namespace ferrite::model
