// Prometheus text exposition of vLLM's V1 metric set under a configurable prefix ("ferrite:" or
// "vllm:"). Gauges and engine-wide counters come from EngineStats at scrape time; per-request
// histograms and counters are observed here when a request finishes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ferrite/engine.h"

namespace ferrite::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Appends the _bucket, _sum and _count lines.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::int64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  std::int64_t count_ = 0;
};

class Metrics {
 public:
  Metrics(std::string prefix, std::string model_name, std::int64_t max_model_len);

  // One finished request (every completion done): its usage, engine timings and reason.
  void observe_request(const Usage& usage, const RequestMetrics& m, const std::vector<FinishReason>& reasons);
  void observe_inter_token(double seconds, std::int64_t tokens);
  std::string render(const EngineStats& stats, std::int64_t block_size) const;

 private:
  mutable std::mutex mu_;
  std::string prefix_, labels_;
  Histogram ttft_, itl_, e2e_, queue_, prefill_, decode_, prompt_len_, gen_len_;
  std::int64_t prompt_tokens_ = 0, generation_tokens_ = 0;
  std::map<std::string, std::int64_t> success_;  // by finished_reason
};

}  // namespace ferrite::server
