#include "server/http/metrics.h"

#include <cstdio>

namespace ferrite::server {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// vLLM's buckets (vllm/v1/metrics/loggers.py), so dashboards' quantile queries look alike.
std::vector<double> token_buckets(std::int64_t max_len) {
  std::vector<double> b;
  for (double m = 1;; m *= 10)
    for (double k : {1.0, 2.0, 5.0}) {
      if (k * m > static_cast<double>(max_len)) return b;
      b.push_back(k * m);
    }
}

const std::vector<double> kRequestBuckets = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
                                             30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

void head(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::int64_t cum = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cum += counts_[i];
    const std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cum) + "\n";
  }
  out += name + "_sum{" + labels + "} " + num(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

Metrics::Metrics(std::string prefix, std::string model_name, std::int64_t max_model_len)
    : prefix_(std::move(prefix)),
      labels_("model_name=\"" + model_name + "\""),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
             40.0, 80.0, 160.0, 640.0, 2560.0}),
      itl_({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}),
      e2e_(kRequestBuckets),
      queue_(kRequestBuckets),
      prefill_(kRequestBuckets),
      decode_(kRequestBuckets),
      prompt_len_(token_buckets(max_model_len)),
      gen_len_(token_buckets(max_model_len)) {}

void Metrics::observe_request(const Usage& usage, const RequestMetrics& m, const std::vector<FinishReason>& reasons) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += usage.prompt_tokens;
  generation_tokens_ += usage.completion_tokens;
  for (FinishReason r : reasons) ++success_[finish_reason_name(r)];
  prompt_len_.observe(static_cast<double>(usage.prompt_tokens));
  gen_len_.observe(static_cast<double>(usage.completion_tokens));
  e2e_.observe(m.finish_time - m.arrival_time);
  if (m.first_scheduled_time > 0) queue_.observe(m.queue_time);
  if (m.first_token_time > 0) {
    ttft_.observe(m.first_token_time - m.arrival_time);
    if (m.first_scheduled_time > 0) prefill_.observe(m.first_token_time - m.first_scheduled_time);
    decode_.observe(m.finish_time - m.first_token_time);
  }
}

void Metrics::observe_inter_token(double seconds, std::int64_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::int64_t i = 0; i < tokens; ++i) itl_.observe(seconds / static_cast<double>(tokens));
}

std::string Metrics::render(const EngineStats& s, std::int64_t block_size) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  const std::string p = prefix_ + ":";
  auto gauge = [&](const char* name, const char* help, double v) {
    head(out, p + name, "gauge", help);
    out += p + name + "{" + labels_ + "} " + num(v) + "\n";
  };
  auto counter = [&](const char* name, const char* help, double v) {
    head(out, p + name + "_total", "counter", help);
    out += p + name + "_total{" + labels_ + "} " + num(v) + "\n";
  };
  gauge("num_requests_running", "Number of requests in model execution batches.", static_cast<double>(s.num_running));
  gauge("num_requests_waiting", "Number of requests waiting to be processed.", static_cast<double>(s.num_waiting));
  gauge("kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", s.kv_usage);
  // The engine counts blocks; vLLM counts tokens, and every cached block is block_size tokens.
  counter("prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
          static_cast<double>(s.prefix_cache_queries * block_size));
  counter("prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
          static_cast<double>(s.prefix_cache_hits * block_size));
  counter("num_preemptions", "Cumulative number of preemptions from the engine.", static_cast<double>(s.num_preemptions));
  counter("prompt_tokens", "Number of prefill tokens processed.", static_cast<double>(prompt_tokens_));
  counter("generation_tokens", "Number of generation tokens processed.", static_cast<double>(generation_tokens_));
  // Speculative decoding, vLLM's spec_decode counters (all 0 when it is off).
  counter("spec_decode_num_drafts", "Number of spec decoding drafts.", static_cast<double>(s.spec_num_drafts));
  counter("spec_decode_num_draft_tokens", "Number of draft tokens.", static_cast<double>(s.spec_num_draft_tokens));
  counter("spec_decode_num_accepted_tokens", "Number of accepted tokens.", static_cast<double>(s.spec_num_accepted_tokens));
  head(out, p + "spec_decode_num_accepted_tokens_per_pos_total", "counter", "Accepted tokens per draft position.");
  for (std::size_t i = 0; i < s.spec_accepted_per_pos.size(); ++i)
    out += p + "spec_decode_num_accepted_tokens_per_pos_total{" + labels_ + ",position=\"" + std::to_string(i) + "\"} " +
           num(static_cast<double>(s.spec_accepted_per_pos[i])) + "\n";
  head(out, p + "request_success_total", "counter", "Count of successfully processed requests.");
  for (const char* reason : {"stop", "length", "abort", "error"}) {
    auto it = success_.find(reason);
    out += p + "request_success_total{" + labels_ + ",finished_reason=\"" + reason + "\"} " +
           std::to_string(it == success_.end() ? 0 : it->second) + "\n";
  }
  auto hist = [&](const char* name, const char* help, const Histogram& h) {
    head(out, p + name, "histogram", help);
    h.render(out, p + name, labels_);
  };
  hist("time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttft_);
  hist("inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itl_);
  hist("e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", e2e_);
  hist("request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", queue_);
  hist("request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", prefill_);
  hist("request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", decode_);
  hist("request_prompt_tokens", "Number of prefill tokens processed.", prompt_len_);
  hist("request_generation_tokens", "Number of generation tokens processed.", gen_len_);
  return out;
}

}  // namespace ferrite::server
