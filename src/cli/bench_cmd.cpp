// `ferrite bench`: a load generator with vLLM's metric definitions (`vllm bench serve`,
// benchmark_serving.py). Random token-id prompts of a fixed length, fixed output length with
// ignore_eos, Poisson arrivals (or all at once), bounded concurrency; every request is streamed
// and timed: TTFT, ITL (between streamed chunks), TPOT ((e2e - ttft) / (output tokens - 1)), E2EL.
//
//   ferrite bench [serve] --url http://127.0.0.1:8000 --num-prompts 100 --input-len 128 --output-len 128
//   ferrite bench [throughput] --model DIR [engine flags] --num-prompts 100 ...      (in-process)
//   ferrite bench latency --model DIR --batch-size 8 --input-len 32 --output-len 128     (in-process)
//
// One JSON object on stdout (and in --json FILE). Server mode talks to loopback only.
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/sse_parser.h"
#include "cli/engine_flags.h"
#include "ferrite/engine.h"

namespace ferrite::cli {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct RequestResult {
  bool ok = false;
  std::string error;
  std::int64_t prompt_len = 0;
  std::int64_t output_tokens = 0;
  double ttft = 0;          // seconds
  double latency = 0;       // seconds, end to end
  std::vector<double> itl;  // seconds between successive streamed chunks
};

struct BenchOptions {
  std::int64_t num_prompts = 100;
  double request_rate = std::numeric_limits<double>::infinity();
  std::int64_t max_concurrency = 0;  // 0: unbounded
  std::int64_t input_len = 128;
  std::int64_t output_len = 128;
  std::uint64_t seed = 0;
  double temperature = 0;
  bool ignore_eos = true;
  std::int64_t vocab_size = 0;
  // --dataset-path: prompts taken in turn from these (tokenized) instead of random ids.
  std::vector<std::vector<std::int32_t>> dataset;
};

// One --dataset-path line: {"prompt": "text" or [ids]} or {"messages": [...]} (a chat prompt).
Result<Prompt> dataset_prompt(const nlohmann::json& j) {
  if (j.is_object() && j.contains("prompt")) {
    if (j["prompt"].is_string()) return Prompt(j["prompt"].get<std::string>());
    if (j["prompt"].is_array()) {
      std::vector<std::int32_t> ids;
      for (const auto& v : j["prompt"]) {
        if (!v.is_number_integer()) return invalid_argument("'prompt' must be text or an array of token ids");
        ids.push_back(v.get<std::int32_t>());
      }
      return Prompt(std::move(ids));
    }
  }
  if (j.is_object() && j.contains("messages") && j["messages"].is_array()) {
    ChatPrompt c;
    c.messages = nlohmann::ordered_json::parse(j["messages"].dump());
    return Prompt(std::move(c));
  }
  return invalid_argument("each line needs \"prompt\" (text or ids) or \"messages\"");
}

// Reads --dataset-path and tokenizes every line with `tokenize`.
Status load_dataset(const std::string& path, const std::function<Result<std::vector<std::int32_t>>(const Prompt&)>& tokenize,
                    BenchOptions& o) {
  std::ifstream f(path);
  if (!f) return invalid_argument("--dataset-path: cannot read " + path);
  std::string line;
  std::int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    auto prompt = j.is_discarded() ? Result<Prompt>(invalid_argument("not JSON")) : dataset_prompt(j);
    if (!prompt.ok()) return prompt.status().with_context("--dataset-path " + path + " line " + std::to_string(n));
    auto ids = tokenize(*prompt);
    if (!ids.ok()) return ids.status().with_context("--dataset-path " + path + " line " + std::to_string(n));
    o.dataset.push_back(std::move(ids).value());
  }
  if (o.dataset.empty()) return invalid_argument("--dataset-path: " + path + " has no prompts");
  return ok_status();
}

