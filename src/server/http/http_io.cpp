// See http_io.h. Linux only (epoll, eventfd, accept4). Level-triggered epoll: EPOLLIN always,
// EPOLLOUT only while a connection has output waiting.
#include "server/http/http_io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/logging.h"

namespace ferrite::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kOutHighWater = 1 << 20;  // stop pumping a body while this much is unsent
constexpr int kTickMs = 50;

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : "Error";
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// The head of a response (status line and headers, up to and including the blank line).
std::string response_head(const HttpResponse& res, bool keep_alive, bool chunked, std::size_t length) {
  std::string h = "HTTP/1.1 " + std::to_string(res.status) + " " + reason_phrase(res.status) + "\r\n";
  if (!res.content_type.empty() && (chunked || length > 0 || res.status != 200))
    h += "Content-Type: " + res.content_type + "\r\n";
  if (chunked) h += "Transfer-Encoding: chunked\r\n";
  else h += "Content-Length: " + std::to_string(length) + "\r\n";
  for (const auto& [k, v] : res.headers) h += k + ": " + v + "\r\n";
  h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "\r\n";
  return h;
}

void append_chunk(std::string* out, const std::string& data) {
  if (data.empty()) return;
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  *out += size;
  *out += data;
  *out += "\r\n";
}

// What parsing a request out of the input buffer found.
struct Parsed {
  enum Kind { kIncomplete, kRequest, kError } kind = kIncomplete;
  int error_status = 0;
  std::string error;
  std::size_t consumed = 0;
  bool keep_alive = true;
  bool expect_continue = false;  // the client waits for "100 Continue" before sending the body
};

// Decodes a chunked body from `s` (starting right after the head). Returns false while
// incomplete; sets *error for malformed input or a body over the limit.
bool decode_chunked(std::string_view s, std::int64_t limit, std::string* body, std::size_t* used, std::string* error) {
  std::size_t pos = 0;
  body->clear();
  for (;;) {
    const std::size_t eol = s.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (s.size() - pos > 64) *error = "malformed chunk size line";
      return false;
    }
    std::string_view line = s.substr(pos, eol - pos);
    if (auto semi = line.find(';'); semi != std::string_view::npos) line = line.substr(0, semi);
    line = trim(line);
    if (line.empty() || line.size() > 15) {
      *error = "malformed chunk size";
      return false;
    }
    std::uint64_t size = 0;
    for (char c : line) {
      const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                    : (c >= 'a' && c <= 'f')                     ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F')                     ? c - 'A' + 10
                                                                 : -1;
      if (d < 0) {
        *error = "malformed chunk size";
        return false;
      }
      size = size * 16 + static_cast<std::uint64_t>(d);
    }
    if (static_cast<std::int64_t>(body->size() + size) > limit) {
      *error = "too large";
      return false;
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailers (ignored) up to an empty line.
      for (;;) {
        const std::size_t e = s.find("\r\n", pos);
        if (e == std::string_view::npos) return false;
        const bool empty = e == pos;
        pos = e + 2;
        if (empty) {
          *used = pos;
          return true;
        }
      }
    }
    if (s.size() < pos + size + 2) return false;
    body->append(s.substr(pos, size));
    if (s.substr(pos + size, 2) != "\r\n") {
      *error = "malformed chunk";
      return false;
    }
    pos += size + 2;
  }
}

