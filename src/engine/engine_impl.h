// The engine's internals: request bookkeeping around the scheduler, the model runner and the
// sampler, driven by one loop thread. Front-end threads only touch the inbox under mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/backend.h"
#include "chat/chat_template.h"
#include "engine/stop_checker.h"
#include "ferrite/engine.h"
#include "kv/block_pool.h"
#include "model/model.h"
#include "runtime/model_runner.h"
#include "runtime/tensor_parallel.h"
#include "sample/sampler.h"
#include "sched/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::engine {

// One completion of a request: its sequence in the scheduler and its output state.
struct Completion {
  std::int64_t seq_id = -1;
  std::int32_t index = 0;
  sample::Rng rng;
  sample::Rng draft_rng;  // a draft model's own draws (speculative decoding), apart from rng's stream
  std::unique_ptr<tokenizer::IncrementalDetokenizer> detok;
  std::unique_ptr<StopChecker> stop;
  std::vector<std::int32_t> output;  // generated ids (the sequence's tokens after the prompt)
  bool finished = false;
};

struct Request {
  std::string id;
  SamplingParams params;
  std::int32_t priority = 0;
  std::vector<std::int32_t> prompt;
  std::int64_t max_total_len = 0;
  std::shared_ptr<OutputStream> stream;
  std::vector<Completion> completions;
  RequestMetrics metrics;
  Usage usage;
  bool prompt_info_sent = false;
  std::vector<std::optional<TokenLogprob>> prompt_logprobs;
  std::int64_t open = 0;  // completions not finished
};

// The model-loading options and the tensor-parallel options of an engine configuration
// (worker.cpp; Engine::create and run_engine_worker read the same flags the same way).
Result<model::LoadOptions> load_options(const EngineConfig& config);
Result<runtime::ParallelOptions> parallel_options(const EngineConfig& config);

class EngineImpl final : public Engine {
 public:
  ~EngineImpl() override;
  static Result<std::unique_ptr<EngineImpl>> create(const EngineConfig& config);

  Result<std::shared_ptr<OutputStream>> submit(GenerateRequest request) override;
  void abort(const std::string& request_id) override;
  EngineStats stats() override;
  ModelInfo model_info() const override { return info_; }
  Result<std::vector<std::int32_t>> tokenize_prompt(const Prompt& prompt) override;
  void shutdown() override;
  bool healthy() const override { return healthy_.load(); }

  // Runs one engine step on the calling thread (for tests that drive the engine by hand);
  // returns false when there was nothing to do.
  bool step_for_test();

 private:
  EngineImpl() = default;
  double now() const;
  Status validate_and_prepare(GenerateRequest& request, std::unique_ptr<Request>* out);
  void apply_generation_defaults(SamplingParams& p) const;
  void loop();
  bool step();
  void drain_inbox();
  // Speculative decoding around schedule(): lookahead_before_schedule() asks for draft slots (and
  // makes the n-gram drafts); attach_drafts() fits the drafts to the slots the plan gave, running
  // the draft model when there is one (its KV follows every token the target computes).
  void lookahead_before_schedule();
  Status attach_drafts(sched::StepPlan& plan);
  Status run_draft_model(const sched::StepPlan& plan);
  // Emits a completion's new tokens (one delta): stop checks token by token, in vLLM's order;
  // returns how many were emitted (tokens after a stop are dropped).
  std::int64_t emit_tokens(Request& r, Completion& c, sched::Sequence* seq, std::span<const std::int32_t> tokens,
                   std::vector<TokenLogprob> logprobs);
  void fail_requests_of(const sched::StepPlan& plan, const std::string& error);
  void finish_completion(Request& r, Completion& c, FinishReason reason,
                         std::variant<std::monostate, std::string, std::int32_t> stop_reason, std::string text,
                         std::vector<std::int32_t> tokens, std::vector<TokenLogprob> logprobs,
                         std::string error = "");
  void finish_request_with(Request& r, FinishReason reason, const std::string& error);
  // Copies the scheduler's and pool's numbers into stats_ (takes mu_). Called at the end of each
  // step and before a request's last delta, so a reader who saw a request end sees its blocks back.
  void publish_stats();

  EngineConfig config_;
  ModelInfo info_;
  std::unique_ptr<backend::Backend> backend_;
  std::unique_ptr<model::CausalLM> model_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  std::optional<chat::ChatTemplateSet> templates_;
  Status template_status_;
  model::GenerationConfig generation_config_;
  std::vector<std::int32_t> eos_ids_;
  std::unique_ptr<kv::BlockPool> pool_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  std::unique_ptr<runtime::ModelRunner> runner_;
  std::unique_ptr<model::CausalLM> draft_model_;         // speculative method draft_model
  std::unique_ptr<runtime::ModelRunner> draft_runner_;   // its KV cache, same block ids as the target's
  std::vector<float> draft_q_;                           // q rows of this step's drafts [seqs x k x vocab]
  std::vector<std::int64_t> draft_q_offset_;             // per plan entry: its first q row, or -1
  std::vector<float> draft_row_;                         // scratch: one draft logits row
  sample::Rng seed_rng_;

  // Loop-thread state.
  std::unordered_map<std::string, std::unique_ptr<Request>> requests_;
  std::unordered_map<std::int64_t, std::pair<Request*, Completion*>> by_seq_;
  std::int64_t next_seq_id_ = 0;

  // Shared with front-end threads.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Request>> inbox_;
  std::unordered_set<std::string> abort_inbox_;
  std::unordered_set<std::string> live_ids_;  // submitted and not yet finished
  std::uint64_t request_counter_ = 0;
  bool stop_ = false;
  EngineStats stats_;
  std::atomic<bool> healthy_{true};
  std::thread thread_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace ferrite::engine
