// SamplingParams from a JSON request body with the OpenAI and vLLM field names, shared by the
// HTTP server, the gRPC server's JSON paths and `ferrite generate --input`. Wrong types are
// clear errors naming the field; ranges are checked by SamplingParams::validate().
#pragma once

#include <nlohmann/json.hpp>

#include "ferrite/sampling_params.h"
#include "ferrite/status.h"

namespace ferrite::engine {

// Reads: n, temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty,
// repetition_penalty, logit_bias ({"id": bias}), seed, logprobs (an integer), prompt_logprobs,
// max_tokens (or max_completion_tokens), min_tokens, stop (a string or a list), stop_token_ids,
// include_stop_str_in_output, ignore_eos, allowed_token_ids, skip_special_tokens,
// spaces_between_special_tokens. Unknown fields are ignored (the caller decides about them).
Result<SamplingParams> sampling_params_from_json(const nlohmann::json& body);

}  // namespace ferrite::engine
