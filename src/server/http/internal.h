// What the HTTP handlers share: server state, OpenAI error bodies, JSON helpers, and
// GenerationRun (one HTTP request's engine requests, read as one ordered stream of deltas).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ferrite/engine.h"
#include "server/common/serving.h"
#include "server/http/http_server.h"
#include "server/http/metrics.h"
#include "server/http/http_io.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::server {

// Responses keep the key order they are built in (id first, as OpenAI and vLLM write them);
// request bodies are read both ordered (chat messages) and plain (sampling_params_from_json).
using Json = nlohmann::ordered_json;
using OJson = nlohmann::ordered_json;
using Body = nlohmann::json;

struct ServerState {
  ServerConfig config;
  std::mutex mu;  // guards engine, tokenizer, info, metrics (set once by set_ready)
  std::shared_ptr<Engine> engine;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  ModelInfo info;
  std::unique_ptr<Metrics> metrics;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};     // refuse new generation requests
  std::atomic<bool> force_abort{false};  // end the in-flight ones now
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> id_counter{0};
  std::int64_t created = 0;              // unix time the server started (/v1/models)

  const std::string& model_name() const { return config.served_model_names.front(); }
};

// An OpenAI error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int http = 400;
  std::string message;
  std::string type = "BadRequestError";
  std::string param;  // empty: null
  std::string code;   // empty: null
};

ApiError bad_request(std::string message, std::string param = "");
ApiError api_error_from(const Status& st);
Json error_json(const ApiError& e);
void send_error(HttpResponse& res, const ApiError& e);
std::string dump(const Json& j);  // invalid UTF-8 replaced, never throws

// The engine and its companions once ready, or the 503/404 that says why not.
struct Ready {
  std::shared_ptr<Engine> engine;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  ModelInfo info;
  Metrics* metrics = nullptr;
};
std::optional<Ready> ready_or_error(ServerState& st, HttpResponse& res, bool generating);

// Parses the body as a JSON object into both an ordered copy (chat messages keep their key order
// for the template, as HF does) and a plain one (for sampling_params_from_json).
std::optional<ApiError> parse_body(const std::string& body, OJson* ordered, Body* plain);
// 404 model_not_found unless "model" is absent or one of the served names.
std::optional<ApiError> check_model(const ServerState& st, const Body& body);
// parse_body + check_model; on failure sends the error response and returns false.
bool read_json_request(const ServerState& st, const HttpRequest& req, HttpResponse& res, OJson* ordered,
                       Body* plain);
std::string new_id(ServerState& st, const char* prefix);
std::int64_t unix_now();

// A token's text for logprobs (the engine's ids, decoded alone), or "token_id:N" without a tokenizer.
std::string token_text(const tokenizer::Tokenizer* tok, std::int32_t id);
Json token_bytes(const std::string& s);
double finite_logprob(float lp);  // -inf becomes -9999.0, as OpenAI documents

Json usage_json(std::int64_t prompt, std::int64_t completion, std::int64_t cached);

// Fields both generation endpoints read besides the sampling ones.
struct StreamOptions {
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
};
std::optional<ApiError> read_stream_options(const Body& body, StreamOptions* out);
// 400 unless response_format is absent or {"type": "text"}: constrained output is not built yet.
std::optional<ApiError> check_response_format(const Body& body);
// priority and request_id, the vLLM extras every generation request may carry.
std::optional<ApiError> read_request_extras(const Body& body, std::int32_t* priority, std::string* request_id);
Json stop_reason_json(const OutputDelta& d);
// One server-sent event ("data: {json}\n\n") and the closing "data: [DONE]\n\n".
void sse_append(std::string* out, const Json& j);
void sse_append_done(std::string* out);
void log_access(const std::string& id, const std::string& path, int status, std::int64_t prompt_tokens,
                std::int64_t completion_tokens, double ttft_s, double total_s);

void handle_completions(ServerState& st, const HttpRequest& req, HttpResponse& res);
void handle_chat_completions(ServerState& st, const HttpRequest& req, HttpResponse& res);
void handle_models(ServerState& st, const HttpRequest& req, HttpResponse& res);
void handle_tokenize(ServerState& st, const HttpRequest& req, HttpResponse& res);
void handle_detokenize(ServerState& st, const HttpRequest& req, HttpResponse& res);
void handle_health(ServerState& st, const HttpRequest& req, HttpResponse& res);
void handle_metrics(ServerState& st, const HttpRequest& req, HttpResponse& res);

