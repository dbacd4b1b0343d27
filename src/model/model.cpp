#include "model/model.h"

#include <cstring>
#include <utility>

#include "base/check.h"
#include "base/logging.h"
#include "model/models/models.h"
#include "model/tensor_parallel.h"
#include "parallel/communicator.h"

namespace ferrite::model {

namespace {

struct Architecture {
  const char* name;
  ModelFactory factory;
  std::int64_t (*parameter_count)(const ModelConfig&);
  // Loads one rank's shard (model/tensor_parallel.h); null: no tensor parallelism for this family.
  ShardedModelFactory sharded_factory = nullptr;
};

// One line per supported config.json architecture.
const Architecture kArchitectures[] = {
    {"LlamaForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"MistralForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"Qwen2ForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"Qwen3ForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"MixtralForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"Qwen2MoeForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"Qwen3MoeForCausalLM", make_llama_family, llama_family_parameter_count, make_llama_family_shard},
    {"DeepseekV2ForCausalLM", make_deepseek_family, deepseek_family_parameter_count},
    {"DeepseekV3ForCausalLM", make_deepseek_family, deepseek_family_parameter_count},
};

class FileWeightSource final : public WeightSource {
 public:
  explicit FileWeightSource(WeightStore store) : store_(std::move(store)) {}
  Result<backend::Tensor> get(const std::string& name, const backend::Shape& shape, backend::DType dtype) override {
    return store_.get(name, shape, dtype);
  }
  bool contains(const std::string& name) const override { return store_.contains(name); }
  Result<backend::Tensor> get_slice(const std::string& name, const backend::Shape& full_shape, int dim,
                                    std::int64_t begin, std::int64_t end, backend::DType dtype) override {
    const TensorInfo* info = store_.info(name);
    if (info == nullptr) return WeightSource::get_slice(name, full_shape, dim, begin, end, dtype);  // its error
    // In the file's dtype the tensor borrows the mapping: only the slice's pages are read.
    FERRITE_ASSIGN_OR_RETURN(backend::Tensor full, store_.get(name, full_shape, info->dtype));
    if (!backend::is_float(info->dtype) || !backend::is_float(dtype))
      return invalid_argument("tensor '" + name + "' has dtype " + backend::dtype_name(info->dtype) +
                              ", which cannot be converted to " + backend::dtype_name(dtype));
    return slice_tensor(full, dim, begin, end, dtype);
  }

