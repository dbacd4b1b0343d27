// parse_speculative_config: vLLM's --speculative-config JSON, both methods, vLLM's defaults for
// the lookup window, and an error naming the offending key for everything it rejects.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "ferrite/engine.h"

namespace ferrite {
namespace {

using Method = SpeculativeConfig::Method;

SpeculativeConfig parse_ok(const std::string& json) {
  auto c = parse_speculative_config(json);
  EXPECT_TRUE(c.ok()) << json << ": " << c.status().to_string();
  return c.ok() ? *c : SpeculativeConfig{};
}

TEST(SpeculativeConfig, NgramForm) {
  const auto c =
      parse_ok(R"({"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_min": 2, "prompt_lookup_max": 4})");
  EXPECT_EQ(c.method, Method::kNgram);
  EXPECT_EQ(c.num_speculative_tokens, 5);
  EXPECT_EQ(c.prompt_lookup_min, 2);
  EXPECT_EQ(c.prompt_lookup_max, 4);
  EXPECT_TRUE(c.model.empty());
  EXPECT_EQ(c.disable_by_batch_size, 0);
  EXPECT_TRUE(c.enabled());
}

TEST(SpeculativeConfig, DraftModelForm) {
  const auto c = parse_ok(R"({"method": "draft_model", "model": "/models/draft", "num_speculative_tokens": 4})");
  EXPECT_EQ(c.method, Method::kDraftModel);
  EXPECT_EQ(c.model, "/models/draft");
  EXPECT_EQ(c.num_speculative_tokens, 4);
  EXPECT_TRUE(c.enabled());
}

TEST(SpeculativeConfig, DisableByBatchSize) {
  EXPECT_EQ(parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "disable_by_batch_size": 8})")
                .disable_by_batch_size,
            8);
  EXPECT_EQ(parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "disable_by_batch_size": 0})")
                .disable_by_batch_size,
            0);
}

TEST(SpeculativeConfig, NumSpeculativeTokensBounds) {
  EXPECT_EQ(parse_ok(R"({"method": "ngram", "num_speculative_tokens": 1})").num_speculative_tokens, 1);
  EXPECT_EQ(parse_ok(R"({"method": "ngram", "num_speculative_tokens": 32})").num_speculative_tokens, 32);
}

TEST(SpeculativeConfig, VllmLookupDefaults) {
  // Neither given: both 5.
  auto c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3})");
  EXPECT_EQ(c.prompt_lookup_min, 5);
  EXPECT_EQ(c.prompt_lookup_max, 5);
  // Only one given: the other equals it.
  c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 2})");
  EXPECT_EQ(c.prompt_lookup_min, 2);
  EXPECT_EQ(c.prompt_lookup_max, 2);
  c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 7})");
  EXPECT_EQ(c.prompt_lookup_min, 7);
  EXPECT_EQ(c.prompt_lookup_max, 7);
  c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 3, "prompt_lookup_max": 3})");
  EXPECT_EQ(c.prompt_lookup_min, 3);
  EXPECT_EQ(c.prompt_lookup_max, 3);
}

TEST(SpeculativeConfig, ModelNgramMeansNgramMethod) {
  for (const char* json : {R"({"model": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 3})",
                           R"({"model": "[ngram]", "num_speculative_tokens": 4, "prompt_lookup_max": 3})"}) {
    const auto c = parse_ok(json);
    EXPECT_EQ(c.method, Method::kNgram) << json;
    EXPECT_TRUE(c.model.empty()) << json;
    EXPECT_EQ(c.prompt_lookup_min, 3) << json;
    EXPECT_EQ(c.prompt_lookup_max, 3) << json;
  }
}

TEST(SpeculativeConfig, ModelWithoutMethodIsDraftModel) {
  const auto c = parse_ok(R"({"model": "/models/small", "num_speculative_tokens": 2})");
  EXPECT_EQ(c.method, Method::kDraftModel);
  EXPECT_EQ(c.model, "/models/small");
  EXPECT_EQ(c.num_speculative_tokens, 2);
}

TEST(SpeculativeConfig, ErrorsNameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"(not json)", "not valid JSON"},
      {R"({"method": "ngram",)", "not valid JSON"},
      {R"([1, 2])", "must be a JSON object"},
      {R"("ngram")", "must be a JSON object"},
      {R"(5)", "must be a JSON object"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "lookahead": 2})", "unknown key 'lookahead'"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_mn": 2})", "unknown key 'prompt_lookup_mn'"},
      {R"({"num_speculative_tokens": 3})", "needs 'method'"},
      {R"({"method": "eagle", "num_speculative_tokens": 3})", "unsupported method 'eagle'"},
      {R"({"method": "mtp", "model": "x", "num_speculative_tokens": 3})", "unsupported method 'mtp'"},
      {R"({"method": 3, "num_speculative_tokens": 3})", "'method' must be a string"},
      {R"({"method": "draft_model", "model": 7, "num_speculative_tokens": 3})", "'model' must be a string"},
      {R"({"method": "ngram"})", "needs 'num_speculative_tokens'"},
      {R"({"method": "draft_model", "model": "d"})", "needs 'num_speculative_tokens'"},
      {R"({"method": "ngram", "num_speculative_tokens": 0})", "'num_speculative_tokens' must be between 1 and 32, got 0"},
      {R"({"method": "ngram", "num_speculative_tokens": 33})", "'num_speculative_tokens' must be between 1 and 32, got 33"},
      {R"({"method": "ngram", "num_speculative_tokens": -1})", "'num_speculative_tokens' must be between 1 and 32"},
      {R"({"method": "ngram", "num_speculative_tokens": 2.5})", "'num_speculative_tokens' must be an integer"},
      {R"({"method": "ngram", "num_speculative_tokens": "3"})", "'num_speculative_tokens' must be an integer"},
      {R"({"method": "ngram", "num_speculative_tokens": true})", "'num_speculative_tokens' must be an integer"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 4, "prompt_lookup_max": 2})",
       "prompt_lookup_min (4) is greater than prompt_lookup_max (2)"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 0})", "'prompt_lookup_min' must be between 1"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 1.5})", "'prompt_lookup_max' must be an integer"},
      {R"({"method": "draft_model", "num_speculative_tokens": 3})", "method 'draft_model' needs 'model'"},
      {R"({"method": "draft_model", "model": "", "num_speculative_tokens": 3})", "method 'draft_model' needs 'model'"},
      {R"({"method": "ngram", "model": "/models/draft", "num_speculative_tokens": 3})", "method 'ngram' takes no 'model'"},
      {R"({"method": "draft_model", "model": "d", "num_speculative_tokens": 3, "prompt_lookup_min": 2})",
       "prompt_lookup_min/max apply to method 'ngram' only"},
      {R"({"model": "d", "num_speculative_tokens": 3, "prompt_lookup_max": 2})",
       "prompt_lookup_min/max apply to method 'ngram' only"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "disable_by_batch_size": -1})",
       "'disable_by_batch_size' must be between 0"},
      {R"({"method": "ngram", "num_speculative_tokens": 3, "disable_by_batch_size": "4"})",
       "'disable_by_batch_size' must be an integer"},
  };
  for (const auto& [json, want] : cases) {
    auto c = parse_speculative_config(json);
    ASSERT_FALSE(c.ok()) << json;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_NE(c.status().message().find(want), std::string::npos) << json << ": " << c.status().message();
    EXPECT_NE(c.status().message().find("--speculative-config"), std::string::npos) << json;
  }
}

}  // namespace
}  // namespace ferrite
