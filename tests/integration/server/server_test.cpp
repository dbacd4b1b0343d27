// The HTTP server over real engines on loopback, talked to with cpp-httplib's client: every
// route, streaming and not, the error codes and bodies, API keys, disconnects, concurrency, and
// the `ferrite serve` binary's ready line and SIGTERM.
#include <gtest/gtest.h>
#include <httplib.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "ferrite/engine.h"
#include "server/http/http_server.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string qwen3_tokenizer() { return testing::shared_dir() + "/fixtures/tokenizers/qwen3"; }
bool have_shared() { return fs::exists(qwen3_tokenizer() + "/tokenizer.json"); }

// The fixture models' vocabulary is 512 ids, so the chat template must write plain text only
// (Qwen3's own writes <|im_start|>, id 151644).
const char* kPlainTemplate =
    "{% for m in messages %}{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %} and{% endif %}";


struct Served {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<server::HttpServer> http;
  std::thread thread;
  int port = 0;

  ~Served() {
    if (http) http->drain(std::chrono::milliseconds(0));
    if (thread.joinable()) thread.join();
    if (engine) engine->shutdown();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
};

std::unique_ptr<Served> serve(EngineConfig ec, server::ServerConfig sc, bool with_tokenizer) {
  auto s = std::make_unique<Served>();
  ec.show_progress = false;
  ec.check_invariants = true;
  auto engine = Engine::create(ec);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  if (!engine.ok()) return nullptr;
  s->engine = std::move(*engine);
  sc.port = 0;
  sc.max_num_seqs = ec.max_num_seqs;
  sc.max_logprobs = ec.max_logprobs;
  if (sc.served_model_names.empty()) sc.served_model_names = {"tiny", "tiny-alias"};
  s->http = std::make_unique<server::HttpServer>(sc);
  auto port = s->http->bind();
  EXPECT_TRUE(port.ok());
  s->port = *port;
  s->thread = std::thread([p = s.get()] { (void)p->http->serve(); });
  std::shared_ptr<const tokenizer::Tokenizer> tok;
  if (with_tokenizer) tok = *tokenizer::Tokenizer::load(qwen3_tokenizer());
  s->http->set_ready(s->engine, tok, s->engine->model_info());
  return s;
}

EngineConfig tiny_config(bool with_tokenizer) {
  EngineConfig c;
  c.model_dir = testing::source_dir() + "/tests/data/models/llama";
  if (with_tokenizer) {
    c.tokenizer_dir = qwen3_tokenizer();
    c.chat_template = kPlainTemplate;
  }
  c.use_generation_config = false;
  c.max_logprobs = 5;
  return c;
}

json post(const httplib::Client& cc, const std::string& path, const json& body, int* status,
          const httplib::Headers& headers = {}) {
  auto& c = const_cast<httplib::Client&>(cc);
  auto r = c.Post(path, headers, body.dump(), "application/json");
  if (!r) {
    *status = -1;
    return nullptr;
  }
  *status = r->status;
  return json::parse(r->body, nullptr, false);
}

// Every error answer: the right code and an OpenAI error body.
void expect_error(const json& body, int status, int want, const std::string& what) {
  EXPECT_EQ(status, want) << what << ": " << body.dump();
  ASSERT_TRUE(body.is_object() && body.contains("error")) << what << ": " << body.dump();
  const json& e = body["error"];
  for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(e.contains(k)) << what << " lacks " << k;
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << what;
}

// Parses an SSE body into its JSON events; sets *done when it ended with [DONE].
std::vector<json> sse_events(const std::string& body, bool* done) {
  std::vector<json> out;
  *done = false;
  std::size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const std::size_t end = body.find("\n\n", pos);
    const std::string payload = body.substr(pos + 6, end - pos - 6);
    if (payload == "[DONE]") *done = true;
    else out.push_back(json::parse(payload));
    pos = end;
  }
  return out;
}

class TokenIdServer : public ::testing::Test {
 protected:
  void SetUp() override { s_ = serve(tiny_config(false), {}, false); ASSERT_TRUE(s_); }
  std::unique_ptr<Served> s_;
};

