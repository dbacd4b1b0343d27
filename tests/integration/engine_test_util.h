// Helpers shared by the engine's integration tests (engine_test, speculative_test): fixtures,
// configs, greedy requests, draining a stream, and a mixed workload.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "ferrite/engine.h"
#include "test_util.h"

namespace ferrite {

inline std::string fixture(const std::string& name) { return testing::source_dir() + "/tests/data/models/" + name; }

inline EngineConfig base_config(const std::string& model) {
  EngineConfig c;
  c.model_dir = model;
  c.num_threads = 2;
  c.show_progress = false;
  c.check_invariants = true;
  c.num_kv_blocks = 256;
  return c;
}

struct Output {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<std::string> text;
  std::vector<FinishReason> finish;
  std::vector<std::variant<std::monostate, std::string, std::int32_t>> stop_reason;
  std::vector<std::vector<TokenLogprob>> logprobs;
  Usage usage;
};

inline Output drain(OutputStream& s, int n = 1) {
  Output o;
  o.tokens.resize(static_cast<std::size_t>(n));
  o.text.resize(static_cast<std::size_t>(n));
  o.finish.assign(static_cast<std::size_t>(n), FinishReason::kNone);
  o.stop_reason.resize(static_cast<std::size_t>(n));
  o.logprobs.resize(static_cast<std::size_t>(n));
  while (auto d = s.next()) {
    const auto i = static_cast<std::size_t>(d->index);
    o.tokens[i].insert(o.tokens[i].end(), d->token_ids.begin(), d->token_ids.end());
    o.text[i] += d->text;
    o.logprobs[i].insert(o.logprobs[i].end(), d->logprobs.begin(), d->logprobs.end());
    if (d->finish_reason != FinishReason::kNone) {
      o.finish[i] = d->finish_reason;
      o.stop_reason[i] = d->stop_reason;
    }
  }
  o.usage = s.usage();
  return o;
}

inline GenerateRequest greedy(std::vector<std::int32_t> prompt, std::int64_t max_tokens) {
  GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.given.temperature = true;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  return r;
}

inline std::unique_ptr<Engine> make_engine(const EngineConfig& c) {
  auto e = Engine::create(c);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(e).value() : nullptr;
}

// A mixed workload: random lengths, some prompts sharing a 40-token prefix.
inline std::vector<std::vector<std::int32_t>> workload(std::uint32_t seed, int count) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> tok(3, 500), len(1, 50);
  std::vector<std::int32_t> shared(40);
  for (auto& t : shared) t = tok(rng);
  std::vector<std::vector<std::int32_t>> out;
  for (int i = 0; i < count; ++i) {
    std::vector<std::int32_t> p;
    if (i % 3 == 0) p = shared;
    const int n = len(rng);
    for (int k = 0; k < n; ++k) p.push_back(tok(rng));
    out.push_back(p);
  }
  return out;
}

inline std::vector<std::int64_t> max_tokens_for(std::size_t count) {
  std::vector<std::int64_t> m;
  for (std::size_t i = 0; i < count; ++i) m.push_back(4 + static_cast<std::int64_t>((i * 7) % 29));
  return m;
}

}  // namespace ferrite
