// `ferrite chat`: an interactive terminal chat. Either in-process (builds an Engine; the history
// is rendered with the model's chat template through a ChatPrompt) or against a running server
// (`--url`: streams /v1/chat/completions over SSE with cpp-httplib's client). It reads plain lines
// from stdin, so it is scriptable: `printf 'Hi\nMore\n' | ferrite chat MODEL_DIR`.
//
// Lines starting with '/' are commands: /exit (or EOF) quits, /reset clears the history.
// Ctrl-C during a reply ends that reply (the request is aborted); at the prompt it quits.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/sse_parser.h"
#include "cli/engine_flags.h"
#include "ferrite/engine.h"

namespace ferrite::cli {

namespace {

using Json = nlohmann::ordered_json;

Status unavailable_error(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

// SIGINT: during a reply it only raises g_abort_reply; otherwise it ends the program.
std::atomic<bool> g_in_reply{false};
std::atomic<bool> g_abort_reply{false};

extern "C" void on_sigint(int) {
  if (g_in_reply.load()) {
    g_abort_reply.store(true);
    return;
  }
  const char nl = '\n';
  (void)!::write(STDERR_FILENO, &nl, 1);
  ::_exit(130);
}

void install_sigint_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read is interrupted and sees the flag
  sigaction(SIGINT, &sa, nullptr);
}

struct ChatOptions {
  std::optional<double> temperature, top_p;
  std::optional<long long> max_tokens;
  std::string system;
};

Result<ChatOptions> chat_options_from(const Args& args) {
  ChatOptions o;
  if (args.has("temperature")) {
    FERRITE_ASSIGN_OR_RETURN(double t, args.get_double("temperature"));
    o.temperature = t;
  }
  if (args.has("top-p")) {
    FERRITE_ASSIGN_OR_RETURN(double p, args.get_double("top-p"));
    o.top_p = p;
  }
  if (args.has("max-tokens")) {
    FERRITE_ASSIGN_OR_RETURN(long long m, args.get_int("max-tokens"));
    if (m < 1) return invalid_argument("--max-tokens must be >= 1");
    o.max_tokens = m;
  }
  o.system = args.get("system");
  return o;
}

// One conversation backend: sends the history, streams the reply's text to `out`, and returns
// the whole reply (partial if aborted), or an error.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<std::string> reply(const Json& messages, const ChatOptions& opt) = 0;
};

void emit(const std::string& text) {
  if (text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

class EngineBackend : public Backend {
 public:
  explicit EngineBackend(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
  ~EngineBackend() override { engine_->shutdown(); }

  Result<std::string> reply(const Json& messages, const ChatOptions& opt) override {
    GenerateRequest req;
    req.request_id = "chat-" + std::to_string(++turn_);
    ChatPrompt cp;
    cp.messages = messages;
    req.prompt = std::move(cp);
    if (opt.temperature) {
      req.sampling.temperature = *opt.temperature;
      req.sampling.given.temperature = true;
    }
    if (opt.top_p) {
      req.sampling.top_p = *opt.top_p;
      req.sampling.given.top_p = true;
    }
    if (opt.max_tokens) {
      req.sampling.max_tokens = *opt.max_tokens;
      req.sampling.given.max_tokens = true;
    }
    FERRITE_ASSIGN_OR_RETURN(auto stream, engine_->submit(std::move(req)));
    std::string text, error;
    bool aborted = false;
    for (;;) {
      if (g_abort_reply.load() && !aborted) {
        engine_->abort(stream->request_id());
        aborted = true;
      }
      bool timed_out = false;
      auto d = stream->next_for(std::chrono::milliseconds(50), &timed_out);
      if (timed_out) continue;
      if (!d) break;
      emit(d->text);
      text += d->text;
      if (!d->error.empty()) error = d->error;
    }
    if (!error.empty()) return internal_error(error);
    return text;
  }

 private:
  std::unique_ptr<Engine> engine_;
  long long turn_ = 0;
};


class HttpBackend : public Backend {
 public:
  HttpBackend(std::string url, std::string model, std::string api_key)
      : client_(url), model_(std::move(model)), api_key_(std::move(api_key)) {
    client_.set_read_timeout(std::chrono::seconds(600));
  }
  bool valid() const { return client_.is_valid(); }

  Result<std::string> reply(const Json& messages, const ChatOptions& opt) override {
    Json body = Json::object();
    if (!model_.empty()) body["model"] = model_;
    body["messages"] = messages;
    body["stream"] = true;
    if (opt.temperature) body["temperature"] = *opt.temperature;
    if (opt.top_p) body["top_p"] = *opt.top_p;
    if (opt.max_tokens) body["max_tokens"] = *opt.max_tokens;

    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.set_header("Content-Type", "application/json");
    req.set_header("Accept", "text/event-stream");
    if (!api_key_.empty()) req.set_header("Authorization", "Bearer " + api_key_);
    int status = 0;
    std::string raw, text, error;
    SseParser sse;
    req.response_handler = [&](const httplib::Response& r) {
      status = r.status;
      return true;
    };
    req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
      if (status != 200) {
        raw.append(data, n);
        return true;
      }
      sse.feed(data, n, [&](const std::string& payload) {
        if (payload == "[DONE]") return;
        const Json j = Json::parse(payload, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return;
        if (j.contains("error")) {
          const Json& e = j["error"];
          error = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>()
                                                                                     : e.dump();
          return;
        }
        if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
        const Json& c = j["choices"][0];
        if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") &&
            c["delta"]["content"].is_string()) {
          const std::string piece = c["delta"]["content"].get<std::string>();
          emit(piece);
          text += piece;
        }
      });
      return !g_abort_reply.load();  // false closes the connection: the server aborts the request
    };
    const auto res = client_.send(req);
    if (g_abort_reply.load()) return text;
    if (!res) return unavailable_error("request to the server failed: " + httplib::to_string(res.error()));
    if (status != 200) {
      const Json j = Json::parse(raw, nullptr, false);
      std::string msg = raw;
      if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object() &&
          j["error"].contains("message"))
        msg =
            j["error"]["message"].is_string() ? j["error"]["message"].get<std::string>() : j["error"]["message"].dump();
      return failed_precondition("HTTP " + std::to_string(status) + ": " + msg);
    }
    if (!error.empty()) return internal_error(error);
    return text;
  }

 private:
  httplib::Client client_;
  std::string model_, api_key_;
};

}  // namespace

int run_chat(const std::vector<std::string>& argv) {
  Args args("chat",
            "Chat with a model in the terminal, streaming each reply. In-process (MODEL_DIR and the engine\n"
            "flags) or against a running server (--url). Reads one user message per line from stdin;\n"
            "'/reset' clears the history, '/exit' or end of input quits. Ctrl-C aborts the reply being\n"
            "written (at the prompt it quits). Without MODEL_DIR or --url it chats with the demo model\n"
            "shipped in models/demo.");
  add_engine_flags(args);
  args.flag("url", "URL",
            "chat with a running server instead, e.g. http://127.0.0.1:8000 (--model then names the served model)")
      .flag("api-key", "KEY", "with --url: sent as 'Authorization: Bearer KEY' (default: $FERRITE_API_KEY)")
      .flag("system", "TEXT", "a system message at the start of the conversation")
      .flag("temperature", "T", "sampling temperature (default: the model's generation_config or 1)")
      .flag("top-p", "P", "nucleus sampling (default: the model's generation_config or 1)")
      .flag("max-tokens", "N", "most tokens per reply (default: up to the context length)");
  if (auto code = args.parse_or_exit(argv)) return *code;
  auto opt = chat_options_from(args);
  if (!opt.ok()) return report_error("chat", opt.status());

  std::unique_ptr<Backend> backend;
  if (args.has("url")) {
    if (args.has("MODEL_DIR")) return report_error("chat", invalid_argument("give MODEL_DIR or --url, not both"));
    std::string key = args.get("api-key");
    if (key.empty() && std::getenv("FERRITE_API_KEY")) key = std::getenv("FERRITE_API_KEY");
    auto http = std::make_unique<HttpBackend>(args.get("url"), args.get("model"), key);
    if (!http->valid()) return report_error("chat", invalid_argument("--url: cannot use '" + args.get("url") + "'"));
    backend = std::move(http);
  } else {
    auto config = engine_config_from(args, ModelDefault::kDemo);
    if (!config.ok()) return report_error("chat", config.status());
    if (auto code = run_if_engine_worker("chat", *config)) return *code;
    auto engine = Engine::create(*config);
    if (!engine.ok()) return report_error("chat", engine.status());
    backend = std::make_unique<EngineBackend>(std::move(engine).value());
  }
  signal(SIGPIPE, SIG_IGN);
  install_sigint_handler();

  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  Json history = Json::array();
  auto reset = [&] {
    history = Json::array();
    if (!opt->system.empty()) history.push_back(Json{{"role", "system"}, {"content", opt->system}});
  };
  reset();
  if (interactive) std::fprintf(stderr, "ferrite chat: /reset clears the history, /exit or Ctrl-D quits\n");
  int exit_code = 0;
  for (;;) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    std::string line;
    if (!std::getline(std::cin, line)) {
      if (interactive) std::fputc('\n', stdout);
      break;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      std::fprintf(stderr, "(history cleared)\n");
      continue;
    }
    if (line[0] == '/') {
      std::fprintf(stderr, "unknown command %s (/reset, /exit)\n", line.c_str());
      continue;
    }
    history.push_back(Json{{"role", "user"}, {"content", line}});
    g_abort_reply = false;
    g_in_reply = true;
    auto reply = backend->reply(history, *opt);
    g_in_reply = false;
    const bool aborted = g_abort_reply.exchange(false);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!reply.ok()) {
      // The failed turn is dropped, so the history stays a valid alternation.
      history.erase(history.size() - 1);
      std::fprintf(stderr, "ferrite chat: error: %s\n", reply.status().message().c_str());
      exit_code = 1;
      if (!interactive && reply.status().code() == StatusCode::kUnavailable) break;  // the server is gone
      continue;
    }
    if (aborted) std::fprintf(stderr, "(reply aborted)\n");
    // An aborted reply is kept as far as it got.
    history.push_back(Json{{"role", "assistant"}, {"content", *reply}});
  }
  return exit_code;
}

}  // namespace ferrite::cli