// The prompts of a run: the dataset's in turn, else random ids of --input-len tokens.
std::vector<std::vector<std::int32_t>> make_prompts(const BenchOptions& o, std::int64_t count, std::mt19937_64& rng) {
  std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(count));
  std::uniform_int_distribution<std::int32_t> tok(0, static_cast<std::int32_t>(std::max<std::int64_t>(o.vocab_size, 1) - 1));
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (!o.dataset.empty()) {
      prompts[i] = o.dataset[i % o.dataset.size()];
      continue;
    }
    prompts[i].resize(static_cast<std::size_t>(o.input_len));
    for (auto& id : prompts[i]) id = tok(rng);
  }
  return prompts;
}

// Speculative decoding's counters over a run, as vLLM reports them: the acceptance rate (accepted
// over proposed drafts) and the mean acceptance length (tokens per verification: 1 + accepted
// per draft run).
struct SpecCounters {
  std::int64_t drafts = 0, draft_tokens = 0, accepted = 0;
  std::vector<std::int64_t> per_pos;
};

SpecCounters spec_counters(const EngineStats& s) {
  return {s.spec_num_drafts, s.spec_num_draft_tokens, s.spec_num_accepted_tokens, s.spec_accepted_per_pos};
}

void add_spec(Json& out, const SpecCounters& before, const SpecCounters& after) {
  const std::int64_t drafts = after.drafts - before.drafts;
  if (drafts <= 0) return;
  const std::int64_t draft_tokens = after.draft_tokens - before.draft_tokens;
  const std::int64_t accepted = after.accepted - before.accepted;
  Json j = Json::object();
  j["num_drafts"] = drafts;
  j["num_draft_tokens"] = draft_tokens;
  j["num_accepted_tokens"] = accepted;
  j["draft_acceptance_rate"] = draft_tokens > 0 ? static_cast<double>(accepted) / static_cast<double>(draft_tokens) : 0.0;
  j["mean_acceptance_length"] = 1.0 + static_cast<double>(accepted) / static_cast<double>(drafts);
  Json pos = Json::array();
  for (std::size_t i = 0; i < after.per_pos.size(); ++i) {
    const std::int64_t b = i < before.per_pos.size() ? before.per_pos[i] : 0;
    pos.push_back(static_cast<double>(after.per_pos[i] - b) / static_cast<double>(drafts));
  }
  j["acceptance_rate_per_position"] = pos;
  out["spec_decode"] = j;
}

// The same counters from a server's /metrics (absent ones stay 0).
SpecCounters scrape_spec_counters(httplib::Client& client) {
  SpecCounters c;
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return c;
  std::size_t start = 0;
  const std::string& body = res->body;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const double v = std::strtod(line.c_str() + sp + 1, nullptr);
    auto has = [&](const char* name) { return line.find(name) != std::string::npos; };
    if (has(":spec_decode_num_drafts_total{")) c.drafts = static_cast<std::int64_t>(v);
    else if (has(":spec_decode_num_draft_tokens_total{")) c.draft_tokens = static_cast<std::int64_t>(v);
    else if (has(":spec_decode_num_accepted_tokens_total{")) c.accepted = static_cast<std::int64_t>(v);
    else if (has(":spec_decode_num_accepted_tokens_per_pos_total{")) {
      const auto p = line.find("position=\"");
      if (p == std::string::npos) continue;
      const auto pos = static_cast<std::size_t>(std::strtol(line.c_str() + p + 10, nullptr, 10));
      if (pos < 64) {
        if (c.per_pos.size() <= pos) c.per_pos.resize(pos + 1, 0);
        c.per_pos[pos] = static_cast<std::int64_t>(v);
      }
    }
  }
  return c;
}

// Runs one request (prompt token ids) to the end, streaming, and times it.
using Runner = std::function<RequestResult(const std::vector<std::int32_t>&)>;


// ---- server mode --------------------------------------------------------------------------

struct ServerTarget {
  std::string url, endpoint, model, api_key;
  double timeout_s = 600;
};

// The host of "http://HOST:PORT/..." ("[::1]" keeps its brackets off).
std::string url_host(const std::string& url) {
  std::string rest = url;
  if (auto p = rest.find("://"); p != std::string::npos) rest = rest.substr(p + 3);
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.find_first_of(":/"));
}

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

