// SamplingParams: everything the OpenAI and vLLM APIs let a request say about how tokens are
// chosen and when generation stops. Field names follow vLLM's SamplingParams.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ferrite/status.h"

namespace ferrite {

struct SamplingParams {
  std::int32_t n = 1;                     // independent completions of one prompt
  double temperature = 1.0;               // 0: greedy
  double top_p = 1.0;                     // (0, 1]
  std::int32_t top_k = 0;                 // 0 or -1: off
  double min_p = 0.0;                     // [0, 1]
  double presence_penalty = 0.0;          // [-2, 2]
  double frequency_penalty = 0.0;         // [-2, 2]
  double repetition_penalty = 1.0;        // > 0; 1 is off
  std::map<std::int32_t, float> logit_bias;  // token id -> bias in [-100, 100]
  std::optional<std::uint64_t> seed;      // per-request generator: reproducible sampling
  std::optional<std::int32_t> logprobs;   // top-N logprobs per generated token (0: the chosen one only)
  std::optional<std::int32_t> prompt_logprobs;  // top-N logprobs per prompt token
  std::optional<std::int64_t> max_tokens; // nullopt: up to the model's context length
  std::int64_t min_tokens = 0;            // EOS and stop token ids masked before this many
  std::vector<std::string> stop;          // stop strings (matched across token boundaries)
  std::vector<std::int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  std::vector<std::int32_t> allowed_token_ids;  // empty: all
  bool skip_special_tokens = true;
  bool spaces_between_special_tokens = true;

  // Which fields the request set explicitly (the rest may take generation_config.json defaults).
  struct Given {
    bool temperature = false, top_p = false, top_k = false, min_p = false, repetition_penalty = false,
         max_tokens = false;
  } given;

  // Range checks that need no model: clear messages naming the field.
  Status validate(std::int32_t max_logprobs = 20) const;
};

}  // namespace ferrite
