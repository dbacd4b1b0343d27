// SamplingParams::validate: vLLM's range checks, each message naming the field and the value.
// Comparisons are written so that NaN fails them (`!(x >= 0)` rather than `x < 0`).
#include "ferrite/sampling_params.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace ferrite {
namespace {

constexpr std::int32_t kMaxN = 128;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Status bad(const std::string& m) { return invalid_argument(m); }

Status check_logprobs(const char* field, const std::optional<std::int32_t>& v, std::int32_t max_logprobs) {
  if (!v) return ok_status();
  if (*v < 0) return bad(std::string(field) + " must be >= 0, got " + std::to_string(*v));
  if (*v > max_logprobs)
    return bad(std::string(field) + " " + std::to_string(*v) + " is above the server's --max-logprobs " +
               std::to_string(max_logprobs));
  return ok_status();
}

Status check_penalty(const char* field, double v) {
  if (!(v >= -2.0 && v <= 2.0)) return bad(std::string(field) + " must be in [-2, 2], got " + num(v));
  return ok_status();
}

}  // namespace

Status SamplingParams::validate(std::int32_t max_logprobs) const {
  if (n < 1) return bad("n must be at least 1, got " + std::to_string(n));
  if (n > kMaxN) return bad("n must be at most " + std::to_string(kMaxN) + ", got " + std::to_string(n));
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    return bad("temperature must be a finite number >= 0, got " + num(temperature));
  if (!(top_p > 0.0 && top_p <= 1.0)) return bad("top_p must be in (0, 1], got " + num(top_p));
  if (top_k < -1) return bad("top_k must be -1 or 0 (disabled) or at least 1, got " + std::to_string(top_k));
  if (!(min_p >= 0.0 && min_p <= 1.0)) return bad("min_p must be in [0, 1], got " + num(min_p));
  if (Status s = check_penalty("presence_penalty", presence_penalty); !s.ok()) return s;
  if (Status s = check_penalty("frequency_penalty", frequency_penalty); !s.ok()) return s;
  if (!(repetition_penalty > 0.0) || !std::isfinite(repetition_penalty))
    return bad("repetition_penalty must be a finite number > 0, got " + num(repetition_penalty));
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) return bad("logit_bias token id must be >= 0, got " + std::to_string(id));
    if (!(bias >= -100.0f && bias <= 100.0f))
      return bad("logit_bias value for token " + std::to_string(id) + " must be in [-100, 100], got " + num(bias));
  }
  if (Status s = check_logprobs("logprobs", logprobs, max_logprobs); !s.ok()) return s;
  if (Status s = check_logprobs("prompt_logprobs", prompt_logprobs, max_logprobs); !s.ok()) return s;
  if (max_tokens && *max_tokens < 1) return bad("max_tokens must be at least 1, got " + std::to_string(*max_tokens));
  if (min_tokens < 0) return bad("min_tokens must be >= 0, got " + std::to_string(min_tokens));
  if (max_tokens && min_tokens > *max_tokens)
    return bad("min_tokens (" + std::to_string(min_tokens) + ") must be <= max_tokens (" + std::to_string(*max_tokens) +
               ")");
  for (std::size_t i = 0; i < stop.size(); ++i)
    if (stop[i].empty()) return bad("stop[" + std::to_string(i) + "] must not be an empty string");
  for (std::int32_t id : stop_token_ids)
    if (id < 0) return bad("stop_token_ids entries must be >= 0, got " + std::to_string(id));
  for (std::int32_t id : allowed_token_ids)
    if (id < 0) return bad("allowed_token_ids entries must be >= 0, got " + std::to_string(id));
  return ok_status();
}

}  // namespace ferrite
