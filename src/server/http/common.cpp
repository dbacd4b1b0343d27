#include <cmath>
#include <cstdio>

#include "base/logging.h"
#include "server/http/internal.h"

namespace ferrite::server {

ApiError bad_request(std::string message, std::string param) {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError api_error_from(const Status& st) {
  ApiError e;
  e.message = st.message();
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnimplemented:
      e.http = 400;
      e.type = "BadRequestError";
      break;
    case StatusCode::kNotFound:
      e.http = 404;
      e.type = "NotFoundError";
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
      e.http = 503;
      e.type = "ServiceUnavailableError";
      break;
    default:
      e.http = 500;
      e.type = "InternalServerError";
      break;
  }
  return e;
}

Json error_json(const ApiError& e) {
  Json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return Json{{"error", err}};
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void send_error(HttpResponse& res, const ApiError& e) {
  res.status = e.http;
  if (e.http == 503) res.set_header("Retry-After", "1");
  res.set_content(dump(error_json(e)), "application/json");
}

std::optional<Ready> ready_or_error(ServerState& st, HttpResponse& res, bool generating) {
  if (generating && st.draining.load()) {
    send_error(res, {503, kShuttingDownMessage, "ServiceUnavailableError", "", ""});
    return std::nullopt;
  }
  if (!st.ready.load()) {
    send_error(res, {503, kLoadingMessage, "ServiceUnavailableError", "", ""});
    return std::nullopt;
  }
  Ready r;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    r.engine = st.engine;
    r.tokenizer = st.tokenizer;
    r.info = st.info;
    r.metrics = st.metrics.get();
  }
  if (!r.engine->healthy()) {
    send_error(res, {503, kEngineStoppedMessage, "ServiceUnavailableError", "", ""});
    return std::nullopt;
  }
  return r;
}

std::optional<ApiError> parse_body(const std::string& body, OJson* ordered, Body* plain) {
  *ordered = OJson::parse(body, nullptr, false);
  if (ordered->is_discarded())
    return bad_request("the request body is not valid JSON (or not valid UTF-8)");
  if (!ordered->is_object()) return bad_request("the request body must be a JSON object");
  *plain = Body::parse(body, nullptr, false);
  return std::nullopt;
}

std::optional<ApiError> check_model(const ServerState& st, const Body& body) {
  if (!body.contains("model") || body.at("model").is_null()) return std::nullopt;
  if (!body.at("model").is_string()) return bad_request("'model' must be a string", "model");
  const Status found = check_served_model(st.config.served_model_names, body.at("model").get<std::string>());
  if (found.ok()) return std::nullopt;
  return ApiError{404, found.message(), "NotFoundError", "model", "model_not_found"};
}

bool read_json_request(const ServerState& st, const HttpRequest& req, HttpResponse& res, OJson* ordered,
                       Body* plain) {
  auto e = parse_body(req.body, ordered, plain);
  if (!e) e = check_model(st, *plain);
  if (e) send_error(res, *e);
  return !e;
}

std::string new_id(ServerState& st, const char* prefix) {
  // Unique across restarts too: the start time and a counter.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%llx%06llx", prefix, static_cast<unsigned long long>(st.created),
                static_cast<unsigned long long>(++st.id_counter));
  return buf;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string token_text(const tokenizer::Tokenizer* tok, std::int32_t id) {
  if (tok == nullptr) return "token_id:" + std::to_string(id);
  const std::int32_t ids[1] = {id};
  return tok->decode(std::span<const std::int32_t>(ids, 1), false);
}

Json token_bytes(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

double finite_logprob(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

Json usage_json(std::int64_t prompt, std::int64_t completion, std::int64_t cached) {
  return Json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

GenerationRun::GenerationRun(ServerState& st, Ready ready)
    : st_(st), ready_(std::move(ready)), start_(std::chrono::steady_clock::now()) {}

GenerationRun::~GenerationRun() {
  // Normally every stream has finished (the loop pumps a body, even a cancelled one, until
  // then); if not (the server is stopping), the requests are aborted so their blocks return.
  for (std::size_t i = 0; i < streams_.size(); ++i)
    if (!done_[i]) ready_.engine->abort(streams_[i]->request_id());
  if (counted_) --st_.in_flight;
}

std::optional<ApiError> GenerationRun::submit(std::vector<GenerateRequest> requests) {
  if (Status q = check_queue(*ready_.engine, st_.config.max_queue_len, st_.in_flight.load(), st_.config.max_num_seqs);
      !q.ok())
    return api_error_from(q);
  for (auto& r : requests) {
    const std::int32_t n = r.sampling.n;
    auto stream = ready_.engine->submit(std::move(r));
    if (!stream.ok()) {
      abort_all("");
      for (std::size_t i = 0; i < streams_.size(); ++i) done_[i] = true;  // aborted, not counted
      return api_error_from(stream.status());
    }
    streams_.push_back(*stream);
    n_.push_back(n);
    done_.push_back(false);
    reasons_.emplace_back();
    last_token_time_.emplace_back(static_cast<std::size_t>(n), -1.0);
  }
  counted_ = true;
  ++st_.in_flight;
  return std::nullopt;
}

void GenerationRun::set_wake(const std::function<void()>& wake) {
  for (auto& s : streams_) s->set_listener(wake);
}

void GenerationRun::abort_all(const std::string& reason) {
  if (cut_reason_.empty()) cut_reason_ = reason.empty() ? "aborted" : reason;
  for (std::size_t i = 0; i < streams_.size(); ++i)
    if (!done_[i]) ready_.engine->abort(streams_[i]->request_id());
}

void GenerationRun::on_finished(std::size_t i) {
  done_[i] = true;
  if (ready_.metrics) ready_.metrics->observe_request(streams_[i]->usage(), streams_[i]->metrics(), reasons_[i]);
}

void GenerationRun::check_cut() {
  if (!cut_reason_.empty()) return;
  if (st_.force_abort.load()) {
    abort_all(kShuttingDownMessage);
  } else if (st_.config.request_timeout_s > 0 && elapsed_seconds() > st_.config.request_timeout_s) {
    abort_all("the request ran past --request-timeout");
  }
}

double GenerationRun::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

Json GenerationRun::usage() const {
  std::int64_t p = 0, c = 0, cached = 0;
  for (const auto& s : streams_) {
    const Usage u = s->usage();
    p += u.prompt_tokens;
    c += u.completion_tokens;
    cached += u.cached_prompt_tokens;
  }
  return usage_json(p, c, cached);
}

RunEvent GenerationRun::take(std::size_t i, OutputDelta d) {
  if (!d.token_ids.empty()) {
    const double now = elapsed_seconds();
    if (ttft_ < 0) ttft_ = now;
    double& last = last_token_time_[i][static_cast<std::size_t>(d.index)];
    if (last >= 0 && ready_.metrics)
      ready_.metrics->observe_inter_token(now - last, static_cast<std::int64_t>(d.token_ids.size()));
    last = now;
  }
  if (d.finish_reason != FinishReason::kNone) reasons_[i].push_back(d.finish_reason);
  RunEvent e;
  e.prompt_index = static_cast<std::int32_t>(i);
  e.choice = static_cast<std::int32_t>(i) * n_[i] + d.index;
  e.delta = std::move(d);
  return e;
}

RunPoll GenerationRun::poll(RunEvent* out) {
  const std::size_t k = streams_.size();
  bool open = false;
  // Round robin over the prompts, so one long prompt's output does not starve the others.
  for (std::size_t step = 0; step < k; ++step) {
    const std::size_t i = (next_stream_ + step) % k;
    if (done_[i]) continue;
    bool finished = false;
    auto d = streams_[i]->try_next(&finished);
    if (d) {
      next_stream_ = (i + 1) % k;
      *out = take(i, std::move(*d));
      return RunPoll::kEvent;
    }
    if (finished) on_finished(i);
    else open = true;
  }
  return open ? RunPoll::kPending : RunPoll::kDone;
}

bool GenerationBody::pump(HttpResponse& res) {
  if (done_) return true;
  RunEvent e;
  for (;;) {
    switch (run_->poll(&e)) {
      case RunPoll::kEvent:
        if (!cancelled_) on_event(e, res);
        continue;
      case RunPoll::kPending:
        return false;
      case RunPoll::kDone: {
        done_ = true;
        const Json usage = run_->usage();
        // 499: the client closed the request (nginx's code), for the log only.
        const int status = cancelled_ ? 499 : on_done(res);
        log_access(id_, path_, status, usage["prompt_tokens"], usage["completion_tokens"], run_->first_token_seconds(),
                   run_->elapsed_seconds());
        return true;
      }
    }
  }
}

int GenerationBody::end_stream(HttpResponse& res, Json usage_chunk) {
  if (run_->cut_reason() == kShuttingDownMessage)
    sse_append(&res.body, error_json({503, run_->cut_reason(), "ServiceUnavailableError", "", ""}));
  if (!usage_chunk.is_null()) {
    usage_chunk["usage"] = run_->usage();
    sse_append(&res.body, usage_chunk);
  }
  sse_append_done(&res.body);
  return 200;
}

int GenerationBody::whole_error(HttpResponse& res, const std::string& engine_error) {
  if (!engine_error.empty()) {
    send_error(res, {500, engine_error, "InternalServerError", "", ""});
    return 500;
  }
  if (run_->cut_reason() == kShuttingDownMessage) {
    send_error(res, {503, run_->cut_reason(), "ServiceUnavailableError", "", ""});
    return 503;
  }
  return 0;
}

void respond_async(HttpResponse& res, bool stream, std::shared_ptr<GenerationBody> body) {
  res.stream = stream;
  if (stream) {
    res.content_type = "text/event-stream";
    res.set_header("Cache-Control", "no-cache");
  }
  res.async = std::move(body);
}

void GenerationBody::cancel() {
  cancelled_ = true;
  run_->abort_all("the client went away");
}

}  // namespace ferrite::server

namespace ferrite::server {

std::optional<ApiError> read_stream_options(const Body& b, StreamOptions* out) {
  if (b.contains("stream") && !b.at("stream").is_null()) {
    if (!b.at("stream").is_boolean()) return bad_request("'stream' must be a boolean", "stream");
    out->stream = b.at("stream").get<bool>();
  }
  if (b.contains("stream_options") && !b.at("stream_options").is_null()) {
    const Body& so = b.at("stream_options");
    if (!out->stream) return bad_request("'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (!so.is_object()) return bad_request("'stream_options' must be an object", "stream_options");
    for (const auto& [key, dst] : {std::pair<const char*, bool*>{"include_usage", &out->include_usage},
                                   {"continuous_usage_stats", &out->continuous_usage}}) {
      if (!so.contains(key) || so.at(key).is_null()) continue;
      if (!so.at(key).is_boolean()) return bad_request(std::string("'stream_options.") + key + "' must be a boolean", "stream_options");
      *dst = so.at(key).get<bool>();
    }
  }
  return std::nullopt;
}

std::optional<ApiError> check_response_format(const Body& b) {
  if (!b.contains("response_format") || b.at("response_format").is_null()) return std::nullopt;
  const Body& rf = b.at("response_format");
  if (rf.is_object() && rf.contains("type") && rf.at("type") == "text") return std::nullopt;
  return bad_request("response_format other than {\"type\": \"text\"} is not supported yet (structured output is "
                     "not built); the request was refused rather than answered unconstrained",
                     "response_format");
}

std::optional<ApiError> read_request_extras(const Body& b, std::int32_t* priority, std::string* request_id) {
  if (b.contains("priority") && !b.at("priority").is_null()) {
    const Body& p = b.at("priority");
    if (!p.is_number_integer() || p.get<std::int64_t>() < INT32_MIN || p.get<std::int64_t>() > INT32_MAX)
      return bad_request("'priority' must be an integer", "priority");
    *priority = static_cast<std::int32_t>(p.get<std::int64_t>());
  }
  if (b.contains("request_id") && !b.at("request_id").is_null()) {
    if (!b.at("request_id").is_string() || b.at("request_id").get<std::string>().empty())
      return bad_request("'request_id' must be a non-empty string", "request_id");
    *request_id = b.at("request_id").get<std::string>();
  }
  return std::nullopt;
}

Json stop_reason_json(const OutputDelta& d) {
  if (const auto* s = std::get_if<std::string>(&d.stop_reason)) return *s;
  if (const auto* id = std::get_if<std::int32_t>(&d.stop_reason)) return *id;
  return nullptr;
}

void sse_append(std::string* out, const Json& j) {
  *out += "data: ";
  *out += dump(j);
  *out += "\n\n";
}

void sse_append_done(std::string* out) { *out += "data: [DONE]\n\n"; }

void log_access(const std::string& id, const std::string& path, int status, std::int64_t prompt_tokens,
                std::int64_t completion_tokens, double ttft_s, double total_s) {
  FERRITE_LOG_INFO("{} {} {} prompt_tokens={} completion_tokens={} ttft={:.3f}s total={:.3f}s", id, path, status,
                   prompt_tokens, completion_tokens, ttft_s < 0 ? 0.0 : ttft_s, total_s);
}

}  // namespace ferrite::server
