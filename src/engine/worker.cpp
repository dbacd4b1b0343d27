// Ranks > 0 of a tensor-parallel launch (runtime/tensor_parallel.h): the same model options as
// Engine::create, but no scheduler, tokenizer or front end; the shard follows rank 0's steps.
#include <chrono>

#include "engine/engine_impl.h"
#include "runtime/tensor_parallel.h"

namespace ferrite {

namespace engine {

Result<model::LoadOptions> load_options(const EngineConfig& config) {
  model::LoadOptions lo;
  lo.model_dir = config.model_dir;
  lo.dtype = config.dtype;
  FERRITE_ASSIGN_OR_RETURN(lo.load_format, model::parse_load_format(config.load_format));
  lo.dummy_seed = config.seed;
  lo.show_progress = config.show_progress;
  return lo;
}

Result<runtime::ParallelOptions> parallel_options(const EngineConfig& config) {
  if (config.tensor_parallel_size < 1)
    return invalid_argument("--tensor-parallel-size must be >= 1, got " + std::to_string(config.tensor_parallel_size));
  if (!(config.collective_timeout_s > 0) || config.collective_timeout_s > 1e6)
    return invalid_argument("--collective-timeout must be a number of seconds > 0");
  runtime::ParallelOptions p;
  p.tensor_parallel_size = config.tensor_parallel_size;
  p.collective_timeout = std::chrono::milliseconds(static_cast<long long>(config.collective_timeout_s * 1000));
  return p;
}

}  // namespace engine

bool is_engine_worker(const EngineConfig& config) { return runtime::is_parallel_worker(config.tensor_parallel_size); }

Status run_engine_worker(const EngineConfig& config) {
  FERRITE_ASSIGN_OR_RETURN(model::LoadOptions lo, engine::load_options(config));
  FERRITE_ASSIGN_OR_RETURN(runtime::ParallelOptions po, engine::parallel_options(config));
  auto backend = backend::make_cpu_backend(config.num_threads);
  return runtime::run_parallel_worker(lo, po, *backend);
}

}  // namespace ferrite
