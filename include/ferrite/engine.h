// The engine's public API: what front ends (CLI, HTTP, gRPC) and embedders call.
//
//   auto engine = ferrite::Engine::create(config);          // loads the model, starts the loop
//   auto stream = (*engine)->submit(request);               // thread-safe, from any thread
//   while (auto delta = (*stream)->next()) { ... }          // blocks until the next delta
//   (*engine)->abort(request_id);                           // frees its KV blocks within a step
//
// One engine-loop thread runs the scheduler, the model and the sampler; submit(), abort() and
// stats() only take a lock and queue work for it. No exception crosses this API.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "ferrite/sampling_params.h"
#include "ferrite/status.h"

namespace ferrite {

enum class SchedulingPolicy { kFcfs, kPriority };

// Speculative decoding (vLLM's --speculative-config): a proposer guesses up to
// num_speculative_tokens tokens per sequence and step, the target model verifies them all in one
// pass, and exact rejection sampling keeps the output distribution unchanged.
struct SpeculativeConfig {
  enum class Method { kNone, kNgram, kDraftModel };
  Method method = Method::kNone;
  std::int32_t num_speculative_tokens = 0;
  // ngram (prompt lookup): the longest suffix of the context, of prompt_lookup_max down to
  // prompt_lookup_min tokens, that occurred before proposes the tokens that followed it.
  std::int32_t prompt_lookup_min = 1;
  std::int32_t prompt_lookup_max = 3;
  std::string model;  // draft_model: its directory (same tokenizer and vocabulary as the target)
  // Speculate only while fewer than this many sequences run (0: always). At large batches the
  // step is compute-bound and verifying rejected drafts costs more than it saves.
  std::int64_t disable_by_batch_size = 0;
  bool enabled() const { return method != Method::kNone && num_speculative_tokens > 0; }
};

// Parses the --speculative-config JSON ('{"method": "ngram", "num_speculative_tokens": 5,
// "prompt_lookup_min": 2, "prompt_lookup_max": 4}' or '{"method": "draft_model", "model": "DIR",
// "num_speculative_tokens": 4}'); unknown keys and out-of-range values are errors.
Result<SpeculativeConfig> parse_speculative_config(const std::string& json);

struct EngineConfig {
  std::string model_dir;
  std::string tokenizer_dir;       // empty: model_dir
  std::string dtype = "auto";
  std::string load_format = "auto";  // auto, safetensors, dummy
  std::uint64_t seed = 0;
  int num_threads = 0;             // CPU threads; 0: one per core
  std::int64_t block_size = 16;
  std::int64_t kv_cache_memory_bytes = 0;  // CPU KV-cache budget; 0: 1 GiB or the max-model-len need
  std::int64_t num_kv_blocks = 0;  // overrides kv_cache_memory_bytes when > 0 (tests)
  bool enable_prefix_caching = true;
  std::int64_t max_model_len = 0;  // 0: the model's max_position_embeddings
  std::int64_t max_num_seqs = 256;
  std::int64_t max_num_batched_tokens = 2048;
  SchedulingPolicy scheduling_policy = SchedulingPolicy::kFcfs;
  std::int32_t max_logprobs = 20;
  std::string chat_template;       // override: a file path or the template text
  bool use_generation_config = true;  // take sampling defaults from generation_config.json
  bool show_progress = true;
  bool check_invariants = false;   // verify block accounting after every step (debug, tests)
  SpeculativeConfig speculative;
  // Tensor parallelism (docs/parallelism.md): under `mpirun -np N`, N ranks each hold a shard.
  int tensor_parallel_size = 1;
  double collective_timeout_s = 300;  // bound on each collective inside a step
};

// A prompt: text (tokenized with special tokens added), token ids, or chat messages (rendered
// with the model's chat template, then tokenized without adding special tokens again).
// JSON keeps the request's key order (ordered_json): templates' tojson reproduces it, as HF does.
struct ChatPrompt {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;    // null or an array
  nlohmann::ordered_json documents;  // null or an array
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();
  bool add_generation_prompt = true;
  bool continue_final_message = false;  // end inside the final message (transformers' meaning)
};
using Prompt = std::variant<std::string, std::vector<std::int32_t>, ChatPrompt>;

struct GenerateRequest {
  std::string request_id;          // empty: the engine makes one
  Prompt prompt;
  SamplingParams sampling;
  std::int32_t priority = 0;       // lower runs first under --scheduling-policy priority
};

enum class FinishReason { kNone, kStop, kLength, kAbort, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "abort", "error"

struct TokenLogprob {
  std::int32_t token_id = 0;
  float logprob = 0.f;
  std::int32_t rank = 0;           // 1-based rank of the chosen token
  std::vector<std::pair<std::int32_t, float>> top;  // top-N (id, logprob), best first
};

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;
};

struct RequestMetrics {
  double arrival_time = 0;          // seconds since the engine started
  double first_scheduled_time = 0;
  double first_token_time = 0;
  double finish_time = 0;
  double queue_time = 0;            // first_scheduled - arrival
  std::int64_t num_preemptions = 0;
};

// One piece of a request's output: the new tokens of one completion (index < n).
struct OutputDelta {
  std::int32_t index = 0;
  std::vector<std::int32_t> token_ids;
  std::string text;
  std::vector<TokenLogprob> logprobs;  // one per token in token_ids, when requested
  // Set on a completion's last delta:
  FinishReason finish_reason = FinishReason::kNone;
  std::variant<std::monostate, std::string, std::int32_t> stop_reason;  // the stop string or token id
  std::string error;                // with kError
};

// The first delta of a request also carries what is known about the prompt.
struct PromptInfo {
  std::vector<std::int32_t> prompt_token_ids;
  std::vector<std::optional<TokenLogprob>> prompt_logprobs;  // when requested; the first is empty
};

// A request's outputs, in order. Blocks in next() until there is something to read; returns
// nullopt once every completion has finished and everything was read.
class OutputStream {
 public:
  explicit OutputStream(std::string request_id, std::int32_t n) : request_id_(std::move(request_id)), open_(n) {}
  const std::string& request_id() const { return request_id_; }

