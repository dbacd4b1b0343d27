// HTTP/1.1 on one event loop: the sockets, the parsing and the writing behind the OpenAI server.
//
// One thread runs an epoll loop over every connection (no thread per connection); a small pool
// of workers runs the handlers (JSON parsing, chat templates, tokenization, Engine::submit), so
// a long prompt never stalls the streams. A handler answers at once (HttpResponse::body) or
// hands back an AsyncBody that the loop pumps whenever the engine pushes output: as a chunked
// stream (SSE) or as one body once generation ends. A client that goes away gets its body
// cancelled (the request is aborted) and the body is pumped, unseen, until the engine confirms.
//
//   HttpIo io(config, handler, error_page);
//   int port = *io.bind();
//   std::thread t([&] { io.run(); });
//   ...
//   io.stop_accepting();  // close the listening socket (new connections are refused)
//   io.stop();            // flush what is pending (briefly), close everything, run() returns
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferrite/status.h"

namespace ferrite::server {

struct HttpRequest {
  std::string method;
  std::string path;        // percent-decoded, without the query
  std::string query;       // after '?', as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  std::string remote;      // "address:port" of the client
  std::string path_param;  // set by the router for prefix routes (/v1/models/{id})

  // The first header with this (lower-case) name, or "".
  std::string header(std::string_view lower_name) const;
};

struct HttpResponse;

// A response body produced later, on the loop thread.
class AsyncBody {
 public:
  virtual ~AsyncBody() = default;
  // Called once, on the loop, before the first pump(): `wake` may be called from any thread
  // (the engine's) whenever pump() may have more to give.
  virtual void set_wake(std::function<void()> wake) = 0;
  // Moves what is ready into `res`: a stream appends to res.body (sent as a chunk); a deferred
  // response sets status, headers and body when it completes. Returns true once complete.
  virtual bool pump(HttpResponse& res) = 0;
  // Called about every 50 ms: request timeouts and shutdown are noticed here.
  virtual void tick() {}
  // The client went away: stop generating (pump() is still called until it returns true).
  virtual void cancel() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<AsyncBody> async;  // set: the body comes later (see stream)
  bool stream = false;               // with async: send the head now and the body as chunks

  void set_content(std::string b, std::string type) {
    body = std::move(b);
    content_type = std::move(type);
  }
  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

struct HttpIoConfig {
  std::string host = "127.0.0.1";
  int port = 8000;                      // 0: any free port
  std::int64_t max_body_bytes = 16 << 20;
  std::int64_t max_header_bytes = 64 << 10;
  int workers = 2;                      // handler threads
  std::int64_t max_connections = 16384; // more are answered 503 and closed
  double keep_alive_s = 5;              // idle keep-alive connections are closed after this
  double request_read_timeout_s = 30;   // a request must arrive whole within this
};

// Runs a request on a worker thread and fills the response.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
// Fills the response for an error the I/O layer answers itself (400 unreadable request,
// 413 body too large, 431 headers too large, 503 too many connections, 500 handler threw).
using HttpErrorPage = std::function<void(int status, const std::string& message, HttpResponse&)>;

class HttpIo {
 public:
  HttpIo(HttpIoConfig config, HttpHandler handler, HttpErrorPage error_page);
  ~HttpIo();
  HttpIo(const HttpIo&) = delete;
  HttpIo& operator=(const HttpIo&) = delete;

  // Opens the listening socket (and raises the open-file limit to its hard maximum); returns
  // the port.
  Result<int> bind();
  // Serves until stop(). Returns once every connection is closed and the workers are idle.
  Status run();
  // Thread-safe. Closes the listening socket: later connections are refused.
  void stop_accepting();
  // Thread-safe. Ends run(): pending output gets up to a second to go out, then every
  // connection is closed (unfinished bodies are cancelled).
  void stop();
  // Open connections (thread-safe, approximate).
  std::int64_t connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "%41" -> "A"; "+" is left alone (paths, not forms). Malformed escapes are kept as they are.
std::string percent_decode(std::string_view s);

}  // namespace ferrite::server