TEST_F(TokenIdServer, InfoRoutes) {
  auto c = s_->client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto v = c.Get("/version");
  ASSERT_TRUE(v);
  EXPECT_TRUE(json::parse(v->body).contains("version"));
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  const json models = json::parse(m->body);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "tiny");
  EXPECT_EQ(models["data"][1]["id"], "tiny-alias");
  EXPECT_EQ(models["data"][0]["max_model_len"], 128);
  auto one = c.Get("/v1/models/tiny-alias");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body)["id"], "tiny-alias");
  auto missing = c.Get("/v1/models/other");
  ASSERT_TRUE(missing);
  expect_error(json::parse(missing->body), missing->status, 404, "unknown model id");
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "model_not_found");
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  for (const char* name : {"ferrite:num_requests_running", "ferrite:num_requests_waiting", "ferrite:kv_cache_usage_perc",
                           "ferrite:prefix_cache_queries_total", "ferrite:prefix_cache_hits_total",
                           "ferrite:prompt_tokens_total", "ferrite:generation_tokens_total", "ferrite:request_success_total",
                           "ferrite:time_to_first_token_seconds_bucket", "ferrite:inter_token_latency_seconds_bucket",
                           "ferrite:e2e_request_latency_seconds_count", "ferrite:request_queue_time_seconds_sum"})
    EXPECT_NE(metrics->body.find(name), std::string::npos) << name;
}

TEST_F(TokenIdServer, CompletionsWithTokenIdsAndBatches) {
  auto c = s_->client();
  int st = 0;
  json r = post(c, "/v1/completions",
                {{"model", "tiny-alias"}, {"prompt", {{1, 5, 9}, {1, 7}}}, {"n", 2}, {"max_tokens", 4},
                 {"temperature", 0}, {"return_token_ids", true}, {"ignore_eos", true}},
                &st);
  ASSERT_EQ(st, 200) << r.dump();
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["model"], "tiny");
  EXPECT_EQ(r["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  ASSERT_EQ(r["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r["choices"][i]["index"], i);
    EXPECT_EQ(r["choices"][i]["token_ids"].size(), 4u);
    EXPECT_EQ(r["choices"][i]["finish_reason"], "length");
  }
  // Greedy: both completions of one prompt agree.
  EXPECT_EQ(r["choices"][0]["token_ids"], r["choices"][1]["token_ids"]);
  EXPECT_EQ(r["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(r["usage"]["completion_tokens"], 16);
  EXPECT_EQ(r["usage"]["total_tokens"], 21);
  EXPECT_TRUE(r["usage"]["prompt_tokens_details"].contains("cached_tokens"));
}

TEST_F(TokenIdServer, ErrorsLeaveTheServerHealthy) {
  auto c = s_->client();
  int st = 0;
  struct Case {
    json body;
    int code;
    const char* what;
  };
  std::vector<long> too_long(200, 3);
  const std::vector<Case> cases = {
      {{{"prompt", "x"}, {"max_tokens", "many"}}, 400, "wrong type"},
      {{{"max_tokens", 3}}, 400, "missing prompt"},
      {{{"prompt", json::array()}}, 400, "empty prompt"},
      {{{"prompt", {1, "a"}}}, 400, "mixed prompt"},
      {{{"prompt", {1, 2}}, {"model", "gpt-4"}}, 404, "unknown model"},
      {{{"prompt", too_long}}, 400, "prompt too long"},
      {{{"prompt", {1, 600}}}, 400, "out-of-vocabulary id"},
      {{{"prompt", {1, 2}}, {"logprobs", 6}}, 400, "logprobs above --max-logprobs"},
      {{{"prompt", {1, 2}}, {"stream_options", {{"include_usage", true}}}}, 400, "stream_options without stream"},
      {{{"prompt", {1, 2}}, {"suffix", "x"}}, 400, "suffix"},
      {{{"prompt", {1, 2}}, {"best_of", 3}}, 400, "best_of != n"},
      {{{"prompt", {1, 2}}, {"response_format", {{"type", "json_object"}}}}, 400, "response_format"},
      {{{"prompt", {1, 2}}, {"temperature", -1}}, 400, "out of range"},
      {{{"prompt", "needs a tokenizer"}}, 400, "text without tokenizer"},
  };
  for (const auto& k : cases) {
    json r = post(c, "/v1/completions", k.body, &st);
    expect_error(r, st, k.code, k.what);
  }
  auto bad = c.Post("/v1/completions", "{not json", "application/json");
  ASSERT_TRUE(bad);
  expect_error(json::parse(bad->body), bad->status, 400, "bad JSON");
  auto utf = c.Post("/v1/completions", std::string("{\"prompt\": \"\xff\xfe\"}"), "application/json");
  ASSERT_TRUE(utf);
  expect_error(json::parse(utf->body), utf->status, 400, "invalid UTF-8");
  auto route = c.Get("/v1/nothing");
  ASSERT_TRUE(route);
  expect_error(json::parse(route->body), route->status, 404, "unknown route");
  auto method = c.Get("/v1/completions");
  ASSERT_TRUE(method);
  expect_error(json::parse(method->body), method->status, 405, "wrong method");
  json chat_bad = post(c, "/v1/chat/completions", {{"messages", "hi"}}, &st);
  expect_error(chat_bad, st, 400, "messages not a list");
  json top = post(c, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"top_logprobs", 2}}, &st);
  expect_error(top, st, 400, "top_logprobs without logprobs");
  // Still serving.
  json ok = post(c, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 2}}, &st);
  EXPECT_EQ(st, 200) << ok.dump();
  EXPECT_EQ(s_->engine->stats().num_running, 0);
}

