#include <gtest/gtest.h>

#include "engine/sampling_json.h"

namespace ferrite::engine {
namespace {

using nlohmann::json;

TEST(SamplingJson, ReadsOpenAiAndVllmFields) {
  const json body = json::parse(R"({
    "n": 2, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "presence_penalty": 0.1,
    "frequency_penalty": 0.2, "repetition_penalty": 1.1, "logit_bias": {"5": -100, "7": 3.5}, "seed": 42,
    "logprobs": 3, "prompt_logprobs": 1, "max_tokens": 30, "min_tokens": 2, "stop": ["a", "b"],
    "stop_token_ids": [9], "include_stop_str_in_output": true, "ignore_eos": true, "allowed_token_ids": [1, 2],
    "skip_special_tokens": false, "spaces_between_special_tokens": false})");
  auto p = sampling_params_from_json(body);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->n, 2);
  EXPECT_DOUBLE_EQ(p->temperature, 0.5);
  EXPECT_TRUE(p->given.temperature);
  EXPECT_EQ(p->top_k, 40);
  EXPECT_EQ(p->logit_bias.at(5), -100.f);
  EXPECT_EQ(*p->seed, 42u);
  EXPECT_EQ(*p->logprobs, 3);
  EXPECT_EQ(*p->max_tokens, 30);
  EXPECT_EQ(p->stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p->allowed_token_ids, (std::vector<std::int32_t>{1, 2}));
  EXPECT_FALSE(p->skip_special_tokens);
  EXPECT_TRUE(p->validate(20).ok());
}

TEST(SamplingJson, DefaultsLeaveFieldsUngiven) {
  auto p = sampling_params_from_json(json::object());
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->given.temperature);
  EXPECT_FALSE(p->max_tokens.has_value());
  EXPECT_TRUE(p->validate(20).ok());
}

TEST(SamplingJson, StopAsStringAndMaxCompletionTokens) {
  auto p = sampling_params_from_json(json::parse(R"({"stop": "x", "max_completion_tokens": 5, "max_tokens": 9})"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->stop, std::vector<std::string>{"x"});
  EXPECT_EQ(*p->max_tokens, 5);
}

TEST(SamplingJson, WrongTypesNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"temperature": "hot"})", "'temperature' must be a number"},
      {R"({"n": 1.5})", "'n' must be an integer"},
      {R"({"stop": 3})", "'stop' must be a string or a list of strings"},
      {R"({"stop": ["a", 1]})", "'stop' must be a string"},
      {R"({"logit_bias": {"abc": 1}})", "'abc' is not a token id"},
      {R"({"logit_bias": [1]})", "'logit_bias' must be an object"},
      {R"({"ignore_eos": 1})", "'ignore_eos' must be a boolean"},
      {R"({"stop_token_ids": [1, "2"]})", "'stop_token_ids' must be an integer"},
      {R"({"allowed_token_ids": []})", "must not be empty"},
      {R"([1, 2])", "must be a JSON object"},
  };
  for (const auto& [body, want] : cases) {
    auto p = sampling_params_from_json(json::parse(body));
    ASSERT_FALSE(p.ok()) << body;
    EXPECT_NE(p.status().message().find(want), std::string::npos) << body << ": " << p.status().message();
  }
}

}  // namespace
}  // namespace ferrite::engine
