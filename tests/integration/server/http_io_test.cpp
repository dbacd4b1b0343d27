// The HTTP/1.1 layer (server/http/http_io.h) on loopback with raw sockets and a test handler:
// framing (Content-Length, chunked bodies, 100-continue, pipelining, HEAD, keep-alive), the
// errors it answers itself (400, 408, 413, 431, 505, 503 over the connection limit), async
// bodies (streamed and deferred, woken from another thread), cancellation when the client goes
// away, and a seeded fuzz of malformed requests after which the server still answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "server/http/http_io.h"

namespace ferrite::server {
namespace {

using namespace std::chrono_literals;

// An async body that emits `parts` pieces, one per wake, each triggered by a timer thread.
class TickerBody : public AsyncBody {
 public:
  TickerBody(int parts, std::atomic<int>* cancels, std::atomic<int>* completed)
      : parts_(parts), cancels_(cancels), completed_(completed) {}
  ~TickerBody() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void set_wake(std::function<void()> wake) override {
    thread_ = std::thread([this, wake] {
      for (int i = 0; i < parts_ && !stop_; ++i) {
        std::this_thread::sleep_for(5ms);
        ready_.fetch_add(1);
        wake();
      }
    });
  }
  bool pump(HttpResponse& res) override {
    if (cancelled_) {  // unseen: finish at once
      completed_->fetch_add(1);
      return true;
    }
    const int ready = ready_.load();
    while (sent_ < ready) res.body += "part" + std::to_string(sent_++) + ";";
    if (sent_ < parts_) return false;
    if (!res.stream) res.set_content(res.body, "text/plain");
    completed_->fetch_add(1);
    return true;
  }
  void cancel() override {
    cancelled_ = true;
    cancels_->fetch_add(1);
  }

 private:
  int parts_;
  std::atomic<int>* cancels_;
  std::atomic<int>* completed_;
  std::atomic<int> ready_{0};
  int sent_ = 0;
  bool cancelled_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class HttpIoTest : public ::testing::Test {
 protected:
  void start(HttpIoConfig cfg = {}) {
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    io_ = std::make_unique<HttpIo>(
        cfg,
        [this](const HttpRequest& req, HttpResponse& res) {
          if (req.path.rfind("/echo", 0) == 0) {
            res.set_content(req.method + " " + req.path + "?" + req.query + " [" + req.body + "] te=" +
                                req.header("transfer-encoding"),
                            "text/plain");
          } else if (req.path == "/stream" || req.path == "/deferred") {
            res.async = std::make_shared<TickerBody>(8, &cancels_, &completed_);
            res.stream = req.path == "/stream";
            res.content_type = "text/plain";
          } else if (req.path == "/slow-stream") {
            res.async = std::make_shared<TickerBody>(100000, &cancels_, &completed_);
            res.stream = true;
          } else if (req.path == "/throw") {
            throw std::runtime_error("boom");
          } else {
            res.status = 404;
            res.set_content("nope", "text/plain");
          }
        },
        [](int status, const std::string& message, HttpResponse& res) {
          res.status = status;
          res.set_content("error: " + message, "text/plain");
        });
    auto port = io_->bind();
    ASSERT_TRUE(port.ok()) << port.status().to_string();
    port_ = *port;
    thread_ = std::thread([this] { EXPECT_TRUE(io_->run().ok()); });
  }
  void TearDown() override {
    if (io_) io_->stop();
    if (thread_.joinable()) thread_.join();
  }

  int connect_fd() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  static void send_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  // Reads until the peer closes or `until` appears or the timeout passes.
  static std::string read_until(int fd, const std::string& until = "", std::chrono::milliseconds timeout = 5s) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!until.empty() && out.find(until) != std::string::npos) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  std::string exchange(const std::string& request, const std::string& until = "") {
    const int fd = connect_fd();
    send_all(fd, request);
    std::string out = read_until(fd, until);
    ::close(fd);
    return out;
  }