RequestResult run_http_request(const ServerTarget& t, const BenchOptions& o, const std::vector<std::int32_t>& prompt) {
  RequestResult r;
  r.prompt_len = static_cast<std::int64_t>(prompt.size());
  Json body = Json::object();
  if (!t.model.empty()) body["model"] = t.model;
  body["prompt"] = prompt;
  body["max_tokens"] = o.output_len;
  body["temperature"] = o.temperature;
  body["ignore_eos"] = o.ignore_eos;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};

  httplib::Client client(t.url);
  client.set_read_timeout(std::chrono::milliseconds(static_cast<long long>(t.timeout_s * 1000)));
  client.set_connection_timeout(std::chrono::seconds(10));
  httplib::Request req;
  req.method = "POST";
  req.path = t.endpoint;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!t.api_key.empty()) req.set_header("Authorization", "Bearer " + t.api_key);
  int status = 0;
  std::string raw, error;
  std::int64_t chunks = 0, usage_tokens = -1;
  bool first = true;
  SseParser sse;
  const auto t0 = Clock::now();
  auto last = t0;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (status != 200) {
      if (raw.size() < 4096) raw.append(data, n);
      return true;
    }
    sse.feed(data, n, [&](const std::string& payload) {
      if (payload == "[DONE]") return;
      const auto now = Clock::now();
      const Json j = Json::parse(payload, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return;
      if (j.contains("error")) {
        const Json& e = j["error"];
        error = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>()
                                                                                   : e.dump();
        return;
      }
      if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
        // As vLLM's client: every chunk with a choice is a step; the first one is the first token.
        if (first) {
          r.ttft = std::chrono::duration<double>(now - t0).count();
          first = false;
        } else {
          r.itl.push_back(std::chrono::duration<double>(now - last).count());
        }
        last = now;
        ++chunks;
      } else if (j.contains("usage") && j["usage"].is_object() && j["usage"].contains("completion_tokens") &&
                 j["usage"]["completion_tokens"].is_number_integer()) {
        usage_tokens = j["usage"]["completion_tokens"].get<std::int64_t>();
      }
    });
    return true;
  };
  const auto res = client.send(req);
  r.latency = seconds_since(t0);
  if (!res) {
    r.error = "request failed: " + httplib::to_string(res.error());
    return r;
  }
  if (status != 200) {
    r.error = "HTTP " + std::to_string(status) + ": " + raw.substr(0, 300);
    return r;
  }
  if (!error.empty()) {
    r.error = error;
    return r;
  }
  if (first) {
    r.error = "the stream carried no completion chunk";
    return r;
  }
  r.output_tokens = usage_tokens >= 0 ? usage_tokens : chunks;
  r.ok = true;
  return r;
}

// ---- in-process mode ----------------------------------------------------------------------

RequestResult run_engine_request(Engine& engine, const BenchOptions& o, const std::vector<std::int32_t>& prompt,
                                 const std::string& id) {
  RequestResult r;
  r.prompt_len = static_cast<std::int64_t>(prompt.size());
  GenerateRequest req;
  req.request_id = id;
  req.prompt = prompt;
  req.sampling.max_tokens = o.output_len;
  req.sampling.given.max_tokens = true;
  req.sampling.temperature = o.temperature;
  req.sampling.given.temperature = true;
  req.sampling.ignore_eos = o.ignore_eos;
  const auto t0 = Clock::now();
  auto last = t0;
  auto stream = engine.submit(std::move(req));
  if (!stream.ok()) {
    r.error = stream.status().message();
    r.latency = seconds_since(t0);
    return r;
  }
  bool first = true;
  while (auto d = (*stream)->next()) {
    if (!d->error.empty()) r.error = d->error;
    if (d->token_ids.empty()) continue;
    const auto now = Clock::now();
    if (first) {
      r.ttft = std::chrono::duration<double>(now - t0).count();
      first = false;
    } else {
      r.itl.push_back(std::chrono::duration<double>(now - last).count());
    }
    last = now;
  }
  r.latency = seconds_since(t0);
  r.output_tokens = (*stream)->usage().completion_tokens;
  if (r.error.empty() && first) r.error = "no token was generated";
  r.ok = r.error.empty();
  return r;
}

