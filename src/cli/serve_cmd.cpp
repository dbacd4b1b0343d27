// `ferrite serve`: the OpenAI-compatible HTTP server (vLLM's flags), over one in-process engine.
// The listener starts before the weights load, so /health answers 503 until the model is ready.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "base/logging.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "ferrite/engine.h"
#include "server/grpc/grpc_server.h"
#include "server/http/http_server.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::cli {

namespace {

struct StopSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  int signal = 0;
  void raise(int sig) {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
      signal = sig;
    }
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
};

Result<server::ServerConfig> server_config_from(const Args& args, const EngineConfig& ec) {
  server::ServerConfig c;
  c.host = args.get("host");
  FERRITE_ASSIGN_OR_RETURN(long long port, args.get_int("port"));
  if (port < 0 || port > 65535) return invalid_argument("--port must be between 0 and 65535");
  c.port = static_cast<int>(port);
  c.served_model_names = args.get_all("served-model-name");
  // vLLM names a model by the path it was given; the default demo model is just "demo".
  const bool demo = !args.has("model") && !args.has("MODEL_DIR");
  if (c.served_model_names.empty()) c.served_model_names.push_back(demo ? "demo" : ec.model_dir);
  c.model_path = ec.model_dir;
  c.api_key = args.get("api-key");
  if (c.api_key.empty() && std::getenv("FERRITE_API_KEY")) c.api_key = std::getenv("FERRITE_API_KEY");
  FERRITE_ASSIGN_OR_RETURN(long long queue, args.get_int("max-queue-len"));
  if (queue < 0) return invalid_argument("--max-queue-len must be >= 0 (0: unbounded)");
  c.max_queue_len = queue;
  c.max_num_seqs = ec.max_num_seqs;
  FERRITE_ASSIGN_OR_RETURN(c.request_timeout_s, args.get_double("request-timeout"));
  if (c.request_timeout_s < 0 || !std::isfinite(c.request_timeout_s)) return invalid_argument("--request-timeout must be >= 0 seconds");
  auto bytes = parse_bytes(args.get("max-request-bytes"));
  if (!bytes.ok()) return bytes.status().with_context("--max-request-bytes");
  if (*bytes < 1) return invalid_argument("--max-request-bytes must be positive");
  c.max_request_bytes = *bytes;
  c.metrics_prefix = args.get("metrics-prefix");
  if (c.metrics_prefix != "ferrite" && c.metrics_prefix != "vllm")
    return invalid_argument("--metrics-prefix must be ferrite or vllm, got '" + c.metrics_prefix + "'");
  FERRITE_ASSIGN_OR_RETURN(long long workers, args.get_int("http-workers"));
  if (workers < 1 || workers > 256) return invalid_argument("--http-workers must be between 1 and 256");
  c.http_workers = static_cast<int>(workers);
  FERRITE_ASSIGN_OR_RETURN(long long conns, args.get_int("max-connections"));
  if (conns < 1) return invalid_argument("--max-connections must be positive");
  c.max_connections = conns;
  c.max_logprobs = ec.max_logprobs;
  return c;
}

// The tokenizer the handlers use for token strings, echo and /detokenize (the engine has its own).
Result<std::shared_ptr<const tokenizer::Tokenizer>> load_tokenizer(const EngineConfig& ec) {
  namespace fs = std::filesystem;
  const std::string dir = ec.tokenizer_dir.empty() ? ec.model_dir : ec.tokenizer_dir;
  const bool file = fs::is_regular_file(dir);
  if (!file && !fs::exists(fs::path(dir) / "tokenizer.json") && !fs::exists(fs::path(dir) / "tokenizer.model"))
    return std::shared_ptr<const tokenizer::Tokenizer>();
  FERRITE_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::load(dir));
  return std::shared_ptr<const tokenizer::Tokenizer>(std::move(tok));
}

}  // namespace