TEST(ServerLimits, BodyTooLargeAndApiKey) {
  server::ServerConfig sc;
  sc.max_request_bytes = 1000;
  sc.api_key = "sesame";
  auto s = serve(tiny_config(false), sc, false);
  ASSERT_TRUE(s);
  auto c = s->client();
  int st = 0;
  const httplib::Headers key = {{"Authorization", "Bearer sesame"}};
  json big = post(c, "/v1/completions", {{"prompt", std::vector<int>(600, 1)}}, &st, key);
  expect_error(big, st, 413, "oversized body");
  json none = post(c, "/v1/completions", {{"prompt", {1, 2}}}, &st);
  expect_error(none, st, 401, "no key");
  json wrong = post(c, "/v1/completions", {{"prompt", {1, 2}}}, &st, {{"Authorization", "Bearer sesamf"}});
  expect_error(wrong, st, 401, "wrong key");
  json good = post(c, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 2}}, &st, key);
  EXPECT_EQ(st, 200) << good.dump();
  auto h = c.Get("/health");  // open without a key
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
}

class TextServer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_shared()) GTEST_SKIP() << "../shared fixtures are absent (the Qwen3 tokenizer)";
    s_ = serve(tiny_config(true), {}, true);
    ASSERT_TRUE(s_);
  }
  std::unique_ptr<Served> s_;
};

