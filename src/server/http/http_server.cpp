// Routing, authentication, error bodies for what the library answers itself (404, 405, 413),
// and the server's lifecycle. cpp-httplib serves each connection on a pool thread; a streaming
// response holds its thread until the request ends (see ServerConfig::http_threads).
#include "server/http/http_server.h"

#include <set>
#include <thread>

#include "base/logging.h"
#include "ferrite/version.h"
#include "server/http/internal.h"

namespace ferrite::server {

namespace {

const std::set<std::string> kKnownPaths = {"/v1/completions", "/v1/chat/completions", "/v1/models", "/tokenize",
                                           "/detokenize",     "/health",              "/metrics",   "/version"};

}  // namespace

struct HttpServer::Impl {
  httplib::Server svr;
  int port = -1;
};

HttpServer::HttpServer(ServerConfig config) : state_(std::make_shared<ServerState>()), impl_(std::make_unique<Impl>()) {
  if (config.served_model_names.empty()) config.served_model_names.push_back("ferrite");
  state_->config = std::move(config);
  state_->created = unix_now();
  auto& svr = impl_->svr;
  const int threads = std::max(4, state_->config.http_threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  svr.set_payload_max_length(static_cast<std::size_t>(std::max<std::int64_t>(1, state_->config.max_request_bytes)));
  // Idle keep-alive connections hold a pool thread; a short wait bounds how long shutdown takes.
  svr.set_keep_alive_timeout(2);
  ServerState* st = state_.get();

  svr.set_pre_routing_handler([st](const httplib::Request& req, httplib::Response& res) {
    if (st->config.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    if (bearer_matches(req.get_header_value("Authorization"), st->config.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, {401, kApiKeyMessage, "AuthenticationError", "", "invalid_api_key"});
    FERRITE_LOG_INFO("- {} {} 401", req.method, req.path);
    return httplib::Server::HandlerResponse::Handled;
  });

  // The library's own errors (no route, body too large, unreadable request) get OpenAI bodies.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e;
    e.http = res.status;
    if (res.status == 404) {
      const bool known = kKnownPaths.count(req.path) > 0 || req.path.rfind("/v1/models/", 0) == 0;
      if (known) {
        e.http = 405;
        e.type = "MethodNotAllowed";
        e.message = "method " + req.method + " is not allowed on " + req.path;
      } else {
        e.type = "NotFoundError";
        e.message = "no route " + req.method + " " + req.path;
      }
    } else if (res.status == 413) {
      e.type = "RequestTooLarge";
      e.message = "the request body is larger than --max-request-bytes";
    } else if (res.status >= 500) {
      e.type = "InternalServerError";
      e.message = "internal server error";
    } else {
      e.message = "bad request";
    }
    send_error(res, e);
    FERRITE_LOG_INFO("- {} {} {}", req.method, req.path, e.http);
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    FERRITE_LOG_ERROR("{} {}: handler threw: {}", req.method, req.path, what);
    send_error(res, {500, "internal server error: " + what, "InternalServerError", "", ""});
  });

  auto bind_handler = [st](void (*h)(ServerState&, const httplib::Request&, httplib::Response&)) {
    return [st, h](const httplib::Request& req, httplib::Response& res) { h(*st, req, res); };
  };
  svr.Post("/v1/completions", bind_handler(handle_completions));
  svr.Post("/v1/chat/completions", bind_handler(handle_chat_completions));
  svr.Get("/v1/models", bind_handler(handle_models));
  svr.Get(R"(/v1/models/(.+))", bind_handler(handle_models));
  svr.Post("/tokenize", bind_handler(handle_tokenize));
  svr.Post("/detokenize", bind_handler(handle_detokenize));
  svr.Get("/health", bind_handler(handle_health));
  svr.Get("/metrics", bind_handler(handle_metrics));
  svr.Get("/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump(Json{{"version", FERRITE_VERSION_STRING}}), "application/json");
  });
}

HttpServer::~HttpServer() { impl_->svr.stop(); }

Result<int> HttpServer::bind() {
  auto& svr = impl_->svr;
  const auto& c = state_->config;
  if (c.port == 0) {
    const int port = svr.bind_to_any_port(c.host);
    if (port < 0) return Status(StatusCode::kUnavailable, "cannot listen on " + c.host + " (any port)");
    impl_->port = port;
  } else {
    if (!svr.bind_to_port(c.host, c.port))
      return Status(StatusCode::kUnavailable, "cannot listen on " + c.host + ":" + std::to_string(c.port) +
                                                  " (in use, or not an address of this machine)");
    impl_->port = c.port;
  }
  return impl_->port;
}

int HttpServer::port() const { return impl_->port; }

Status HttpServer::serve() {
  if (!impl_->svr.listen_after_bind()) return internal_error("the HTTP listener stopped with an error");
  return ok_status();
}

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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (state_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (state_->in_flight.load() > 0) {
    FERRITE_LOG_WARN("shutdown: ending {} request(s) still running after the shutdown timeout", state_->in_flight.load());
    state_->force_abort = true;
    // Each ends within an engine step and a wait of its handler.
    const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (state_->in_flight.load() > 0 && std::chrono::steady_clock::now() < hard)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  impl_->svr.stop();
}

std::int64_t HttpServer::in_flight() const { return state_->in_flight.load(); }

}  // namespace ferrite::server