Parsed parse_request(const std::string& in, const HttpIoConfig& cfg, HttpRequest* req) {
  Parsed p;
  const std::size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    if (static_cast<std::int64_t>(in.size()) > cfg.max_header_bytes) {
      p.kind = Parsed::kError;
      p.error_status = 431;
      p.error = "the request head is larger than " + std::to_string(cfg.max_header_bytes) + " bytes";
    }
    return p;
  }
  auto fail = [&](int status, std::string msg) {
    p.kind = Parsed::kError;
    p.error_status = status;
    p.error = std::move(msg);
    return p;
  };
  if (static_cast<std::int64_t>(head_end) > cfg.max_header_bytes)
    return fail(431, "the request head is larger than " + std::to_string(cfg.max_header_bytes) + " bytes");
  std::string_view head(in.data(), head_end);
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char))
    return fail(400, "malformed request method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.substr(0, 5) == "HTTP/") return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
    return fail(400, "malformed request line");
  }
  if (target.empty() || target.front() != '/') return fail(400, "the request target must be an absolute path");
  req->method = std::string(method);
  const std::size_t q = target.find('?');
  req->path = percent_decode(target.substr(0, q));
  req->query = q == std::string_view::npos ? "" : std::string(target.substr(q + 1));
  req->headers.clear();
  std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    std::size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    const std::string_view h = head.substr(pos, e - pos);
    pos = e + 2;
    if (h.empty()) continue;
    if (h.front() == ' ' || h.front() == '\t') return fail(400, "folded header lines are not accepted");
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line");
    const std::string_view name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return fail(400, "malformed header name");
    req->headers.emplace_back(lower(name), std::string(trim(h.substr(colon + 1))));
  }
  const std::string connection = lower(req->header("connection"));
  p.keep_alive = version == "HTTP/1.1" ? connection.find("close") == std::string::npos
                                       : connection.find("keep-alive") != std::string::npos;
  const std::string te = lower(req->header("transfer-encoding"));
  const std::string cl = req->header("content-length");
  const std::size_t body_start = head_end + 4;
  if (!te.empty()) {
    if (!cl.empty()) return fail(400, "both Content-Length and Transfer-Encoding were sent");
    if (te != "chunked") return fail(501, "Transfer-Encoding '" + te + "' is not supported");
    std::string error;
    std::size_t used = 0;
    if (!decode_chunked(std::string_view(in).substr(body_start), cfg.max_body_bytes, &req->body, &used, &error)) {
      if (error == "too large") return fail(413, "the request body is larger than the server accepts");
      if (!error.empty()) return fail(400, error);
      p.expect_continue = lower(req->header("expect")) == "100-continue";
      return p;
    }
    p.kind = Parsed::kRequest;
    p.consumed = body_start + used;
    return p;
  }
  std::int64_t length = 0;
  if (!cl.empty()) {
    if (cl.size() > 18 || !std::all_of(cl.begin(), cl.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return fail(400, "malformed Content-Length");
    length = std::stoll(cl);
  }
  if (length > cfg.max_body_bytes) return fail(413, "the request body is larger than the server accepts");
  if (in.size() < body_start + static_cast<std::size_t>(length)) {
    p.expect_continue = lower(req->header("expect")) == "100-continue";
    return p;
  }
  req->body = in.substr(body_start, static_cast<std::size_t>(length));
  p.kind = Parsed::kRequest;
  p.consumed = body_start + static_cast<std::size_t>(length);
  return p;
}

std::string address_of(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (sa.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&sa);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

std::string HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return "";
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// What other threads hand to the loop: finished handler results and wake-ups. Shared with the
// wake functions given to bodies, which may outlive the loop (the engine holds them).
struct LoopMailbox {
  std::mutex mu;
  int efd = -1;
  bool closed = false;
  bool signalled = false;
  std::vector<std::pair<std::uint64_t, HttpResponse>> results;
  std::vector<std::uint64_t> wakes;
  bool stop = false;
  bool stop_accepting = false;

  void signal_locked() {
    if (signalled || efd < 0) return;
    signalled = true;
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(efd, &one, sizeof one);
  }
  void wake(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    wakes.push_back(id);
    signal_locked();
  }
};

struct HttpIo::Impl {
  struct Conn {
    int fd = -1;
    std::uint64_t id = 0;
    std::string remote;
    std::string in, out;
    std::size_t out_off = 0;
    enum Phase { kReading, kHandling, kStreaming, kDeferred } phase = kReading;
    HttpResponse res;  // the async response in progress
    bool keep_alive = true;
    bool close_after_write = false;
    bool epollout = false;
    bool sent_continue = false;
    bool head_only = false;  // a HEAD request: the head of the response without its body
    Clock::time_point last_activity = Clock::now();
    Clock::time_point request_start = Clock::now();
  };

  HttpIoConfig cfg;
  HttpHandler handler;
  HttpErrorPage error_page;
  int listen_fd = -1;
  int epfd = -1;
  std::shared_ptr<LoopMailbox> mailbox = std::make_shared<LoopMailbox>();
  std::unordered_map<std::uint64_t, Conn> conns;
  std::unordered_map<int, std::uint64_t> by_fd;
  std::vector<std::shared_ptr<AsyncBody>> orphans;  // cancelled bodies waiting for the engine
  std::uint64_t next_id = 1;
  std::atomic<std::int64_t> open_conns{0};
  bool accepting = true;
  Clock::time_point accept_pause_until{};

  // Workers.
  std::mutex wmu;
  std::condition_variable wcv;
  std::deque<std::pair<std::uint64_t, HttpRequest>> jobs;
  bool workers_stop = false;
  std::vector<std::thread> workers;

  void worker_main() {
    for (;;) {
      std::pair<std::uint64_t, HttpRequest> job;
      {
        std::unique_lock<std::mutex> lock(wmu);
        wcv.wait(lock, [&] { return workers_stop || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      HttpResponse res;
      try {
        handler(job.second, res);
      } catch (const std::exception& e) {
        FERRITE_LOG_ERROR("{} {}: handler threw: {}", job.second.method, job.second.path, e.what());
        res = HttpResponse{};
        error_page(500, std::string("internal server error: ") + e.what(), res);
      } catch (...) {
        res = HttpResponse{};
        error_page(500, "internal server error", res);
      }
      std::lock_guard<std::mutex> lock(mailbox->mu);
      if (mailbox->closed) {
        if (res.async) res.async->cancel();
        continue;
      }
      mailbox->results.emplace_back(job.first, std::move(res));
      mailbox->signal_locked();
    }
  }

  void set_events(Conn& c) {
    const bool want_out = c.out.size() > c.out_off;
    if (want_out == c.epollout) return;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0u);
    ev.data.u64 = c.id;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
    c.epollout = want_out;
  }

  void close_conn(std::uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Conn& c = it->second;
    if (c.res.async) {
      c.res.async->cancel();
      orphans.push_back(std::move(c.res.async));
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    by_fd.erase(c.fd);
    conns.erase(it);
    --open_conns;
  }

  // Writes what it can; false if the connection was closed.
  bool flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_off += static_cast<std::size_t>(n);
        c.last_activity = Clock::now();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_conn(c.id);  // reset or broken pipe: the client is gone
      return false;
    }
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
      if (c.close_after_write) {
        close_conn(c.id);
        return false;
      }
    } else if (c.out_off > (1u << 16)) {
      c.out.erase(0, c.out_off);
      c.out_off = 0;
    }
    set_events(c);
    return true;
  }

  void send_whole(Conn& c, const HttpResponse& res) {
    c.out += response_head(res, c.keep_alive, false, res.body.size());
    if (!c.head_only) c.out += res.body;
    if (!c.keep_alive) c.close_after_write = true;
  }

  void answer_error(Conn& c, int status, const std::string& message) {
    HttpResponse res;
    error_page(status, message, res);
    c.keep_alive = false;
    send_whole(c, res);
    c.phase = Conn::kReading;
    c.in.clear();
  }

  // Parses as many requests as are complete (one at a time: the next waits for this answer).
  void try_parse(Conn& c) {
    if (c.phase != Conn::kReading || c.close_after_write || c.in.empty()) return;
    HttpRequest req;
    const Parsed p = parse_request(c.in, cfg, &req);
    if (p.kind == Parsed::kIncomplete) {
      if (p.expect_continue && !c.sent_continue) {
        c.sent_continue = true;
        c.out += "HTTP/1.1 100 Continue\r\n\r\n";
      }
      return;
    }
    if (p.kind == Parsed::kError) {
      FERRITE_LOG_INFO("- {} {} ({})", c.remote, p.error_status, p.error);
      answer_error(c, p.error_status, p.error);
      return;
    }
    c.in.erase(0, p.consumed);
    c.keep_alive = p.keep_alive;
    c.sent_continue = false;
    c.head_only = req.method == "HEAD";
    c.phase = Conn::kHandling;
    req.remote = c.remote;
    {
      std::lock_guard<std::mutex> lock(wmu);
      jobs.emplace_back(c.id, std::move(req));
    }
    wcv.notify_one();
  }

  void finish_response(Conn& c) {
    c.res = HttpResponse{};
    c.phase = Conn::kReading;
    c.request_start = Clock::now();
    if (!c.keep_alive) c.close_after_write = true;
  }

  // Pumps an async body into the connection's output. False if the connection was closed.
  bool pump(Conn& c) {
    if (c.phase != Conn::kStreaming && c.phase != Conn::kDeferred) return true;
    if (c.out.size() - c.out_off > kOutHighWater) return true;  // a slow reader: wait for EPOLLOUT
    auto body = c.res.async;
    if (c.phase == Conn::kStreaming) {
      const bool done = body->pump(c.res);
      append_chunk(&c.out, c.res.body);
      c.res.body.clear();
      if (done) {
        c.out += "0\r\n\r\n";
        finish_response(c);
      }
    } else {
      if (!body->pump(c.res)) return true;
      c.res.async.reset();
      send_whole(c, c.res);
      finish_response(c);
    }
    if (!flush(c)) return false;
    try_parse(c);
    return true;
  }

  void start_response(std::uint64_t id, HttpResponse res) {
    auto it = conns.find(id);
    if (it == conns.end()) {  // the client left while the handler ran
      if (res.async) {
        res.async->cancel();
        orphans.push_back(std::move(res.async));
      }
      return;
    }
    Conn& c = it->second;
    if (!res.async) {
      send_whole(c, res);
      finish_response(c);
      if (flush(c)) try_parse(c);
      return;
    }
    c.res = std::move(res);
    std::weak_ptr<LoopMailbox> box = mailbox;
    c.res.async->set_wake([box, id] {
      if (auto b = box.lock()) b->wake(id);
    });
    if (c.res.stream) {
      c.phase = Conn::kStreaming;
      c.out += response_head(c.res, c.keep_alive, true, 0);
    } else {
      c.phase = Conn::kDeferred;
    }
    pump(c);
  }

  void on_readable(Conn& c) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.last_activity = Clock::now();
        // While a response is in progress, input waits (pipelining), within the head limit.
        c.in.append(buf, static_cast<std::size_t>(n));
        if (c.phase != Conn::kReading &&
            static_cast<std::int64_t>(c.in.size()) > cfg.max_header_bytes + cfg.max_body_bytes) {
          close_conn(c.id);
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_conn(c.id);  // end of stream or an error: the client is gone
      return;
    }
    const std::uint64_t id = c.id;
    try_parse(c);
    if (auto it = conns.find(id); it != conns.end()) flush(it->second);
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          FERRITE_LOG_WARN("cannot accept more connections ({}); pausing for 100 ms", std::strerror(errno));
          accept_pause_until = Clock::now() + std::chrono::milliseconds(100);
          epoll_ctl(epfd, EPOLL_CTL_DEL, listen_fd, nullptr);
        }
        return;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Conn c;
      c.fd = fd;
      c.id = next_id++;
      c.remote = address_of(sa);
      if (open_conns.load() >= cfg.max_connections) {
        HttpResponse res;
        error_page(503, "too many open connections", res);
        const std::string bytes = response_head(res, false, false, res.body.size()) + res.body;
        [[maybe_unused]] const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ::close(fd);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = c.id;
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      by_fd[fd] = c.id;
      conns.emplace(c.id, std::move(c));
      ++open_conns;
    }
  }

  void close_listener() {
    if (listen_fd < 0) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, listen_fd, nullptr);
    ::close(listen_fd);
    listen_fd = -1;
    accepting = false;
  }

  void tick() {
    const auto now = Clock::now();
    std::vector<std::uint64_t> ids;
    ids.reserve(conns.size());
    for (auto& [id, c] : conns) ids.push_back(id);
    for (std::uint64_t id : ids) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (c.res.async) {
        c.res.async->tick();
        pump(c);
        continue;
      }
      if (c.phase != Conn::kReading || c.out.size() > c.out_off) continue;
      const double idle = std::chrono::duration<double>(now - c.last_activity).count();
      if (c.in.empty() && idle > cfg.keep_alive_s) {
        close_conn(id);
      } else if (!c.in.empty() && std::chrono::duration<double>(now - c.request_start).count() > cfg.request_read_timeout_s) {
        answer_error(c, 408, "the request did not arrive in time");
        flush(c);
      }
    }
    HttpResponse scratch;
    for (std::size_t i = 0; i < orphans.size();) {
      orphans[i]->tick();
      scratch.body.clear();
      if (orphans[i]->pump(scratch)) {
        orphans[i] = std::move(orphans.back());
        orphans.pop_back();
      } else {
        ++i;
      }
    }
    if (listen_fd >= 0 && accepting && accept_pause_until != Clock::time_point{} && now >= accept_pause_until) {
      accept_pause_until = {};
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = 0;
      epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
    }
  }
};

