// SamplingParams::validate: defaults pass; each bad value fails with a message naming its field.
#include "ferrite/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

namespace ferrite {
namespace {

void expect_rejected(const std::function<void(SamplingParams&)>& edit, const std::string& message,
                     std::int32_t max_logprobs = 20) {
  SamplingParams p;
  edit(p);
  const Status s = p.validate(max_logprobs);
  EXPECT_FALSE(s.ok()) << "accepted; wanted: " << message;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), message);
}

TEST(SamplingParamsValidate, AcceptsDefaultsAndEdges) {
  EXPECT_TRUE(SamplingParams{}.validate().ok());
  SamplingParams p;
  p.n = 128, p.temperature = 0.0, p.top_p = 1.0, p.top_k = -1, p.min_p = 1.0;
  p.presence_penalty = -2.0, p.frequency_penalty = 2.0, p.repetition_penalty = 0.01;
  p.logit_bias = {{0, -100.0f}, {5, 100.0f}};
  p.logprobs = 20, p.prompt_logprobs = 0, p.max_tokens = 1, p.min_tokens = 1;
  p.stop = {"x"}, p.stop_token_ids = {0}, p.allowed_token_ids = {0, 1};
  const Status s = p.validate(20);
  EXPECT_TRUE(s.ok()) << s.message();
  p.top_k = 0;
  EXPECT_TRUE(p.validate().ok());
  p.top_k = 1;
  EXPECT_TRUE(p.validate().ok());
}

TEST(SamplingParamsValidate, RejectsEachBadValueNamingTheField) {
  const double nan = std::nan("");
  expect_rejected([](auto& p) { p.n = 0; }, "n must be at least 1, got 0");
  expect_rejected([](auto& p) { p.n = 129; }, "n must be at most 128, got 129");
  expect_rejected([](auto& p) { p.temperature = -0.5; }, "temperature must be a finite number >= 0, got -0.5");
  expect_rejected([&](auto& p) { p.temperature = nan; }, "temperature must be a finite number >= 0, got nan");
  expect_rejected([](auto& p) { p.temperature = INFINITY; }, "temperature must be a finite number >= 0, got inf");
  expect_rejected([](auto& p) { p.top_p = 0.0; }, "top_p must be in (0, 1], got 0");
  expect_rejected([](auto& p) { p.top_p = 1.5; }, "top_p must be in (0, 1], got 1.5");
  expect_rejected([](auto& p) { p.top_k = -2; }, "top_k must be -1 or 0 (disabled) or at least 1, got -2");
  expect_rejected([](auto& p) { p.min_p = -0.1; }, "min_p must be in [0, 1], got -0.1");
  expect_rejected([](auto& p) { p.min_p = 1.1; }, "min_p must be in [0, 1], got 1.1");
  expect_rejected([](auto& p) { p.presence_penalty = 2.5; }, "presence_penalty must be in [-2, 2], got 2.5");
  expect_rejected([](auto& p) { p.frequency_penalty = -3; }, "frequency_penalty must be in [-2, 2], got -3");
  expect_rejected([](auto& p) { p.repetition_penalty = 0; }, "repetition_penalty must be a finite number > 0, got 0");
  expect_rejected([&](auto& p) { p.repetition_penalty = nan; },
                  "repetition_penalty must be a finite number > 0, got nan");
  expect_rejected([](auto& p) { p.logit_bias[-1] = 1.0f; }, "logit_bias token id must be >= 0, got -1");
  expect_rejected([](auto& p) { p.logit_bias[7] = 150.0f; },
                  "logit_bias value for token 7 must be in [-100, 100], got 150");
  expect_rejected([](auto& p) { p.logprobs = -1; }, "logprobs must be >= 0, got -1");
  expect_rejected([](auto& p) { p.logprobs = 30; }, "logprobs 30 is above the server's --max-logprobs 20");
  expect_rejected([](auto& p) { p.logprobs = 6; }, "logprobs 6 is above the server's --max-logprobs 5", 5);
  expect_rejected([](auto& p) { p.prompt_logprobs = 21; },
                  "prompt_logprobs 21 is above the server's --max-logprobs 20");
  expect_rejected([](auto& p) { p.max_tokens = 0; }, "max_tokens must be at least 1, got 0");
  expect_rejected([](auto& p) { p.min_tokens = -1; }, "min_tokens must be >= 0, got -1");
  expect_rejected([](auto& p) { p.min_tokens = 10, p.max_tokens = 5; }, "min_tokens (10) must be <= max_tokens (5)");
  expect_rejected([](auto& p) { p.stop = {"a", ""}; }, "stop[1] must not be an empty string");
  expect_rejected([](auto& p) { p.stop_token_ids = {1, -4}; }, "stop_token_ids entries must be >= 0, got -4");
  expect_rejected([](auto& p) { p.allowed_token_ids = {-1}; }, "allowed_token_ids entries must be >= 0, got -1");
}

}  // namespace
}  // namespace ferrite