// One delta of one choice of an HTTP request.
struct RunEvent {
  std::int32_t prompt_index = 0;
  std::int32_t choice = 0;  // prompt_index * n + the completion's index
  OutputDelta delta;
};

enum class RunPoll { kEvent, kPending, kDone };

// Drives the engine requests of one HTTP request (one per prompt of a batch), merges their
// deltas in arrival order, and aborts them on request (client gone), on --request-timeout and
// when the server ends in-flight work at shutdown. Never blocks: the event loop polls it.
class GenerationRun {
 public:
  GenerationRun(ServerState& st, Ready ready);
  ~GenerationRun();  // aborts whatever is unfinished
  GenerationRun(const GenerationRun&) = delete;
  GenerationRun& operator=(const GenerationRun&) = delete;

  // Submits every request; on an error aborts those already queued.
  std::optional<ApiError> submit(std::vector<GenerateRequest> requests);
  // Called from the engine's thread whenever any of the requests has new output.
  void set_wake(const std::function<void()>& wake);
  // The next delta if one is ready; kDone once every completion has finished.
  RunPoll poll(RunEvent* out);
  // Timeout and shutdown checks (called about every 50 ms).
  void check_cut();
  void abort_all(const std::string& reason);

  const std::vector<std::shared_ptr<OutputStream>>& streams() const { return streams_; }
  // Why the run was cut short ("" when it was not): client gone, timeout, shutdown.
  const std::string& cut_reason() const { return cut_reason_; }
  double first_token_seconds() const { return ttft_; }
  double elapsed_seconds() const;
  Json usage() const;  // summed over the prompts

 private:
  void on_finished(std::size_t i);
  RunEvent take(std::size_t i, OutputDelta d);

  ServerState& st_;
  Ready ready_;
  std::vector<std::shared_ptr<OutputStream>> streams_;
  std::vector<std::int32_t> n_;
  std::vector<bool> done_;
  std::vector<std::vector<FinishReason>> reasons_;
  std::vector<std::vector<double>> last_token_time_;  // per stream, per completion
  std::size_t next_stream_ = 0;
  std::string cut_reason_;
  std::chrono::steady_clock::time_point start_;
  double ttft_ = -1;
  bool counted_ = false;
};

// The AsyncBody of a generation request: feeds the run's deltas to on_event (an SSE chunk, or
// accumulation for one JSON body) and ends with on_done. A cancelled body (client gone) only
// drains the run so its requests end and their KV blocks return, then logs the request.
class GenerationBody : public AsyncBody {
 public:
  GenerationBody(std::shared_ptr<GenerationRun> run, std::string id, std::string path)
      : run_(std::move(run)), id_(std::move(id)), path_(std::move(path)) {}
  void set_wake(std::function<void()> wake) override { run_->set_wake(wake); }
  bool pump(HttpResponse& res) override;
  void tick() override { run_->check_cut(); }
  void cancel() override;

 protected:
  virtual void on_event(RunEvent& e, HttpResponse& res) = 0;
  // Completes the response; returns the status for the access log.
  virtual int on_done(HttpResponse& res) = 0;
  // The end of a stream: the shutdown error event if the server cut the run, then the usage chunk
  // (`usage_chunk` with "usage" added; null: none) and [DONE]. Returns 200.
  int end_stream(HttpResponse& res, Json usage_chunk);
  // For a whole response: sends 500 for an engine error or 503 if the server cut the run at
  // shutdown and returns that status; 0 when the body should be built.
  int whole_error(HttpResponse& res, const std::string& engine_error);

  std::shared_ptr<GenerationRun> run_;
  std::string id_, path_;

 private:
  bool cancelled_ = false;
  bool done_ = false;
};

// Hands a generation body to the event loop: SSE (chunked, no-cache) or one JSON body at the end.
void respond_async(HttpResponse& res, bool stream, std::shared_ptr<GenerationBody> body);

}  // namespace ferrite::server
