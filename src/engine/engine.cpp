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
  const SpeculativeConfig& sp = c.speculative;
  if (sp.method != SpeculativeConfig::Method::kNone) {
    if (sp.num_speculative_tokens < 1 || sp.num_speculative_tokens > 32)
      return invalid_argument("speculative decoding: num_speculative_tokens must be between 1 and 32");
    if (sp.method == SpeculativeConfig::Method::kNgram &&
        (sp.prompt_lookup_min < 1 || sp.prompt_lookup_max < sp.prompt_lookup_min))
      return invalid_argument("speculative decoding: need 1 <= prompt_lookup_min <= prompt_lookup_max");
    if (sp.method == SpeculativeConfig::Method::kDraftModel && sp.model.empty())
      return invalid_argument("speculative decoding: the draft model's directory is missing");
    if (sp.disable_by_batch_size < 0) return invalid_argument("speculative decoding: disable_by_batch_size must be >= 0");
  }
  return ok_status();
}

bool has_tokenizer_files(const std::string& dir) {
  namespace fs = std::filesystem;
  return fs::exists(fs::path(dir) / "tokenizer.json") || fs::exists(fs::path(dir) / "tokenizer.model");
}

// The draft proposes token ids the target scores: both must mean the same thing by every id.
Status check_draft_compatible(const model::ModelConfig& target, const model::ModelConfig& draft,
                              const tokenizer::Tokenizer* target_tok, const std::string& draft_dir) {
  if (draft.vocab_size != target.vocab_size)
    return invalid_argument("the draft model's vocab_size (" + std::to_string(draft.vocab_size) +
                            ") differs from the target's (" + std::to_string(target.vocab_size) +
                            "): speculative decoding needs the same tokenizer and vocabulary");
  if (!target_tok) return ok_status();
  if (!has_tokenizer_files(draft_dir)) {
    FERRITE_LOG_WARN("the draft model directory {} has no tokenizer files; assuming it uses the target's tokenizer", draft_dir);
    return ok_status();
  }
  FERRITE_ASSIGN_OR_RETURN(auto draft_tok, tokenizer::Tokenizer::load(draft_dir));
  if (draft_tok->vocab_size() != target_tok->vocab_size())
    return invalid_argument("the draft model's tokenizer has " + std::to_string(draft_tok->vocab_size()) +
                            " tokens, the target's " + std::to_string(target_tok->vocab_size()) +
                            ": speculative decoding needs the same tokenizer");
  for (std::size_t id = 0; id < target_tok->vocab_size(); ++id) {
    const auto i = static_cast<std::int32_t>(id);
    if (draft_tok->id_to_token(i) != target_tok->id_to_token(i))
      return invalid_argument("the draft model's tokenizer differs from the target's at id " + std::to_string(id) + " ('" +
                              draft_tok->id_to_token(i).value_or("") + "' vs '" + target_tok->id_to_token(i).value_or("") +
                              "'): speculative decoding needs the same tokenizer");
  }
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
  if (has_tokenizer_files(tok_dir)) {
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

  if (config.speculative.method == SpeculativeConfig::Method::kDraftModel) {
    model::LoadOptions dlo = lo;
    dlo.model_dir = config.speculative.model;
    auto draft = model::load_model(dlo, *e->backend_);
    if (!draft.ok()) return draft.status().with_context("draft model " + config.speculative.model);
    e->draft_model_ = std::move(draft).value();
    FERRITE_RETURN_IF_ERROR(check_draft_compatible(mc, e->draft_model_->config(), e->tokenizer_.get(), config.speculative.model));
  }

  if (e->draft_model_ && e->draft_model_->config().max_position_embeddings < max_model_len)
    FERRITE_LOG_WARN("the draft model's max_position_embeddings {} is below --max-model-len {}: its guesses past that "
                     "length get worse (the output stays exact)",
                     e->draft_model_->config().max_position_embeddings, max_model_len);

  // KV-cache size: the budget, else enough for max_num_seqs full-length sequences up to 1 GiB.
  // A draft model keeps its KV in blocks of the same ids, so a block costs both.
  const std::int64_t draft_bytes_per_token = e->draft_model_ ? e->draft_model_->kv_bytes_per_token() : 0;
  const std::int64_t per_block = (e->model_->kv_bytes_per_token() + draft_bytes_per_token) * config.block_size;
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
  FERRITE_LOG_INFO("KV cache: {} blocks x {} tokens x {} bytes/token = {:.1f} MiB ({} layers, each {}{})", num_blocks,
                   config.block_size, e->model_->kv_bytes_per_token() + draft_bytes_per_token,
                   static_cast<double>(num_blocks * per_block) / (1024.0 * 1024.0), mc.num_hidden_layers,
                   e->model_->kv_cache_layout(),
                   draft_bytes_per_token ? fmt::format("; plus the draft model's {} bytes/token", draft_bytes_per_token) : "");
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
  sc.draft_kv = e->draft_model_ != nullptr;
  e->scheduler_ = std::make_unique<sched::Scheduler>(sc, *e->pool_);
  e->runner_ = std::make_unique<runtime::ModelRunner>(*e->model_, e->model_->allocate_kv_cache(num_blocks, config.block_size));
  if (e->draft_model_) {
    e->draft_runner_ = std::make_unique<runtime::ModelRunner>(
        *e->draft_model_, e->draft_model_->allocate_kv_cache(num_blocks, config.block_size));
  }
  if (config.speculative.enabled()) {
    const auto& sp = config.speculative;
    if (sp.method == SpeculativeConfig::Method::kNgram)
      FERRITE_LOG_INFO("speculative decoding: n-gram prompt lookup, {} tokens, n-grams of {}..{}", sp.num_speculative_tokens,
                       sp.prompt_lookup_min, sp.prompt_lookup_max);
    else
      FERRITE_LOG_INFO("speculative decoding: draft model {} ({} parameters), {} tokens", sp.model,
                       e->draft_model_->num_parameters(), sp.num_speculative_tokens);
  }
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
    const std::uint64_t seed = r->params.seed ? *r->params.seed : seed_rng_.next_u64();
    c.rng = sample::Rng(seed, static_cast<std::uint64_t>(i));
    c.draft_rng = sample::Rng(seed, (std::uint64_t{0xd7af7} << 32) + static_cast<std::uint64_t>(i));
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
