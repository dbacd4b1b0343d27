// Routing, authentication, the error bodies for what the I/O layer answers itself, and the
// server's lifecycle over HttpIo (one event loop, a few handler threads).
#include "server/http/http_server.h"

#include <thread>

#include "base/logging.h"
#include "ferrite/version.h"
#include "server/http/internal.h"

namespace ferrite::server {

namespace {

using Handler = void (*)(ServerState&, const HttpRequest&, HttpResponse&);

void handle_version(ServerState&, const HttpRequest&, HttpResponse& res) {
  res.set_content(dump(Json{{"version", FERRITE_VERSION_STRING}}), "application/json");
}

struct Route {
  const char* method;
  const char* path;
  Handler handler;
};

constexpr Route kRoutes[] = {
    {"POST", "/v1/completions", handle_completions},
    {"POST", "/v1/chat/completions", handle_chat_completions},
    {"GET", "/v1/models", handle_models},
    {"POST", "/tokenize", handle_tokenize},
    {"POST", "/detokenize", handle_detokenize},
    {"GET", "/health", handle_health},
    {"GET", "/metrics", handle_metrics},
    {"GET", "/version", handle_version},
};
constexpr const char* kModelPrefix = "/v1/models/";

ApiError error_for_status(int status, const std::string& message) {
  ApiError e;
  e.http = status;
  e.message = message;
  switch (status) {
    case 413: e.type = "RequestTooLarge"; break;
    case 503: e.type = "ServiceUnavailableError"; break;
    case 408: e.type = "RequestTimeout"; break;
    default: e.type = status >= 500 ? "InternalServerError" : "BadRequestError"; break;
  }
  return e;
}

void route(ServerState& st, const HttpRequest& in, HttpResponse& res) {
  if (!st.config.api_key.empty() && in.path.rfind("/v1/", 0) == 0 &&
      !bearer_matches(in.header("authorization"), st.config.api_key)) {
    send_error(res, {401, kApiKeyMessage, "AuthenticationError", "", "invalid_api_key"});
    FERRITE_LOG_INFO("- {} {} 401", in.method, in.path);
    return;
  }
  // HEAD is GET without the body.
  const std::string method = in.method == "HEAD" ? "GET" : in.method;
  bool path_known = false;
  for (const Route& r : kRoutes) {
    if (in.path != r.path) continue;
    path_known = true;
    if (method == r.method) return r.handler(st, in, res);
  }
  if (in.path.rfind(kModelPrefix, 0) == 0 && in.path.size() > std::string_view(kModelPrefix).size()) {
    path_known = true;
    if (method == "GET") {
      HttpRequest req = in;
      req.path_param = in.path.substr(std::string_view(kModelPrefix).size());
      return handle_models(st, req, res);
    }
  }
  ApiError e;
  if (path_known) {
    e = {405, "method " + in.method + " is not allowed on " + in.path, "MethodNotAllowed", "", ""};
  } else {
    e = {404, "no route " + in.method + " " + in.path, "NotFoundError", "", ""};
  }
  send_error(res, e);
  FERRITE_LOG_INFO("- {} {} {}", in.method, in.path, e.http);
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpIoConfig cfg, ServerState* st)
      : io(std::move(cfg), [st](const HttpRequest& req, HttpResponse& res) { route(*st, req, res); },
           [](int status, const std::string& message, HttpResponse& res) {
             send_error(res, error_for_status(status, message));
           }) {}
  HttpIo io;
  int port = -1;
};

HttpServer::HttpServer(ServerConfig config) : state_(std::make_shared<ServerState>()) {
  if (config.served_model_names.empty()) config.served_model_names.push_back("ferrite");
  state_->config = std::move(config);
  state_->created = unix_now();
  const auto& c = state_->config;
  HttpIoConfig io;
  io.host = c.host;
  io.port = c.port;
  io.max_body_bytes = std::max<std::int64_t>(1, c.max_request_bytes);
  io.workers = std::max(1, c.http_workers);
  io.max_connections = c.max_connections;
  impl_ = std::make_unique<Impl>(io, state_.get());
}

HttpServer::~HttpServer() { impl_->io.stop(); }

Result<int> HttpServer::bind() {
  FERRITE_ASSIGN_OR_RETURN(impl_->port, impl_->io.bind());
  return impl_->port;
}

int HttpServer::port() const { return impl_->port; }

Status HttpServer::serve() { return impl_->io.run(); }

void HttpServer::set_ready(std::shared_ptr<Engine> engine, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                           ModelInfo info) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->engine = std::move(engine);
    state_->tokenizer = std::move(tokenizer);
    state_->metrics = std::make_unique<Metrics>(state_->config.metrics_prefix, state_->model_name(), info.max_model_len);
    state_->info = info;
  }
  state_->ready = true;
}

void HttpServer::drain(std::chrono::milliseconds timeout) {
  state_->draining = true;
  impl_->io.stop_accepting();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (state_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (state_->in_flight.load() > 0) {
    FERRITE_LOG_WARN("shutdown: ending {} request(s) still running after the shutdown timeout", state_->in_flight.load());
    state_->force_abort = true;
    // Each ends within an engine step and a tick of the event loop.
    const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (state_->in_flight.load() > 0 && std::chrono::steady_clock::now() < hard)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  impl_->io.stop();
}

std::int64_t HttpServer::connections() const { return impl_->io.connections(); }

std::int64_t HttpServer::in_flight() const { return state_->in_flight.load(); }

}  // namespace ferrite::server