 private:
  WeightStore store_;
};

}  // namespace

backend::Tensor slice_tensor(const backend::Tensor& full, int dim, std::int64_t begin, std::int64_t end,
                             backend::DType dtype) {
  FERRITE_CHECK((dim == 0 || (dim == 1 && full.ndim() == 2)) && 0 <= begin && begin <= end &&
                end <= full.dim(dim) && full.is_contiguous());
  if (dim == 0) {
    backend::Tensor rows = full.slice_rows(begin, end);
    return rows.dtype() == dtype ? rows : rows.to_dtype(dtype);
  }
  const std::int64_t n = full.dim(0), cols = full.dim(1), w = end - begin;
  const std::size_t es = backend::dtype_size(full.dtype());
  backend::Tensor out = backend::Tensor::empty(backend::Shape{n, w}, full.dtype());
  const auto* src = static_cast<const std::uint8_t*>(full.raw_data());
  auto* dst = static_cast<std::uint8_t*>(out.raw_data());
  for (std::int64_t r = 0; r < n; ++r)
    std::memcpy(dst + static_cast<std::size_t>(r * w) * es, src + static_cast<std::size_t>(r * cols + begin) * es,
                static_cast<std::size_t>(w) * es);
  return out.dtype() == dtype ? out : out.to_dtype(dtype);
}

Result<backend::Tensor> WeightSource::get_slice(const std::string& name, const backend::Shape& full_shape, int dim,
                                                std::int64_t begin, std::int64_t end, backend::DType dtype) {
  FERRITE_ASSIGN_OR_RETURN(backend::Tensor full, get(name, full_shape, dtype));
  const backend::Tensor c = full.is_contiguous() ? full : full.clone();
  return slice_tensor(c, dim, begin, end, dtype);
}

std::unique_ptr<WeightSource> make_file_weight_source(WeightStore store) {
  return std::make_unique<FileWeightSource>(std::move(store));
}

Result<LoadFormat> parse_load_format(const std::string& s) {
  if (s == "auto") return LoadFormat::kAuto;
  if (s == "safetensors") return LoadFormat::kSafetensors;
  if (s == "dummy") return LoadFormat::kDummy;
  return invalid_argument("unknown load format '" + s + "' (expected auto, safetensors or dummy)");
}

std::int64_t kv_cache_bytes_per_token(const ModelConfig& c) {
  const std::int64_t per_layer =
      c.is_mla() ? c.kv_lora_rank + c.qk_rope_head_dim : 2 * c.num_key_value_heads * c.head_dim;
  return c.num_hidden_layers * per_layer * static_cast<std::int64_t>(sizeof(float));
}

std::int64_t CausalLM::kv_bytes_per_token() const {
  if (config_.is_mla()) return kv_cache_bytes_per_token(config_);
  return 2 * config_.num_hidden_layers * kv_heads() * config_.head_dim * static_cast<std::int64_t>(sizeof(float));
}

Result<backend::Tensor> CausalLM::vector_weight(WeightSource& w, const std::string& name, std::int64_t n) {
  FERRITE_ASSIGN_OR_RETURN(backend::Tensor t, w.get(name, backend::Shape{n}, backend::DType::kF32));
  num_parameters_ += n;
  weight_bytes_ += t.nbytes();
  return backend_.upload(t.clone());
}

std::string CausalLM::kv_cache_layout() const {
  return "K and V: " + std::to_string(kv_heads()) + " kv heads x " + std::to_string(config_.head_dim) + " dims, f32";
}

KvCache CausalLM::allocate_kv_cache(std::int64_t num_blocks, std::int64_t block_size) const {
  KvCache kv;
  kv.num_blocks = num_blocks;
  kv.block_size = block_size;
  const backend::Shape shape{num_blocks, block_size, kv_heads(), config_.head_dim};
  for (std::int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    kv.k.push_back(backend_.empty(shape, backend::DType::kF32));
    kv.v.push_back(backend_.empty(shape, backend::DType::kF32));
    backend_.fill_zero(kv.k.back());
    backend_.fill_zero(kv.v.back());
  }
  return kv;
}

Status CausalLM::validate_batch(const ForwardBatch& b, const KvCache& kv) const {
  const std::int64_t t = b.num_tokens();
  const std::int64_t s = b.num_seqs();
  if (t == 0 || s == 0) return invalid_argument("empty batch");
  if (static_cast<std::int64_t>(b.positions.size()) != t || static_cast<std::int64_t>(b.slot_mapping.size()) != t)
    return invalid_argument("positions and slot_mapping must have one entry per token");
  if (static_cast<std::int64_t>(b.query_start.size()) != s + 1 || b.query_start.front() != 0 || b.query_start.back() != t)
    return invalid_argument("query_start must have S + 1 entries from 0 to T");
  if (static_cast<std::int64_t>(b.block_tables.size()) != s * b.max_blocks)
    return invalid_argument("block_tables must have S * max_blocks entries");
  for (std::int32_t id : b.token_ids)
    if (id < 0 || id >= config_.vocab_size)
      return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(config_.vocab_size) + ")");
  const std::int64_t slots = kv.num_blocks * kv.block_size;
  for (std::int64_t i = 0; i < s; ++i) {
    const std::int64_t q = b.query_start[static_cast<std::size_t>(i + 1)] - b.query_start[static_cast<std::size_t>(i)];
    const std::int64_t ctx = b.context_lens[static_cast<std::size_t>(i)];
    if (q < 0 || ctx < q) return invalid_argument("a sequence has more new tokens than context");
    if (ctx > b.max_blocks * kv.block_size) return invalid_argument("context longer than its block table");
    for (std::int64_t j = 0; j < (ctx + kv.block_size - 1) / kv.block_size; ++j) {
      const std::int32_t blk = b.block_tables[static_cast<std::size_t>(i * b.max_blocks + j)];
      if (blk < 0 || blk >= kv.num_blocks) return invalid_argument("block id out of range");
    }
  }
  for (std::int64_t slot : b.slot_mapping)
    if (slot >= slots) return invalid_argument("slot out of range");
  for (std::int32_t r : b.sample_rows)
    if (r < 0 || r >= t) return invalid_argument("sample row out of range");
  return ok_status();
}

namespace {

Result<const Architecture*> find_architecture(const ModelConfig& config, const std::string& model_dir) {
  for (const auto& a : kArchitectures)
    if (config.architecture == a.name) return &a;
  std::string names;
  for (const auto& a : kArchitectures) names += std::string(names.empty() ? "" : ", ") + a.name;
  return unimplemented(model_dir + "/config.json: unsupported architecture '" + config.architecture +
                       "' (supported: " + names + ")");
}

}  // namespace

Result<std::int64_t> parameter_count(const ModelConfig& config) {
  FERRITE_ASSIGN_OR_RETURN(const Architecture* arch, find_architecture(config, "model"));
  return arch->parameter_count(config);
}

Result<std::unique_ptr<CausalLM>> load_model(const LoadOptions& options, backend::Backend& backend) {
  FERRITE_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(options.model_dir));
  FERRITE_ASSIGN_OR_RETURN(const Architecture* arch, find_architecture(config, options.model_dir));
  backend::DType dtype = config.torch_dtype;
  if (options.dtype != "auto") {
    FERRITE_ASSIGN_OR_RETURN(dtype, backend::parse_dtype(options.dtype));
  }
  if (!backend::is_float(dtype))
    return invalid_argument(std::string("--dtype must be a float type, got ") + backend::dtype_name(dtype));

  std::unique_ptr<WeightSource> source;
  if (options.load_format == LoadFormat::kDummy) {
    source = make_dummy_weight_source(options.dummy_seed);
  } else {
    FERRITE_ASSIGN_OR_RETURN(WeightStore store, WeightStore::open(options.model_dir));
    source = make_file_weight_source(std::move(store));
  }
  parallel::Communicator* comm = options.communicator;
  if (comm == nullptr || comm->world_size() == 1) return arch->factory(config, *source, backend, dtype, options.show_progress);
  FERRITE_RETURN_IF_ERROR(check_tensor_parallel(config, comm->world_size()));
  if (arch->sharded_factory == nullptr)
    return unimplemented(config.architecture + " has no tensor-parallel implementation yet; run it with "
                         "--tensor-parallel-size 1");
  return arch->sharded_factory(config, *source, backend, dtype, options.show_progress, *comm);
}

}  // namespace ferrite::model
