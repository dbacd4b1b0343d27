// Engine creation and the front-end side: validating, tokenizing and queueing requests.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "base/logging.h"
#include "engine/engine_impl.h"

namespace ferrite {

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config) {
  FERRITE_ASSIGN_OR_RETURN(auto impl, engine::EngineImpl::create(config));
  return std::unique_ptr<Engine>(std::move(impl));
}

}  // namespace ferrite

namespace ferrite::engine {

namespace {

Status check_config(const EngineConfig& c) {
  if (c.block_size < 1 || c.block_size > 1024) return invalid_argument("--block-size must be between 1 and 1024");
  if (c.max_num_seqs < 1) return invalid_argument("--max-num-seqs must be at least 1");
  if (c.max_num_batched_tokens < 1) return invalid_argument("--max-num-batched-tokens must be at least 1");
  if (c.max_model_len < 0) return invalid_argument("--max-model-len must be positive");
  if (c.kv_cache_memory_bytes < 0) return invalid_argument("--kv-cache-memory must be positive");
  if (c.max_logprobs < 0) return invalid_argument("--max-logprobs must be >= 0");
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<EngineImpl>> EngineImpl::create(const EngineConfig& config) {
  FERRITE_RETURN_IF_ERROR(check_config(config));
  std::unique_ptr<EngineImpl> e(new EngineImpl());
  e->config_ = config;
  e->backend_ = backend::make_cpu_backend(config.num_threads);

  FERRITE_ASSIGN_OR_RETURN(model::LoadOptions lo, load_options(config));
  FERRITE_ASSIGN_OR_RETURN(runtime::ParallelOptions po, parallel_options(config));
  // One process: the whole model. Tensor parallel: rank 0's shard, driving the other ranks.
  FERRITE_ASSIGN_OR_RETURN(e->model_, runtime::load_parallel_model(lo, po, *e->backend_));
  const model::ModelConfig& mc = e->model_->config();

  // Tokenizer and chat template are optional: a directory without them still serves token ids.
  const std::string tok_dir = config.tokenizer_dir.empty() ? config.model_dir : config.tokenizer_dir;
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(tok_dir) / "tokenizer.json") || fs::exists(fs::path(tok_dir) / "tokenizer.model")) {
    FERRITE_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::load(tok_dir));
    e->tokenizer_ = tok;
    auto templates = chat::load_chat_templates(tok_dir, config.chat_template);
    if (templates.ok()) {
      e->templates_ = std::move(templates).value();
    } else {
      e->template_status_ = templates.status();
      if (!config.chat_template.empty()) return templates.status();  // an explicit override must load
    }
  } else {
    e->template_status_ = failed_precondition("the model directory has no tokenizer files (tokenizer.json)");
  }
  if (config.use_generation_config) {
    FERRITE_ASSIGN_OR_RETURN(e->generation_config_, model::load_generation_config(config.model_dir));
  }
  auto add_eos = [&](std::int64_t id) {
    // An EOS id outside the model's vocabulary can never be sampled (and would break the
    // sampler's masking): it is dropped, with a warning, instead of failing the load.
    if (id < 0 || id >= mc.vocab_size) {
      FERRITE_LOG_WARN("ignoring EOS token id {} outside the vocabulary [0, {})", id, mc.vocab_size);
      return;
    }
    if (std::find(e->eos_ids_.begin(), e->eos_ids_.end(), id) == e->eos_ids_.end())
      e->eos_ids_.push_back(static_cast<std::int32_t>(id));
  };
  for (auto id : mc.eos_token_ids) add_eos(id);
  for (auto id : e->generation_config_.eos_token_ids) add_eos(id);
  if (e->tokenizer_ && e->tokenizer_->eos_id()) add_eos(*e->tokenizer_->eos_id());

  const std::int64_t max_model_len = config.max_model_len > 0 ? config.max_model_len : mc.max_position_embeddings;
  if (max_model_len > mc.max_position_embeddings && mc.rope_scaling.type == model::RopeType::kDefault)
    FERRITE_LOG_WARN("--max-model-len {} exceeds the model's max_position_embeddings {}", max_model_len,
                     mc.max_position_embeddings);