TEST_F(TextServer, StreamedTextEqualsWholeText) {
  auto c = s_->client();
  int st = 0;
  const json req = {{"prompt", "in the"}, {"max_tokens", 12}, {"temperature", 0}, {"ignore_eos", true}, {"logprobs", 2}};
  json whole = post(c, "/v1/completions", req, &st);
  ASSERT_EQ(st, 200) << whole.dump();
  const json& lp = whole["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), 12u);
  EXPECT_EQ(lp["token_logprobs"].size(), 12u);
  EXPECT_EQ(lp["text_offset"].size(), 12u);
  EXPECT_GE(lp["top_logprobs"][0].size(), 2u);
  json sreq = req;
  sreq["stream"] = true;
  sreq["stream_options"] = {{"include_usage", true}};
  auto r = c.Post("/v1/completions", sreq.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  bool done = false;
  auto events = sse_events(r->body, &done);
  EXPECT_TRUE(done);
  std::string text;
  for (const auto& e : events)
    for (const auto& ch : e["choices"]) text += ch["text"].get<std::string>();
  EXPECT_EQ(text, whole["choices"][0]["text"].get<std::string>());
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back()["choices"].empty());
  EXPECT_EQ(events.back()["usage"]["completion_tokens"], 12);
  // Echo puts the prompt first.
  json echo = post(c, "/v1/completions", {{"prompt", "in the"}, {"max_tokens", 3}, {"echo", true}, {"temperature", 0}}, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(echo["choices"][0]["text"].get<std::string>().rfind("in the", 0), 0u);
}

TEST_F(TextServer, ChatCompletions) {
  auto c = s_->client();
  int st = 0;
  const json req = {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "in the"}}}},
                    {"max_completion_tokens", 6}, {"temperature", 0}, {"ignore_eos", true},
                    {"logprobs", true}, {"top_logprobs", 2}};
  json whole = post(c, "/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200) << whole.dump();
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  const json& msg = whole["choices"][0]["message"];
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_TRUE(msg.contains("refusal") && msg["refusal"].is_null());
  const json& lp = whole["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 6u);
  EXPECT_EQ(lp[0]["top_logprobs"].size(), 2u);
  EXPECT_TRUE(lp[0]["bytes"].is_array());
  EXPECT_EQ(whole["usage"]["completion_tokens"], 6);
  json sreq = req;
  sreq["stream"] = true;
  auto r = c.Post("/v1/chat/completions", sreq.dump(), "application/json");
  ASSERT_TRUE(r);
  bool done = false;
  auto events = sse_events(r->body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  std::string finish;
  for (const auto& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    for (const auto& ch : e["choices"]) {
      if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
      if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
    }
  }
  EXPECT_EQ(text, msg["content"].get<std::string>());
  EXPECT_EQ(finish, "length");
}

TEST_F(TextServer, TokenizeAndDetokenize) {
  auto c = s_->client();
  int st = 0;
  json t = post(c, "/tokenize", {{"prompt", "in the"}}, &st);
  ASSERT_EQ(st, 200) << t.dump();
  EXPECT_EQ(t["count"], t["tokens"].size());
  EXPECT_EQ(t["max_model_len"], 128);
  json d = post(c, "/detokenize", {{"tokens", t["tokens"]}}, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(d["prompt"], "in the");
  json chat = post(c, "/tokenize", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}, &st);
  ASSERT_EQ(st, 200) << chat.dump();
  EXPECT_GT(chat["count"].get<int>(), t["count"].get<int>());
  json bad = post(c, "/detokenize", {{"tokens", {1, -4}}}, &st);
  expect_error(bad, st, 400, "negative id");
}

TEST_F(TokenIdServer, ConcurrentGreedyEqualsSequential) {
  auto c = s_->client();
  std::vector<json> reqs;
  for (int i = 0; i < 6; ++i)
    reqs.push_back({{"prompt", {1, 10 + i, 20 + 2 * i, 3}}, {"max_tokens", 20}, {"temperature", 0},
                    {"ignore_eos", true}, {"return_token_ids", true}});
  std::vector<json> seq;
  for (const auto& r : reqs) {
    int st = 0;
    seq.push_back(post(c, "/v1/completions", r, &st)["choices"][0]["token_ids"]);
  }
  std::vector<std::future<json>> futs;
  for (const auto& r : reqs)
    futs.push_back(std::async(std::launch::async, [this, r] {
      auto cl = s_->client();
      int st = 0;
      json j = r;
      if (j["prompt"][1].get<int>() % 2 == 0) j["stream"] = true;
      if (!j.contains("stream")) return post(cl, "/v1/completions", j, &st)["choices"][0]["token_ids"];
      auto res = cl.Post("/v1/completions", j.dump(), "application/json");
      bool done = false;
      json ids = json::array();
      for (const auto& e : sse_events(res->body, &done))
        for (const auto& ch : e["choices"])
          for (const auto& id : ch["token_ids"]) ids.push_back(id);
      return ids;
    }));
  for (std::size_t i = 0; i < futs.size(); ++i) EXPECT_EQ(futs[i].get(), seq[i]) << "request " << i;
}

EngineConfig slow_config() {
  EngineConfig c;
  c.model_dir = testing::slow_dummy_model_dir();
  c.load_format = "dummy";
  c.use_generation_config = false;
  c.max_num_seqs = 4;
  return c;
}

std::int64_t metric(const std::string& text, const std::string& line_prefix) {
  const auto p = text.find(line_prefix);
  if (p == std::string::npos) return -1;
  return std::stoll(text.substr(p + line_prefix.size() + 1));
}

TEST(SlowServer, TimeoutAndQueueLimit) {
  server::ServerConfig sc;
  sc.request_timeout_s = 1.0;
  sc.max_queue_len = 1;
  auto s = serve(slow_config(), sc, false);
  ASSERT_TRUE(s);
  const json long_req = {{"prompt", {1, 2, 3}}, {"max_tokens", 3000}, {"ignore_eos", true}, {"stream", true}};
  auto c = s->client();
  {
    // Runs until --request-timeout (1 s) aborts it.
    auto r = c.Post("/v1/completions", long_req.dump(), "application/json");
    ASSERT_TRUE(r);
    bool done = false;
    auto events = sse_events(r->body, &done);
    EXPECT_TRUE(done);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["choices"][0]["finish_reason"], "abort");
  }
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(metric(m->body, "ferrite:request_success_total{model_name=\"tiny\",finished_reason=\"abort\"}"), 1);
  {
    // Four run (--max-num-seqs), one waits, and the queue (--max-queue-len 1) is full.
    std::vector<std::future<int>> busy;
    // One at a time, each scheduled before the next arrives: a burst could see a full queue.
    for (int k = 0; k < 5; ++k) {
      busy.push_back(std::async(std::launch::async, [&] {
        auto cl = s->client();
        auto r = cl.Post("/v1/completions", long_req.dump(), "application/json");
        return r ? r->status : -1;
      }));
      for (int i = 0; i < 100 && s->http->in_flight() < k + 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    auto r = c.Post("/v1/completions", long_req.dump(), "application/json");
    ASSERT_TRUE(r);
    expect_error(json::parse(r->body), r->status, 503, "queue full");
    EXPECT_TRUE(r->has_header("Retry-After"));
    for (auto& f : busy) EXPECT_EQ(f.get(), 200);
  }
}

TEST(SlowServer, DisconnectFreesBlocks) {
  auto s = serve(slow_config(), {}, false);
  ASSERT_TRUE(s);
  const json long_req = {{"prompt", {1, 2, 3}}, {"max_tokens", 3000}, {"ignore_eos", true}, {"stream", true}};
  auto c = s->client();
  {
    // Read two chunks, then hang up: the request must be aborted and its blocks freed.
    httplib::Client cl("127.0.0.1", s->port);
    std::atomic<int> chunks{0};
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = long_req.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) { return ++chunks < 2; };
    auto r = cl.send(req);
    EXPECT_GE(chunks.load(), 2) << httplib::to_string(r.error());
  }
  // Aborted within a step or so: nothing running, every block free again.
  // Without --request-timeout only the disconnect can end it (3000 tokens take many seconds).
  for (int i = 0; i < 50 && s->engine->stats().num_running > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const EngineStats es = s->engine->stats();
  EXPECT_EQ(es.num_running, 0);
  auto m = c.Get("/metrics");
  EXPECT_EQ(metric(m->body, "ferrite:num_requests_running{model_name=\"tiny\"}"), 0);
  EXPECT_EQ(metric(m->body, "ferrite:request_success_total{model_name=\"tiny\",finished_reason=\"abort\"}"), 1);
  EXPECT_EQ(es.num_free_kv_blocks, es.num_kv_blocks);
}

// The binary: ready line on stderr, /health, SIGTERM drains and exits 0.
TEST(ServeBinary, ReadyLineAndSigterm) {
  const std::string dir = testing::make_temp_dir("serve-bin");
  const std::string log = dir + "/log";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    dup2(fd, 1);
    const std::string model = testing::source_dir() + "/tests/data/models/llama";
    execl(testing::ferrite_binary().c_str(), "ferrite", "serve", model.c_str(), "--port", "0", "--served-model-name",
          "tiny", static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  std::string text;
  for (int i = 0; i < 300 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    text = testing::read_text(log);
    const auto p = text.find("on http://127.0.0.1:");
    if (p != std::string::npos) port = std::stoi(text.substr(p + 20));
  }
  ASSERT_GT(port, 0) << text;
  EXPECT_NE(text.find("ferrite: serving tiny (LlamaForCausalLM, float32, "), std::string::npos) << text;
  httplib::Client c("127.0.0.1", port);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::read_text(log);
  EXPECT_FALSE(c.Get("/health"));
}

TEST(ServeBinary, TensorParallelNeedsTheTpLaunch) {
  const auto r = testing::run_command(testing::ferrite_binary() + " serve " + testing::source_dir() +
                                      "/tests/data/models/llama --tensor-parallel-size 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tensor-parallel"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ferrite