int run_serve(const std::vector<std::string>& argv) {
  // Every thread started from here on (before any other) inherits the blocked signals; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that vanished is a failed write, not the end of the server
  Args args("serve",
            "Serve a model over the OpenAI-compatible HTTP API (vLLM's routes, JSON and flags):\n"
            "/v1/completions, /v1/chat/completions, /v1/models, /tokenize, /detokenize, /health, /metrics, /version.\n"
            "Without MODEL_DIR (or --model) it serves the demo model shipped in models/demo.");
  add_engine_flags(args);
  args.flag("host", "ADDR", "address to listen on", "127.0.0.1")
      .flag("port", "N", "port to listen on (0: any free port)", "8000")
      .flag("grpc-port", "N", "also serve the gRPC API (ferrite.v1) on this port (0: off)", "0")
      .multi("served-model-name", "NAME", "the model name(s) clients use (default: the model path)")
      .flag("api-key", "KEY", "require 'Authorization: Bearer KEY' on /v1/* (also FERRITE_API_KEY)")
      .flag("max-queue-len", "N", "answer 503 once this many requests wait (0: unbounded)", "0")
      .flag("request-timeout", "SECONDS", "abort a request running longer (0: never)", "0")
      .flag("shutdown-timeout", "SECONDS", "on SIGTERM/SIGINT, let running requests finish this long", "30")
      .flag("max-request-bytes", "BYTES", "largest request body (413 above it)", "16MiB")
      .flag("metrics-prefix", "PREFIX", "metric name prefix: ferrite or vllm", "ferrite")
      .flag("http-workers", "N", "threads that run request handlers (one event loop serves every connection)", "2")
      .flag("max-connections", "N", "open client connections at most (more are answered 503)", "16384")
      .flag("gpu-memory-utilization", "FRACTION", "accepted for vLLM compatibility (the CPU backend uses --kv-cache-memory)")
      .flag("ready-note", "TEXT", "appended to the ready line (scripts/dev.sh: what model this is)");
  if (auto code = args.parse_or_exit(argv)) return *code;
  auto ec = engine_config_from(args, ModelDefault::kDemo);
  if (!ec.ok()) return report_error("serve", ec.status());
  // Ranks > 0 of a tensor-parallel launch hold their shard and serve nothing themselves.
  if (auto code = run_if_engine_worker("serve", *ec)) return *code;
  auto sc = server_config_from(args, *ec);
  if (!sc.ok()) return report_error("serve", sc.status());
  auto tok = load_tokenizer(*ec);
  if (!tok.ok()) return report_error("serve", tok.status().with_context("tokenizer"));
  auto shutdown = args.get_double("shutdown-timeout");
  const double shutdown_s = shutdown.ok() ? *shutdown : -1;
  if (shutdown_s < 0 || !std::isfinite(shutdown_s))
    return report_error("serve", invalid_argument("--shutdown-timeout must be a number of seconds >= 0"));


  auto grpc_port_flag = args.get_int("grpc-port");
  if (!grpc_port_flag.ok()) return report_error("serve", grpc_port_flag.status());
  if (*grpc_port_flag < 0 || *grpc_port_flag > 65535)
    return report_error("serve", invalid_argument("--grpc-port must be between 0 and 65535 (0: off)"));
  server::GrpcConfig gc;
  gc.host = sc->host;
  gc.port = static_cast<int>(*grpc_port_flag);
  gc.served_model_names = sc->served_model_names;
  gc.model_path = sc->model_path;
  gc.api_key = sc->api_key;
  gc.max_queue_len = sc->max_queue_len;
  gc.max_num_seqs = sc->max_num_seqs;
  gc.max_logprobs = sc->max_logprobs;
  gc.request_timeout_s = sc->request_timeout_s;
  gc.max_message_bytes = sc->max_request_bytes;
  server::GrpcServer grpc(gc);
  int grpc_port = 0;
  if (gc.port != 0) {
    auto p = grpc.start();
    if (!p.ok()) return report_error("serve", p.status().with_context("--grpc-port"));
    grpc_port = *p;
  }

  server::HttpServer http(*sc);
  auto port = http.bind();
  if (!port.ok()) return report_error("serve", port.status());
  StopSignal stop;
  std::atomic<bool> ready{false};
  Status serve_status;
  std::thread listener([&] {
    serve_status = http.serve();
    stop.raise(0);
  });
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    if (!ready.load()) {
      std::fprintf(stderr, "ferrite serve: interrupted while loading\n");
      std::_Exit(1);
    }
    stop.raise(sig);
  });
  waiter.detach();

  auto engine = Engine::create(*ec);
  if (!engine.ok()) {
    grpc.drain(std::chrono::milliseconds(0));
    http.drain(std::chrono::milliseconds(0));
    listener.join();
    return report_error("serve", engine.status());
  }
  std::shared_ptr<Engine> shared(std::move(*engine));
  const ModelInfo info = shared->model_info();
  http.set_ready(shared, *tok, info);
  grpc.set_ready(shared, *tok, info);
  ready = true;
  std::string note = args.get("ready-note");
  const std::string grpc_note = grpc_port != 0 ? " and grpc://" + sc->host + ":" + std::to_string(grpc_port) : "";
  std::fprintf(stderr, "ferrite: serving %s (%s, %s, %lld KV blocks of %lld) on http://%s:%d%s%s%s\n",
               sc->served_model_names.front().c_str(), info.architecture.c_str(), info.dtype.c_str(),
               static_cast<long long>(info.num_kv_blocks), static_cast<long long>(info.block_size), sc->host.c_str(), *port,
               grpc_note.c_str(), note.empty() ? "" : " ", note.c_str());
  std::fflush(stderr);

  stop.wait();
  if (stop.signal != 0) {
    FERRITE_LOG_INFO("signal {}: draining {} request(s), up to {} s", stop.signal, http.in_flight(), shutdown_s);
    // Both front ends drain at once, each up to the same timeout.
    std::thread grpc_drain([&] { grpc.drain(std::chrono::milliseconds(static_cast<long long>(shutdown_s * 1000))); });
    http.drain(std::chrono::milliseconds(static_cast<long long>(shutdown_s * 1000)));
    grpc_drain.join();
  }
  grpc.drain(std::chrono::milliseconds(0));
  listener.join();
  shared->shutdown();
  if (!serve_status.ok()) return report_error("serve", serve_status);
  return 0;
}

}  // namespace ferrite::cli
