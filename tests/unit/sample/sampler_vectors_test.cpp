// Holds the processors, the filters and the logprobs to tests/data/sample/vectors.json, made by
// tools/make_sampling_vectors.py from an independent numpy implementation of vLLM v1's sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sample/sampler.h"

namespace ferrite::sample {
namespace {

using nlohmann::json;

const json& vectors() {
  static const json data = [] {
    std::ifstream in(std::string(FERRITE_SOURCE_DIR) + "/tests/data/sample/vectors.json");
    EXPECT_TRUE(in.good()) << "missing tests/data/sample/vectors.json (run tools/make_sampling_vectors.py)";
    return in.good() ? json::parse(in) : json::object();
  }();
  return data;
}

float to_f32(const json& v) {
  if (v.is_string()) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(v.get<double>());
}

std::vector<float> floats(const json& a) {
  std::vector<float> out;
  for (const auto& v : a) out.push_back(to_f32(v));
  return out;
}

SamplingParams params_from(const json& j) {
  SamplingParams p;
  p.temperature = j.value("temperature", 1.0);
  p.top_k = j.value("top_k", 0);
  p.top_p = j.value("top_p", 1.0);
  p.min_p = j.value("min_p", 0.0);
  p.repetition_penalty = j.value("repetition_penalty", 1.0);
  p.frequency_penalty = j.value("frequency_penalty", 0.0);
  p.presence_penalty = j.value("presence_penalty", 0.0);
  p.min_tokens = j.value("min_tokens", 0);
  p.ignore_eos = j.value("ignore_eos", false);
  p.stop_token_ids = j.value("stop_token_ids", std::vector<std::int32_t>{});
  p.allowed_token_ids = j.value("allowed_token_ids", std::vector<std::int32_t>{});
  if (j.contains("logit_bias"))
    for (const auto& [k, v] : j["logit_bias"].items()) p.logit_bias[std::stoi(k)] = v.get<float>();
  return p;
}

bool close(float got, float want, float tol) {
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= tol * std::max(1.0f, std::fabs(want));
}

TEST(SamplerVectors, Processors) {
  const json& cases = vectors()["processors"];
  ASSERT_FALSE(cases.empty());
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const json& k = cases[c];
    SCOPED_TRACE("processor case " + std::to_string(c) + " params " + k["params"].dump());
    std::vector<float> row = floats(k["logits"]);
    const std::vector<float> want = floats(k["expected"]);
    const auto prompt = k["prompt"].get<std::vector<std::int32_t>>();
    const auto output = k["output"].get<std::vector<std::int32_t>>();
    const auto eos = k["eos"].get<std::vector<std::int32_t>>();
    const SamplingParams p = params_from(k["params"]);
    RowState s{&p, prompt, output, eos, nullptr};
    const auto vocab = static_cast<std::int64_t>(row.size());
    apply_logits_processors(row.data(), vocab, s);
    for (std::int64_t i = 0; i < vocab; ++i)
      ASSERT_TRUE(close(row[i], want[i], 1e-5f)) << "token " << i << ": " << row[i] << " vs " << want[i];

    // Greedy through the whole sampler: the first maximum of the processed row.
    SamplingParams g = p;
    g.temperature = 0.0;
    std::vector<float> again = floats(k["logits"]);
    RowState gs{&g, prompt, output, eos, nullptr};
    EXPECT_EQ(sample_rows(again.data(), 1, vocab, {&gs, 1})[0].token, k["greedy"].get<std::int32_t>());
  }
}

TEST(SamplerVectors, FiltersKeepTheSameTokensWithTheSameProbabilities) {
  const json& cases = vectors()["filters"];
  ASSERT_FALSE(cases.empty());
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const json& k = cases[c];
    SCOPED_TRACE("filter case " + std::to_string(c) + " params " + k["params"].dump());
    const std::vector<float> row = floats(k["logits"]);
    const auto vocab = static_cast<std::int64_t>(row.size());
    const SamplingParams p = params_from(k["params"]);
    std::vector<float> probs(row.size());
    sampling_probs(row.data(), vocab, p, probs.data());

    std::vector<float> want(row.size(), 0.0f);
    std::vector<bool> kept(row.size(), false);
    const auto ids = k["kept"].get<std::vector<std::int32_t>>();
    const auto ps = k["probs"].get<std::vector<double>>();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      kept[ids[i]] = true;
      want[ids[i]] = static_cast<float>(ps[i]);
    }
    for (std::int64_t i = 0; i < vocab; ++i) {
      // Exactly the reference's kept set (a kept token too light for f32 may read 0).
      ASSERT_EQ(probs[i] > 0.0f, kept[i] && want[i] > 1e-30f) << "token " << i;
      ASSERT_NEAR(probs[i], want[i], 1e-5) << "token " << i;
    }
  }
}

TEST(SamplerVectors, LogprobsOfRawLogits) {
  const json& cases = vectors()["logprobs"];
  ASSERT_FALSE(cases.empty());
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const json& k = cases[c];
    SCOPED_TRACE("logprob case " + std::to_string(c));
    const std::vector<float> row = floats(k["logits"]);
    const auto vocab = static_cast<std::int64_t>(row.size());
    const auto top_n = k["top_n"].get<std::int32_t>();
    const auto top_ids = k["top_ids"].get<std::vector<std::int32_t>>();
    const auto top_lp = k["top_logprobs"].get<std::vector<double>>();
    for (const json& q : k["queries"]) {
      const auto token = q["token"].get<std::int32_t>();
      const TokenLogprob lp = token_logprob(row.data(), vocab, token, top_n);
      EXPECT_EQ(lp.token_id, token);
      EXPECT_NEAR(lp.logprob, q["logprob"].get<double>(), 1e-5 * std::max(1.0, std::fabs(q["logprob"].get<double>())));
      EXPECT_EQ(lp.rank, q["rank"].get<std::int32_t>());
      ASSERT_EQ(lp.top.size(), top_ids.size());
      for (std::size_t i = 0; i < top_ids.size(); ++i) {
        EXPECT_EQ(lp.top[i].first, top_ids[i]) << "top " << i;
        EXPECT_NEAR(lp.top[i].second, top_lp[i], 1e-5 * std::max(1.0, std::fabs(top_lp[i])));
      }
    }
  }
}

}  // namespace
}  // namespace ferrite::sample