// ---- the driver and the statistics --------------------------------------------------------

// numpy.percentile's default (linear interpolation between closest ranks).
double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

void add_stats(Json& out, const std::string& name, const std::vector<double>& secs) {
  double mean = 0, sd = 0;
  if (!secs.empty()) {
    mean = std::accumulate(secs.begin(), secs.end(), 0.0) / static_cast<double>(secs.size());
    for (double x : secs) sd += (x - mean) * (x - mean);
    sd = std::sqrt(sd / static_cast<double>(secs.size()));
  }
  out["mean_" + name + "_ms"] = mean * 1000;
  out["median_" + name + "_ms"] = percentile(secs, 50) * 1000;
  out["std_" + name + "_ms"] = sd * 1000;
  out["p90_" + name + "_ms"] = percentile(secs, 90) * 1000;
  out["p99_" + name + "_ms"] = percentile(secs, 99) * 1000;
}

Json run_benchmark(const BenchOptions& o, const Runner& runner, const std::string& mode) {
  std::mt19937_64 rng(o.seed);
  const auto prompts = make_prompts(o, o.num_prompts, rng);
  // Poisson process: exponential gaps with mean 1/rate (all at t=0 for an infinite rate).
  std::vector<double> arrivals(prompts.size(), 0.0);
  if (std::isfinite(o.request_rate)) {
    std::exponential_distribution<double> gap(o.request_rate);
    double t = 0;
    for (auto& a : arrivals) {
      a = t;
      t += gap(rng);
    }
  }

  // A pool of workers, one per request in flight: a free worker takes the next request in arrival
  // order and sends it at its arrival time (or at once if that has passed), so at most
  // max_concurrency (unbounded: up to 4096) run at once and none starts before it arrives.
  std::vector<RequestResult> results(prompts.size());
  const std::int64_t limit = o.max_concurrency > 0 ? o.max_concurrency : 4096;
  const auto num_workers = static_cast<std::size_t>(std::min<std::int64_t>(limit, o.num_prompts));
  std::atomic<std::size_t> next{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  workers.reserve(num_workers);
  for (std::size_t w = 0; w < num_workers; ++w) {
    workers.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < prompts.size();) {
        std::this_thread::sleep_until(
            t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrivals[i])));
        results[i] = runner(prompts[i]);
      }
    });
  }
  for (auto& w : workers) w.join();
  const double duration = seconds_since(t0);

  std::int64_t completed = 0, failed = 0, in_tokens = 0, out_tokens = 0;
  std::vector<double> ttft, tpot, itl, e2el;
  Json errors = Json::array();
  for (const auto& r : results) {
    if (!r.ok) {
      ++failed;
      if (errors.size() < 5) errors.push_back(r.error);
      continue;
    }
    ++completed;
    in_tokens += r.prompt_len;
    out_tokens += r.output_tokens;
    ttft.push_back(r.ttft);
    e2el.push_back(r.latency);
    if (r.output_tokens > 1) tpot.push_back((r.latency - r.ttft) / static_cast<double>(r.output_tokens - 1));
    itl.insert(itl.end(), r.itl.begin(), r.itl.end());
  }
  Json out = Json::object();
  out["mode"] = mode;
  out["num_prompts"] = o.num_prompts;
  out["request_rate"] = std::isfinite(o.request_rate) ? Json(o.request_rate) : Json("inf");
  out["max_concurrency"] = o.max_concurrency > 0 ? Json(o.max_concurrency) : Json(nullptr);
  if (o.dataset.empty()) out["input_len"] = o.input_len;
  else out["dataset_prompts"] = static_cast<std::int64_t>(o.dataset.size());
  out["output_len"] = o.output_len;
  out["duration"] = duration;
  out["completed"] = completed;
  out["failed"] = failed;
  out["total_input_tokens"] = in_tokens;
  out["total_output_tokens"] = out_tokens;
  out["request_throughput"] = static_cast<double>(completed) / duration;
  out["output_throughput"] = static_cast<double>(out_tokens) / duration;
  out["total_token_throughput"] = static_cast<double>(in_tokens + out_tokens) / duration;
  add_stats(out, "ttft", ttft);
  add_stats(out, "tpot", tpot);
  add_stats(out, "itl", itl);
  add_stats(out, "e2el", e2el);
  out["errors"] = errors;
  return out;
}

