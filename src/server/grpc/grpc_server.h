// The gRPC front end (proto/ferrite/v1/ferrite.proto) over the same ferrite::Engine as HTTP,
// with the standard grpc.health.v1.Health service and server reflection (grpcurl works).
//
//   GrpcServer grpc(config);
//   auto port = grpc.start();                 // serving on gRPC's threads; health NOT_SERVING
//   grpc.set_ready(engine, tokenizer, info);  // health SERVING, the Ferrite service answers
//   ...
//   grpc.drain(timeout);                      // NOT_SERVING, refuse new work, finish or abort, stop
//
// This header does not include gRPC: without FERRITE_HAVE_GRPC, start() says how to get it.
// A cancelled call or one past its deadline is aborted in the engine (its KV blocks freed within
// a step) before the handler returns.
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

struct GrpcConfig {
  std::string host = "127.0.0.1";
  int port = 0;                                 // 0: any free port (start() returns it)
  std::vector<std::string> served_model_names;  // the first is reported; all are accepted
  std::string model_path;
  std::string api_key;                          // empty: no authentication
  std::int64_t max_queue_len = 0;               // 0: unbounded; else RESOURCE_EXHAUSTED
  std::int64_t max_num_seqs = 256;              // the engine's, to estimate the waiting queue
  std::int32_t max_logprobs = 20;               // the engine's (reported by GetServerInfo)
  double request_timeout_s = 0;                 // 0: none; else a longer Generate is aborted
  std::int64_t max_message_bytes = 16 << 20;    // largest request and response message
};

// True when this build has the gRPC server.
bool grpc_available();

class GrpcServer {
 public:
  explicit GrpcServer(GrpcConfig config);
  ~GrpcServer();  // drains with no grace period if still running
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Binds and starts serving; returns the port.
  Result<int> start();
  void set_ready(std::shared_ptr<Engine> engine, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                 ModelInfo info);
  // Graceful stop: health NOT_SERVING, new calls UNAVAILABLE, running Generate calls may finish
  // up to `timeout`, then they are aborted (UNAVAILABLE) and the server stops.
  void drain(std::chrono::milliseconds timeout);
  std::int64_t in_flight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferrite::server