HttpIo::HttpIo(HttpIoConfig config, HttpHandler handler, HttpErrorPage error_page) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = std::move(config);
  impl_->handler = std::move(handler);
  impl_->error_page = std::move(error_page);
  impl_->epfd = epoll_create1(EPOLL_CLOEXEC);
  impl_->mailbox->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

HttpIo::~HttpIo() {
  {
    std::lock_guard<std::mutex> lock(impl_->wmu);
    impl_->workers_stop = true;
  }
  impl_->wcv.notify_all();
  for (auto& t : impl_->workers)
    if (t.joinable()) t.join();
  {
    std::lock_guard<std::mutex> lock(impl_->mailbox->mu);
    impl_->mailbox->closed = true;
    ::close(impl_->mailbox->efd);
    impl_->mailbox->efd = -1;
  }
  for (auto& [id, c] : impl_->conns) {
    if (c.res.async) c.res.async->cancel();
    ::close(c.fd);
  }
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  if (impl_->epfd >= 0) ::close(impl_->epfd);
}

Result<int> HttpIo::bind() {
  auto& im = *impl_;
  if (im.epfd < 0 || im.mailbox->efd < 0) return internal_error(std::string("epoll/eventfd: ") + std::strerror(errno));
  // Every connection is a descriptor: take the hard limit (commonly 1024 soft, far more hard).
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(im.cfg.port);
  const std::string where = im.cfg.host + ":" + (im.cfg.port == 0 ? std::string("(any port)") : port);
  if (const int rc = getaddrinfo(im.cfg.host.empty() ? nullptr : im.cfg.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Status(StatusCode::kUnavailable, "cannot listen on " + where + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      im.listen_fd = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  if (im.listen_fd < 0)
    return Status(StatusCode::kUnavailable, "cannot listen on " + where + " (" + last_error +
                                                "; in use, or not an address of this machine)");
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  getsockname(im.listen_fd, reinterpret_cast<sockaddr*>(&sa), &len);
  const int bound = sa.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                             : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // connection ids start at 1
  epoll_ctl(im.epfd, EPOLL_CTL_ADD, im.listen_fd, &ev);
  return bound;
}

Status HttpIo::run() {
  auto& im = *impl_;
  if (im.listen_fd < 0) return internal_error("HttpIo::run() before bind()");
  {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ~0ull;  // the mailbox
    epoll_ctl(im.epfd, EPOLL_CTL_ADD, im.mailbox->efd, &ev);
  }
  for (int i = 0; i < std::max(1, im.cfg.workers); ++i) im.workers.emplace_back([&im] { im.worker_main(); });
  std::vector<epoll_event> events(256);
  auto last_tick = Clock::now();
  Clock::time_point stop_deadline{};
  for (;;) {
    const int n = epoll_wait(im.epfd, events.data(), static_cast<int>(events.size()), kTickMs);
    if (n < 0 && errno != EINTR) return internal_error(std::string("epoll_wait: ") + std::strerror(errno));
    bool mail = false;
    for (int i = 0; i < std::max(0, n); ++i) {
      const std::uint64_t key = events[static_cast<std::size_t>(i)].data.u64;
      const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      if (key == ~0ull) {
        mail = true;
        continue;
      }
      if (key == 0) {
        if (im.listen_fd >= 0) im.accept_all();
        continue;
      }
      auto it = im.conns.find(key);
      if (it == im.conns.end()) continue;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        im.on_readable(it->second);
        it = im.conns.find(key);
        if (it == im.conns.end()) continue;
      }
      if (ev & EPOLLOUT) {
        if (im.flush(it->second)) {
          it = im.conns.find(key);
          if (it != im.conns.end()) im.pump(it->second);
        }
      }
    }
    if (mail) {
      std::uint64_t v = 0;
      [[maybe_unused]] const ssize_t r = ::read(im.mailbox->efd, &v, sizeof v);
      std::vector<std::pair<std::uint64_t, HttpResponse>> results;
      std::vector<std::uint64_t> wakes;
      bool stop = false, stop_accepting = false;
      {
        std::lock_guard<std::mutex> lock(im.mailbox->mu);
        im.mailbox->signalled = false;
        results.swap(im.mailbox->results);
        wakes.swap(im.mailbox->wakes);
        stop = im.mailbox->stop;
        stop_accepting = im.mailbox->stop_accepting;
      }
      if (stop_accepting || stop) im.close_listener();
      for (auto& [id, res] : results) im.start_response(id, std::move(res));
      std::sort(wakes.begin(), wakes.end());
      wakes.erase(std::unique(wakes.begin(), wakes.end()), wakes.end());
      for (std::uint64_t id : wakes)
        if (auto it = im.conns.find(id); it != im.conns.end()) im.pump(it->second);
      if (stop && stop_deadline == Clock::time_point{}) stop_deadline = Clock::now() + std::chrono::seconds(1);
    }
    const auto now = Clock::now();
    if (now - last_tick >= std::chrono::milliseconds(kTickMs)) {
      last_tick = now;
      im.tick();
    }
    if (stop_deadline != Clock::time_point{}) {
      bool pending = false;
      for (const auto& [id, c] : im.conns) pending = pending || c.out.size() > c.out_off;
      if (!pending || now >= stop_deadline) break;
    }
  }
  // Stop: close every connection (cancelling what is unfinished) and let the workers finish.
  std::vector<std::uint64_t> ids;
  for (const auto& [id, c] : im.conns) ids.push_back(id);
  for (std::uint64_t id : ids) im.close_conn(id);
  {
    std::lock_guard<std::mutex> lock(im.wmu);
    im.workers_stop = true;
    im.jobs.clear();
  }
  im.wcv.notify_all();
  for (auto& t : im.workers) t.join();
  im.workers.clear();
  {
    std::lock_guard<std::mutex> lock(im.mailbox->mu);
    for (auto& [id, res] : im.mailbox->results)
      if (res.async) res.async->cancel();
    im.mailbox->results.clear();
  }
  im.orphans.clear();
  return ok_status();
}

void HttpIo::stop_accepting() {
  std::lock_guard<std::mutex> lock(impl_->mailbox->mu);
  impl_->mailbox->stop_accepting = true;
  impl_->mailbox->signal_locked();
}

void HttpIo::stop() {
  std::lock_guard<std::mutex> lock(impl_->mailbox->mu);
  impl_->mailbox->stop = true;
  impl_->mailbox->signal_locked();
}

std::int64_t HttpIo::connections() const { return impl_->open_conns.load(); }

}  // namespace ferrite::server
