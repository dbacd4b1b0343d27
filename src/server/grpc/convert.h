// Between the proto messages of ferrite.v1 and the engine's types. Range checks are not here:
// Engine::submit validates SamplingParams, so gRPC and HTTP give the same messages.
#pragma once

#include "ferrite/engine.h"
#include "ferrite/status.h"
#include "ferrite/v1/ferrite.pb.h"

namespace ferrite::server::grpc_convert {

// Absent optional fields keep SamplingParams' defaults (and stay eligible for
// generation_config.json defaults, as over HTTP).
Result<SamplingParams> sampling_from_proto(const v1::SamplingParams& p);
Result<ChatPrompt> chat_from_proto(const v1::ChatPrompt& c);
// InvalidArgument when the request has no prompt.
Result<Prompt> prompt_from_proto(const v1::GenerateRequest& r);

void fill_chunk(const OutputDelta& d, v1::Chunk* out);
void fill_prompt_info(const PromptInfo& info, v1::Chunk* out);
void fill_complete(const OutputDelta& d, v1::Complete* out);
void fill_usage(const Usage& u, v1::Usage* out);

}  // namespace ferrite::server::grpc_convert