// `bench latency`: one batch of --batch-size requests (--input-len random prompt ids each,
// --output-len tokens, ignore_eos) submitted together, timed from submit to the last token; after
// --num-iters-warmup untimed batches, --num-iters timed ones. Each batch draws new prompts, so the
// prefix cache never shortens a prefill.
Result<Json> run_latency(Engine& engine, const BenchOptions& o, std::int64_t batch, std::int64_t warmup,
                         std::int64_t iters) {
  std::mt19937_64 rng(o.seed);
  std::vector<double> latencies;
  std::int64_t id = 0, generated = 0;
  SpecCounters spec_before;
  // Random ids never repeat across batches; a dataset is taken in turn, batch after batch.
  auto prompts = make_prompts(o, batch * (warmup + iters), rng);
  for (std::int64_t it = 0; it < warmup + iters; ++it) {
    std::vector<std::shared_ptr<OutputStream>> streams;
    if (it == warmup) spec_before = spec_counters(engine.stats());
    const auto t0 = Clock::now();
    for (std::int64_t b = 0; b < batch; ++b) {
      GenerateRequest req;
      req.request_id = "latency-" + std::to_string(id++);
      req.prompt = std::move(prompts[static_cast<std::size_t>(batch * it + b)]);
      req.sampling.max_tokens = o.output_len;
      req.sampling.given.max_tokens = true;
      req.sampling.temperature = o.temperature;
      req.sampling.given.temperature = true;
      req.sampling.ignore_eos = o.ignore_eos;
      FERRITE_ASSIGN_OR_RETURN(auto stream, engine.submit(std::move(req)));
      streams.push_back(std::move(stream));
    }
    std::int64_t batch_tokens = 0;
    for (auto& s : streams) {
      while (auto d = s->next())
        if (!d->error.empty()) return internal_error("a request failed: " + d->error);
      batch_tokens += s->usage().completion_tokens;
    }
    const double secs = seconds_since(t0);
    if (it >= warmup) generated += batch_tokens;
    std::fprintf(stderr, "ferrite bench latency: %s %lld/%lld: %.3f s\n", it < warmup ? "warmup" : "iteration",
                 static_cast<long long>(it < warmup ? it + 1 : it - warmup + 1),
                 static_cast<long long>(it < warmup ? warmup : iters), secs);
    if (it >= warmup) latencies.push_back(secs);
  }
  Json out = Json::object();
  out["mode"] = "latency";
  out["batch_size"] = batch;
  if (o.dataset.empty()) out["input_len"] = o.input_len;
  else out["dataset_prompts"] = static_cast<std::int64_t>(o.dataset.size());
  out["output_len"] = o.output_len;
  out["num_iters_warmup"] = warmup;
  out["num_iters"] = iters;
  out["avg_latency"] = std::accumulate(latencies.begin(), latencies.end(), 0.0) / static_cast<double>(latencies.size());
  out["latencies"] = latencies;
  Json pct = Json::object();
  for (int q : {10, 25, 50, 75, 90, 99}) pct[std::to_string(q)] = percentile(latencies, q);
  out["percentiles"] = pct;
  // Generated tokens per second over a whole batch (prefill included); fewer than output_len
  // per request only when --no-ignore-eos let one stop early.
  out["output_throughput"] = static_cast<double>(generated) / static_cast<double>(iters) / out["avg_latency"].get<double>();
  add_spec(out, spec_before, spec_counters(engine.stats()));
  return out;
}

