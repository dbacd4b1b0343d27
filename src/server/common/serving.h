// What the HTTP and gRPC front ends decide the same way and say with the same words: API keys,
// served model names, the waiting-queue bound, lifecycle refusals and detokenizing client ids.
// Each front end maps the Status to its own answer (an OpenAI error body or a gRPC status).
// Sampling values are checked by the engine itself (SamplingParams::validate in Engine::submit),
// so both front ends give the same messages for those without help from here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferrite/engine.h"
#include "ferrite/status.h"

namespace ferrite::tokenizer {
class Tokenizer;
}

namespace ferrite::server {

inline constexpr const char* kLoadingMessage = "the model is still loading";
inline constexpr const char* kShuttingDownMessage = "the server is shutting down";
inline constexpr const char* kEngineStoppedMessage = "the engine stopped after an internal error";
inline constexpr const char* kApiKeyMessage = "Incorrect or missing API key (send 'Authorization: Bearer <key>')";

// Compares in time that depends only on the lengths, so a key cannot be guessed byte by byte.
bool constant_time_equal(std::string_view a, std::string_view b);
// True when `authorization` (a header or metadata value) is "Bearer <api_key>".
bool bearer_matches(std::string_view authorization, std::string_view api_key);

// NotFound ("The model `x` does not exist.") unless `name` is one of the served names.
Status check_served_model(const std::vector<std::string>& served_names, const std::string& name);

// ResourceExhausted once `max_queue_len` (> 0) requests wait. The engine's snapshot lags a step,
// so the front end's own count of requests beyond what one step can run is taken too.
Status check_queue(Engine& engine, std::int64_t max_queue_len, std::int64_t front_end_in_flight,
                   std::int64_t max_num_seqs);

// Decodes client-supplied ids, refusing ids outside the vocabulary (InvalidArgument) and a model
// without a tokenizer.
Result<std::string> detokenize_ids(const tokenizer::Tokenizer* tok, std::span<const std::int64_t> ids,
                                   bool skip_special_tokens);

}  // namespace ferrite::server