  // KV-cache size: the budget, else enough for max_num_seqs full-length sequences up to 1 GiB.
  const std::int64_t per_block = e->model_->kv_bytes_per_token() * config.block_size;
  std::int64_t num_blocks = config.num_kv_blocks;
  std::int64_t budget = config.kv_cache_memory_bytes;
  if (num_blocks <= 0) {
    if (budget <= 0) {
      const std::int64_t need = config.max_num_seqs * ((max_model_len + config.block_size - 1) / config.block_size) * per_block;
      budget = std::min<std::int64_t>(need, std::int64_t{1} << 30);
    }
    num_blocks = budget / per_block;
  }
  const std::int64_t blocks_for_one = (max_model_len + config.block_size - 1) / config.block_size;
  FERRITE_LOG_INFO("KV cache: {} blocks x {} tokens x {} bytes/token = {:.1f} MiB ({} layers x {} kv heads x {} dims x 2 (K,V) x 4 bytes)",
                   num_blocks, config.block_size, e->model_->kv_bytes_per_token(),
                   static_cast<double>(num_blocks * per_block) / (1024.0 * 1024.0), mc.num_hidden_layers,
                   e->model_->kv_heads(), mc.head_dim);
  if (num_blocks < blocks_for_one)
    return resource_exhausted("the KV cache (" + std::to_string(num_blocks) + " blocks of " +
                              std::to_string(config.block_size) + " tokens) cannot hold one sequence of --max-model-len " +
                              std::to_string(max_model_len) + " tokens; raise --kv-cache-memory or lower --max-model-len");

  e->pool_ = std::make_unique<kv::BlockPool>(num_blocks, config.block_size, config.enable_prefix_caching);
  sched::SchedulerConfig sc;
  sc.max_num_batched_tokens = config.max_num_batched_tokens;
  sc.max_num_seqs = config.max_num_seqs;
  sc.max_model_len = max_model_len;
  sc.policy = config.scheduling_policy == SchedulingPolicy::kPriority ? sched::Policy::kPriority : sched::Policy::kFcfs;
  e->scheduler_ = std::make_unique<sched::Scheduler>(sc, *e->pool_);
  e->runner_ = std::make_unique<runtime::ModelRunner>(*e->model_, e->model_->allocate_kv_cache(num_blocks, config.block_size));
  e->seed_rng_ = sample::Rng(config.seed, 0x5eed);

  e->info_.architecture = mc.architecture;
  e->info_.dtype = backend::dtype_name(e->model_->weight_dtype());
  e->info_.max_model_len = max_model_len;
  e->info_.vocab_size = mc.vocab_size;
  e->info_.num_parameters = e->model_->num_parameters();
  e->info_.num_kv_blocks = num_blocks;
  e->info_.block_size = config.block_size;
  e->stats_.num_kv_blocks = num_blocks;
  e->thread_ = std::thread([raw = e.get()] { raw->loop(); });
  return e;
}

EngineImpl::~EngineImpl() { shutdown(); }

double EngineImpl::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void EngineImpl::apply_generation_defaults(SamplingParams& p) const {
  const auto& g = generation_config_;
  if (!p.given.temperature && g.temperature) p.temperature = *g.temperature;
  if (!p.given.top_p && g.top_p) p.top_p = *g.top_p;
  if (!p.given.top_k && g.top_k) p.top_k = static_cast<std::int32_t>(*g.top_k);
  if (!p.given.min_p && g.min_p) p.min_p = *g.min_p;
  if (!p.given.repetition_penalty && g.repetition_penalty) p.repetition_penalty = *g.repetition_penalty;
  if (!p.given.max_tokens && !p.max_tokens && g.max_new_tokens) p.max_tokens = *g.max_new_tokens;
}

Result<std::vector<std::int32_t>> EngineImpl::tokenize_prompt(const Prompt& prompt) {
  if (const auto* ids = std::get_if<std::vector<std::int32_t>>(&prompt)) return *ids;
  if (!tokenizer_) return failed_precondition("text prompts need a tokenizer, and the model directory has none");
  if (const auto* text = std::get_if<std::string>(&prompt)) return tokenizer_->encode(*text, true);
  const auto& chat = std::get<ChatPrompt>(prompt);
  if (!templates_) return template_status_.ok() ? failed_precondition("the model has no chat template") : template_status_;
  chat::ChatRequest cr;
  cr.messages = chat.messages;
  if (!chat.tools.is_null()) cr.tools = chat.tools;
  if (!chat.documents.is_null()) cr.documents = chat.documents;
  cr.add_generation_prompt = chat.add_generation_prompt;
  cr.continue_final_message = chat.continue_final_message;
  if (chat.chat_template_kwargs.is_object()) cr.kwargs = chat.chat_template_kwargs;
  FERRITE_ASSIGN_OR_RETURN(std::string rendered, templates_->apply(cr));
  // The template already wrote the special tokens (BOS), so none are added again.
  return tokenizer_->encode(rendered, false);
}