  std::optional<OutputDelta> next();
  // Like next() but gives up after `timeout` (returns nullopt and sets *timed_out).
  std::optional<OutputDelta> next_for(std::chrono::milliseconds timeout, bool* timed_out);
  // Never waits: the next delta if one is queued; otherwise nullopt, with *finished telling
  // whether the stream has ended (every completion finished and everything read).
  std::optional<OutputDelta> try_next(bool* finished);
  // Called (on the engine's thread, outside the stream's lock) after each push: event-driven
  // readers use it to wake up instead of blocking in next(). Set it before relying on it; a
  // delta pushed earlier is already queued.
  void set_listener(std::function<void()> listener);
  // Valid once the first delta arrived (or the stream finished).
  PromptInfo prompt_info();
  Usage usage();                   // final once finished()
  RequestMetrics metrics();        // final once finished()
  bool finished();

  // Engine side.
  void push(OutputDelta delta);
  void set_prompt_info(PromptInfo info);
  void set_final(Usage usage, RequestMetrics metrics);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string request_id_;
  std::deque<OutputDelta> queue_;
  std::function<void()> listener_;
  std::int32_t open_;              // completions not yet finished
  PromptInfo prompt_info_;
  Usage usage_;
  RequestMetrics metrics_;
};

struct EngineStats {
  std::int64_t num_running = 0;
  std::int64_t num_waiting = 0;
  std::int64_t num_kv_blocks = 0;
  std::int64_t num_free_kv_blocks = 0;
  double kv_usage = 0;             // used blocks / all blocks
  std::int64_t prefix_cache_queries = 0;  // blocks looked up
  std::int64_t prefix_cache_hits = 0;     // blocks found
  std::int64_t num_preemptions = 0;
  std::int64_t steps = 0;
  std::int64_t prompt_tokens = 0;  // computed (cache hits excluded)
  std::int64_t generation_tokens = 0;
  std::int64_t requests_finished = 0;
  std::vector<std::int64_t> tokens_per_step_histogram;  // buckets 1,2,4,...,2^k
  // Speculative decoding (vLLM's spec_decode counters): verification runs with at least one
  // draft, drafts proposed, drafts accepted, and accepted per draft position (index 0: first).
  std::int64_t spec_num_drafts = 0;
  std::int64_t spec_num_draft_tokens = 0;
  std::int64_t spec_num_accepted_tokens = 0;
  std::vector<std::int64_t> spec_accepted_per_pos;
};

struct ModelInfo {
  std::string architecture;
  std::string dtype;
  std::int64_t max_model_len = 0;
  std::int64_t vocab_size = 0;
  std::int64_t num_parameters = 0;
  std::int64_t num_kv_blocks = 0;
  std::int64_t block_size = 0;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const EngineConfig& config);
  virtual ~Engine() = default;

  // Validates and queues a request. A bad request is an error here and touches nothing else.
  virtual Result<std::shared_ptr<OutputStream>> submit(GenerateRequest request) = 0;
  // Aborts a queued or running request (its stream ends with finish reason "abort").
  virtual void abort(const std::string& request_id) = 0;
  virtual EngineStats stats() = 0;
  virtual ModelInfo model_info() const = 0;
  // Renders and tokenizes a prompt as submit() would (for /tokenize and the token counts).
  virtual Result<std::vector<std::int32_t>> tokenize_prompt(const Prompt& prompt) = 0;
  // Aborts everything and stops the loop; called by the destructor too.
  virtual void shutdown() = 0;
  // false once the engine loop died (an internal error): front ends report unhealthy.
  virtual bool healthy() const = 0;
};

// Tensor parallelism: `mpirun -np N ferrite serve|generate|bench ... --tensor-parallel-size N`
// starts N processes with the same flags. Rank 0 calls Engine::create (and runs the front ends);
// ranks 1..N-1, for which is_engine_worker() is true, call run_engine_worker instead, which holds
// their shard of the model and follows rank 0's steps until rank 0's engine shuts down (OK), or
// fails to load (an error, on every rank). A failed collective ends the whole job (MPI_Abort).
bool is_engine_worker(const EngineConfig& config);
Status run_engine_worker(const EngineConfig& config);

}  // namespace ferrite