Result<std::int64_t> int_flag(const Args& args, const std::string& name, const std::string& alias, std::int64_t lo,
                              std::int64_t hi) {
  const std::string use = (!alias.empty() && args.has(alias) && !args.has(name)) ? alias : name;
  FERRITE_ASSIGN_OR_RETURN(long long v, args.get_int(use));
  if (v < lo || v > hi)
    return invalid_argument("--" + use + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return static_cast<std::int64_t>(v);
}

Result<BenchOptions> bench_options_from(const Args& args) {
  BenchOptions o;
  FERRITE_ASSIGN_OR_RETURN(o.num_prompts, int_flag(args, "num-prompts", "", 1, 100000));
  FERRITE_ASSIGN_OR_RETURN(o.max_concurrency, int_flag(args, "max-concurrency", "", 0, 4096));
  FERRITE_ASSIGN_OR_RETURN(o.input_len, int_flag(args, "input-len", "random-input-len", 1, 1 << 20));
  FERRITE_ASSIGN_OR_RETURN(o.output_len, int_flag(args, "output-len", "random-output-len", 1, 1 << 20));
  FERRITE_ASSIGN_OR_RETURN(long long seed, args.get_int("seed"));
  o.seed = static_cast<std::uint64_t>(seed);
  const std::string rate = args.get("request-rate");
  if (rate == "inf" || rate == "Inf" || rate == "infinity") {
    o.request_rate = std::numeric_limits<double>::infinity();
  } else {
    FERRITE_ASSIGN_OR_RETURN(o.request_rate, args.get_double("request-rate"));
    if (!(o.request_rate > 0)) return invalid_argument("--request-rate must be > 0 requests/s, or inf");
  }
  FERRITE_ASSIGN_OR_RETURN(o.temperature, args.get_double("temperature"));
  o.ignore_eos = !args.has("ignore-eos") || args.get_bool("ignore-eos");
  if (args.has("vocab-size")) {
    FERRITE_ASSIGN_OR_RETURN(o.vocab_size, int_flag(args, "vocab-size", "", 1, INT32_MAX));
  }
  return o;
}

// Prints the result JSON (and writes it to --json FILE); nonzero if the file cannot be written.
int print_result(const Args& args, const Json& result) {
  const std::string text = result.dump(2);
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  if (args.has("json")) {
    std::ofstream f(args.get("json"));
    if (!f) return report_error("bench", invalid_argument("--json: cannot write " + args.get("json")));
    f << text << "\n";
  }
  return 0;
}

}  // namespace