Status EngineImpl::validate_and_prepare(GenerateRequest& req, std::unique_ptr<Request>* out) {
  SamplingParams& p = req.sampling;
  apply_generation_defaults(p);
  FERRITE_RETURN_IF_ERROR(p.validate(config_.max_logprobs));
  const std::int64_t vocab = info_.vocab_size;
  auto check_ids = [&](const std::vector<std::int32_t>& ids, const char* what) -> Status {
    for (std::int32_t id : ids)
      if (id < 0 || id >= vocab)
        return invalid_argument(std::string(what) + ": token id " + std::to_string(id) +
                                " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    return ok_status();
  };
  FERRITE_RETURN_IF_ERROR(check_ids(p.stop_token_ids, "stop_token_ids"));
  FERRITE_RETURN_IF_ERROR(check_ids(p.allowed_token_ids, "allowed_token_ids"));
  for (const auto& [id, bias] : p.logit_bias)
    if (id < 0 || id >= vocab)
      return invalid_argument("logit_bias: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(vocab) + ")");
  if (!p.stop.empty() && !tokenizer_) return failed_precondition("stop strings need a tokenizer, and the model directory has none");

  FERRITE_ASSIGN_OR_RETURN(std::vector<std::int32_t> prompt, tokenize_prompt(req.prompt));
  if (prompt.empty()) return invalid_argument("the prompt is empty");
  FERRITE_RETURN_IF_ERROR(check_ids(prompt, "prompt"));
  const auto plen = static_cast<std::int64_t>(prompt.size());
  const std::int64_t max_len = info_.max_model_len;
  if (plen >= max_len)
    return invalid_argument("this model's maximum context length is " + std::to_string(max_len) +
                            " tokens, but the prompt has " + std::to_string(plen) +
                            " tokens (no room for a completion)");
  if (p.max_tokens && plen + *p.max_tokens > max_len)
    return invalid_argument("this model's maximum context length is " + std::to_string(max_len) +
                            " tokens; the request asks for " + std::to_string(plen + *p.max_tokens) + " (" +
                            std::to_string(plen) + " in the prompt, " + std::to_string(*p.max_tokens) +
                            " in the completion)");
  if (p.min_tokens > 0 && plen + p.min_tokens > max_len)
    return invalid_argument("min_tokens " + std::to_string(p.min_tokens) + " cannot fit after a " +
                            std::to_string(plen) + "-token prompt in the maximum context length " + std::to_string(max_len));

  auto r = std::make_unique<Request>();
  r->params = p;
  r->priority = req.priority;
  r->prompt = std::move(prompt);
  r->max_total_len = p.max_tokens ? plen + *p.max_tokens : max_len;
  *out = std::move(r);
  return ok_status();
}

Result<std::shared_ptr<OutputStream>> EngineImpl::submit(GenerateRequest request) {
  if (!healthy_.load()) return Status(StatusCode::kUnavailable, "the engine is not running");
  std::unique_ptr<Request> r;
  FERRITE_RETURN_IF_ERROR(validate_and_prepare(request, &r));
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return Status(StatusCode::kUnavailable, "the engine is shutting down");
  if (request.request_id.empty()) request.request_id = "req-" + std::to_string(++request_counter_);
  if (live_ids_.count(request.request_id))
    return invalid_argument("request id '" + request.request_id + "' is already in use");
  r->id = request.request_id;
  r->stream = std::make_shared<OutputStream>(r->id, r->params.n);
  r->metrics.arrival_time = now();
  for (std::int32_t i = 0; i < r->params.n; ++i) {
    Completion c;
    c.index = i;
    c.rng = r->params.seed ? sample::Rng(*r->params.seed, static_cast<std::uint64_t>(i))
                           : sample::Rng(seed_rng_.next_u64(), static_cast<std::uint64_t>(i));
    r->completions.push_back(std::move(c));
  }
  auto stream = r->stream;
  live_ids_.insert(r->id);
  inbox_.push_back(std::move(r));
  cv_.notify_all();
  return stream;
}

void EngineImpl::abort(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!live_ids_.count(request_id)) return;
  abort_inbox_.insert(request_id);
  cv_.notify_all();
}

EngineStats EngineImpl::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void EngineImpl::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ferrite::engine
