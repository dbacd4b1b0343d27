// The OpenAI-compatible HTTP front end (vLLM's routes and JSON shapes) over ferrite::Engine.
//
//   HttpServer server(config);
//   auto port = server.bind();              // listening (port 0: any free port)
//   std::thread t([&] { server.serve(); });  // accepts; /health answers 503 until set_ready()
//   server.set_ready(engine, tokenizer, model_info);
//   ...
//   server.drain(timeout);                   // stop accepting, finish or end in-flight requests
//   t.join();
//
// Handlers only translate: JSON -> GenerateRequest -> Engine::submit -> SSE or one JSON body.
// No exception leaves this module; JSON errors are caught where the body is parsed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ferrite/engine.h"
#include "ferrite/status.h"

namespace ferrite::tokenizer {
class Tokenizer;
}

namespace ferrite::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;                         // 0: any free port (see HttpServer::port())
  std::vector<std::string> served_model_names;  // the first is reported; all are accepted
  std::string model_path;                  // /v1/models "root"
  std::string api_key;                     // empty: no authentication
  std::int64_t max_queue_len = 0;          // 0: unbounded; else 503 once this many wait
  std::int64_t max_num_seqs = 256;         // the engine's, to estimate the waiting queue
  double request_timeout_s = 0;            // 0: none; else a request running longer is aborted
  std::int64_t max_request_bytes = 16 << 20;
  std::string metrics_prefix = "ferrite";  // "vllm" publishes vLLM's names for its dashboards
  int http_workers = 2;                    // threads running handlers (one event loop serves I/O)
  std::int64_t max_connections = 16384;    // open connections; more get 503
  std::int32_t max_logprobs = 20;
};

struct ServerState;  // shared by the handlers (internal.h)

class HttpServer {
 public:
  explicit HttpServer(ServerConfig config);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port.
  Result<int> bind();
  int port() const;
  // Accepts connections until drain() or stop(); returns when every handler has returned.
  Status serve();
  // From now on the generation endpoints answer; /health turns 200.
  void set_ready(std::shared_ptr<Engine> engine, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                 ModelInfo info);
  // Graceful stop: close the listening socket, refuse new work on open connections (503), let
  // in-flight requests finish up to `timeout`, then abort the rest (their streams end with an
  // error event) and stop serving.
  void drain(std::chrono::milliseconds timeout);
  // Requests currently generating.
  std::int64_t in_flight() const;
  // Open client connections.
  std::int64_t connections() const;

 private:
  std::shared_ptr<ServerState> state_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferrite::server