int run_bench(const std::vector<std::string>& argv_in) {
  // An optional first word, as `vllm bench serve` / `vllm bench throughput`.
  std::vector<std::string> argv = argv_in;
  std::string mode;
  if (!argv.empty() && (argv[0] == "serve" || argv[0] == "throughput" || argv[0] == "latency")) {
    mode = argv[0];
    argv.erase(argv.begin());
  }
  Args args("bench [serve|throughput|latency]",
            "Benchmark serving with vLLM's metrics (TTFT, TPOT, ITL, E2EL; request and token throughput):\n"
            "random token-id prompts of --input-len tokens, --output-len tokens each (ignore_eos), arriving\n"
            "as a Poisson process of --request-rate per second, at most --max-concurrency at once, each\n"
            "streamed and timed. 'serve' (or --url): against a running server on loopback; 'throughput' (or\n"
            "--model DIR without --url): an in-process engine. 'latency': in-process, one batch of\n"
            "--batch-size requests at a time, --num-iters timed batches (vLLM's `bench latency`).\n"
            "Prints one JSON object.");
  add_engine_flags(args);
  args.flag("url", "URL",
            "a running server, e.g. http://127.0.0.1:8000 (loopback only); --model then names the served model")
      .flag("endpoint", "PATH", "the completions route", "/v1/completions")
      .flag("api-key", "KEY", "sent as 'Authorization: Bearer KEY' (default: $FERRITE_API_KEY)")
      .flag("num-prompts", "N", "requests to send", "100")
      .flag("request-rate", "R", "requests per second, Poisson arrivals (inf: all at once)", "inf")
      .flag("max-concurrency", "C", "most requests in flight at once (0: unbounded, i.e. up to 4096)", "0")
      .flag("input-len", "N", "prompt tokens per request (alias --random-input-len)", "128")
      .flag("random-input-len", "N", "same as --input-len")
      .flag("output-len", "N", "tokens generated per request (alias --random-output-len)", "128")
      .flag("random-output-len", "N", "same as --output-len")
      .flag("temperature", "T", "sampling temperature of every request", "0")
      .boolean("ignore-eos", "keep generating to --output-len past EOS (default on)", true)
      .flag("dataset-path", "FILE.jsonl",
            "prompts from a file instead of random ids, taken in turn: lines {\"prompt\": text or ids} or "
            "{\"messages\": [...]} (tokenized by the engine, or by the server's /tokenize)")
      .flag("vocab-size", "N",
            "random prompt ids are drawn from [0, N) (default: the model's vocabulary in-process, 500 with --url)")
      .flag("request-timeout", "SECONDS", "with --url: give up on a request silent this long", "600")
      .flag("batch-size", "N", "latency: requests per batch", "8")
      .flag("num-iters-warmup", "N", "latency: untimed batches first", "2")
      .flag("num-iters", "N", "latency: timed batches", "10")
      .flag("json", "FILE", "also write the result JSON to FILE");
  if (auto code = args.parse_or_exit(argv)) return *code;
  auto opts = bench_options_from(args);
  if (!opts.ok()) return report_error("bench", opts.status());
  BenchOptions o = *opts;
  const bool server_mode = mode == "serve" || (mode.empty() && args.has("url"));
  if ((mode == "throughput" || mode == "latency") && args.has("url"))
    return report_error("bench", invalid_argument("'bench " + mode + "' runs in-process: drop --url (or use 'bench serve')"));
  signal(SIGPIPE, SIG_IGN);
  auto batch = int_flag(args, "batch-size", "", 1, 4096);
  auto warmup = int_flag(args, "num-iters-warmup", "", 0, 100000);
  auto iters = int_flag(args, "num-iters", "", 1, 100000);
  for (const auto* r : {&batch, &warmup, &iters})
    if (!r->ok()) return report_error("bench", r->status());

  Json result;
  if (server_mode) {
    ServerTarget t;
    t.url = args.has("url") ? args.get("url") : "http://127.0.0.1:8000";
    if (!is_loopback(url_host(t.url)))
      return report_error(
          "bench",
          invalid_argument("--url: the load generator only talks to loopback (127.0.0.1, localhost, ::1), got '" +
                           t.url + "'"));
    if (args.has("MODEL_DIR"))
      return report_error("bench", invalid_argument("MODEL_DIR is for in-process runs; with --url use --model NAME"));
    t.endpoint = args.get("endpoint");
    if (t.endpoint != "/v1/completions")
      return report_error(
          "bench",
          unimplemented("--endpoint: only /v1/completions (token-id prompts) is supported, got '" + t.endpoint + "'"));
    t.model = args.get("model");
    t.api_key = args.get("api-key");
    if (t.api_key.empty() && std::getenv("FERRITE_API_KEY")) t.api_key = std::getenv("FERRITE_API_KEY");
    auto timeout = args.get_double("request-timeout");
    if (!timeout.ok() || !(*timeout > 0))
      return report_error("bench", invalid_argument("--request-timeout must be > 0 seconds"));
    t.timeout_s = *timeout;
    if (o.vocab_size == 0) o.vocab_size = 500;
    httplib::Client probe(t.url);
    if (!probe.is_valid()) return report_error("bench", invalid_argument("--url: cannot use '" + t.url + "'"));
    probe.set_connection_timeout(std::chrono::seconds(5));
    auto h = probe.Get("/health");
    if (!h)
      return report_error("bench", Status{StatusCode::kUnavailable,
                                          "no server at " + t.url + " (" + httplib::to_string(h.error()) + ")"});
    if (h->status != 200)
      return report_error(
          "bench", Status{StatusCode::kUnavailable, "the server at " + t.url + " is not ready (/health answered " +
                                                        std::to_string(h->status) + ")"});
    if (args.has("dataset-path")) {
      auto tokenize = [&](const Prompt& prompt) -> Result<std::vector<std::int32_t>> {
        if (const auto* ids = std::get_if<std::vector<std::int32_t>>(&prompt)) return *ids;
        Json body = Json::object();
        if (!t.model.empty()) body["model"] = t.model;
        if (const auto* text = std::get_if<std::string>(&prompt)) body["prompt"] = *text;
        else body["messages"] = std::get<ChatPrompt>(prompt).messages;
        httplib::Headers headers;
        if (!t.api_key.empty()) headers.emplace("Authorization", "Bearer " + t.api_key);
        auto res = probe.Post("/tokenize", headers, body.dump(), "application/json");
        if (!res || res->status != 200)
          return invalid_argument("the server's /tokenize failed" + (res ? ": " + res->body.substr(0, 300) : std::string()));
        const auto j = nlohmann::json::parse(res->body, nullptr, false);
        if (j.is_discarded() || !j.contains("tokens")) return invalid_argument("the server's /tokenize answered no tokens");
        return j["tokens"].get<std::vector<std::int32_t>>();
      };
      if (Status st = load_dataset(args.get("dataset-path"), tokenize, o); !st.ok()) return report_error("bench", st);
    }
    std::fprintf(stderr, "ferrite bench: %lld requests to %s%s\n", static_cast<long long>(o.num_prompts), t.url.c_str(),
                 t.endpoint.c_str());
    const SpecCounters spec_before = scrape_spec_counters(probe);
    result = run_benchmark(
        o, [&](const std::vector<std::int32_t>& p) { return run_http_request(t, o, p); }, "serve");
    add_spec(result, spec_before, scrape_spec_counters(probe));
  } else {
    auto config = engine_config_from(args);
    if (!config.ok()) return report_error("bench", config.status());
    if (auto code = run_if_engine_worker("bench", *config)) return *code;
    auto engine = Engine::create(*config);
    if (!engine.ok()) return report_error("bench", engine.status());
    const ModelInfo info = (*engine)->model_info();
    if (o.vocab_size == 0) o.vocab_size = info.vocab_size;
    if (args.has("dataset-path")) {
      Engine& e = **engine;
      auto tokenize = [&](const Prompt& prompt) { return e.tokenize_prompt(prompt); };
      if (Status st = load_dataset(args.get("dataset-path"), tokenize, o); !st.ok()) return report_error("bench", st);
    }
    if (o.dataset.empty() && o.input_len + o.output_len > info.max_model_len)
      return report_error("bench",
                          invalid_argument("--input-len + --output-len (" + std::to_string(o.input_len + o.output_len) +
                                           ") exceed the context length " + std::to_string(info.max_model_len)));
    if (mode == "latency") {
      auto lat = run_latency(**engine, o, *batch, *warmup, *iters);
      (*engine)->shutdown();
      if (!lat.ok()) return report_error("bench", lat.status());
      return print_result(args, *lat);
    }
    std::fprintf(stderr, "ferrite bench: %lld requests in-process on %s\n", static_cast<long long>(o.num_prompts),
                 config->model_dir.c_str());
    std::atomic<std::int64_t> next_id{0};
    Engine& e = **engine;
    const SpecCounters spec_before = spec_counters(e.stats());
    result = run_benchmark(
        o,
        [&](const std::vector<std::int32_t>& p) {
          return run_engine_request(e, o, p, "bench-" + std::to_string(next_id++));
        },
        "throughput");
    add_spec(result, spec_before, spec_counters(e.stats()));
    (*engine)->shutdown();
  }

  if (int code = print_result(args, result); code != 0) return code;
  std::fprintf(stderr, "ferrite bench: %lld completed, %lld failed in %.2f s: %.2f req/s, %.1f output tokens/s\n",
               static_cast<long long>(result["completed"].get<std::int64_t>()),
               static_cast<long long>(result["failed"].get<std::int64_t>()), result["duration"].get<double>(),
               result["request_throughput"].get<double>(), result["output_throughput"].get<double>());
  return result["failed"].get<std::int64_t>() > 0 ? 1 : 0;
}

}  // namespace ferrite::cli