  std::unique_ptr<HttpIo> io_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> cancels_{0}, completed_{0};
};

TEST_F(HttpIoTest, ContentLengthChunkedContinueHeadAndPercentDecoding) {
  start();
  EXPECT_NE(exchange("POST /echo?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
                .find("POST /echo?a=1 [hello]"),
            std::string::npos);
  const std::string chunked =
      exchange("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n");
  EXPECT_NE(chunked.find("[abcdefg] te=chunked"), std::string::npos) << chunked;
  // 100-continue: the head first, the body after the interim answer.
  const int fd = connect_fd();
  send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
  EXPECT_NE(read_until(fd, "\r\n\r\n").find("HTTP/1.1 100 Continue"), std::string::npos);
  send_all(fd, "xyz");
  EXPECT_NE(read_until(fd).find("[xyz]"), std::string::npos);
  ::close(fd);
  const std::string head = exchange("HEAD /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(head.find("Content-Length: "), std::string::npos);
  EXPECT_EQ(head.find("HEAD /echo"), std::string::npos) << "HEAD answered with a body: " << head;
  EXPECT_NE(exchange("GET /echo%20x%2F HTTP/1.1\r\nConnection: close\r\n\r\n").find("GET /echo x/?"), std::string::npos);
}

TEST_F(HttpIoTest, KeepAliveAndPipelinedRequestsAnswerInOrder) {
  start();
  const int fd = connect_fd();
  send_all(fd,
           "POST /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nA"
           "GET /deferred HTTP/1.1\r\n\r\n"
           "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nB");
  const std::string out = read_until(fd);
  ::close(fd);
  const auto a = out.find("[A]"), d = out.find("part7;"), b = out.find("[B]");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(d, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  EXPECT_LT(a, d);
  EXPECT_LT(d, b);
  EXPECT_EQ(out.find("Connection: close"), out.rfind("Connection: close"));  // only the last
}

TEST_F(HttpIoTest, StreamedBodyIsChunkedAndComplete) {
  start();
  const std::string out = exchange("GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos) << out;
  for (int i = 0; i < 8; ++i) EXPECT_NE(out.find("part" + std::to_string(i) + ";"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n0\r\n\r\n"), std::string::npos) << out;
  EXPECT_EQ(completed_.load(), 1);
  EXPECT_EQ(cancels_.load(), 0);
}

TEST_F(HttpIoTest, ClientThatLeavesGetsItsBodyCancelledAndDrained) {
  start();
  const int fd = connect_fd();
  send_all(fd, "GET /slow-stream HTTP/1.1\r\n\r\n");
  EXPECT_NE(read_until(fd, "part0;").find("part0;"), std::string::npos);
  ::close(fd);
  for (int i = 0; i < 200 && completed_.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(cancels_.load(), 1);
  EXPECT_EQ(completed_.load(), 1) << "a cancelled body must be pumped until it completes";
}

TEST_F(HttpIoTest, ErrorsTheLayerAnswersItself) {
  HttpIoConfig cfg;
  cfg.max_body_bytes = 100;
  cfg.max_header_bytes = 1024;
  cfg.request_read_timeout_s = 0.3;
  start(cfg);
  EXPECT_EQ(exchange("GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange("GET /echo HTTP/2.0\r\n\r\n").rfind("HTTP/1.1 505", 0), 0u);
  EXPECT_EQ(exchange("GET echo HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n").rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: 1x\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").rfind("HTTP/1.1 501", 0), 0u);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n" + std::string(512, 'x') + "\r\n0\r\n\r\n")
                .rfind("HTTP/1.1 413", 0),
            0u);
  EXPECT_EQ(exchange("GET /echo HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n").rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(exchange("GET /echo HTTP/1.1\r\n folded: x\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(exchange("GET /throw HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 500", 0), 0u);
  // A request that never completes is answered 408 after the read timeout.
  const int fd = connect_fd();
  send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(read_until(fd, "", 3s).rfind("HTTP/1.1 408", 0), 0u);
  ::close(fd);
  EXPECT_NE(exchange("GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n").find("GET /echo"), std::string::npos);
}

TEST_F(HttpIoTest, ConnectionsOverTheLimitGet503) {
  HttpIoConfig cfg;
  cfg.max_connections = 4;
  start(cfg);
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect_fd());
  std::this_thread::sleep_for(100ms);  // let the loop accept them
  EXPECT_EQ(exchange("GET /echo HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 503", 0), 0u);
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(100ms);
  EXPECT_NE(exchange("GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n").find("GET /echo"), std::string::npos);
}

TEST_F(HttpIoTest, SeededFuzzOfMalformedRequestsLeavesTheServerAnswering) {
  HttpIoConfig cfg;
  cfg.max_body_bytes = 4096;
  cfg.request_read_timeout_s = 0.2;
  start(cfg);
  const std::vector<std::string> seeds = {
      "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n",
  };
  std::mt19937 rng(20261122);
  for (int i = 0; i < 300; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0: s.insert(pos, 1, static_cast<char>(rng() % 256)); break;
        case 1: if (pos < s.size()) s.erase(pos, 1); break;
        case 2: if (pos < s.size()) s[pos] = static_cast<char>(rng() % 256); break;
        default: s.insert(pos, std::string(1 + rng() % 8, "\r\n:; 0a"[rng() % 7])); break;
      }
    }
    const int fd = connect_fd();
    send_all(fd, s);
    ::shutdown(fd, SHUT_WR);
    read_until(fd, "", 500ms);
    ::close(fd);
  }
  EXPECT_NE(exchange("POST /echo HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").find("[ok]"),
            std::string::npos);
  EXPECT_LE(io_->connections(), 1);
}

}  // namespace
}  // namespace ferrite::server
