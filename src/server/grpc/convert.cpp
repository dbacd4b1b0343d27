#include "server/grpc/convert.h"

#include <limits>

namespace ferrite::server::grpc_convert {

namespace {

using OJson = nlohmann::ordered_json;

// A free-form JSON field of ChatPrompt: empty means absent.
Result<OJson> parse_json_field(const std::string& text, const char* field, bool want_array) {
  if (text.empty()) return OJson();
  OJson j = OJson::parse(text, nullptr, false);
  if (j.is_discarded()) return invalid_argument(std::string("'") + field + "' is not valid JSON");
  if (want_array && !j.is_array()) return invalid_argument(std::string("'") + field + "' must be a JSON array");
  if (!want_array && !j.is_object()) return invalid_argument(std::string("'") + field + "' must be a JSON object");
  return j;
}

void fill_logprob(const TokenLogprob& lp, v1::TokenLogprob* out) {
  out->set_token_id(lp.token_id);
  out->set_logprob(lp.logprob);
  out->set_rank(lp.rank);
  for (const auto& [id, v] : lp.top) {
    auto* t = out->add_top();
    t->set_token_id(id);
    t->set_logprob(v);
  }
}

v1::FinishReason finish_reason_to_proto(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return v1::FINISH_REASON_STOP;
    case FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    case FinishReason::kAbort: return v1::FINISH_REASON_ABORT;
    case FinishReason::kError: return v1::FINISH_REASON_ERROR;
    case FinishReason::kNone: break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

}  // namespace

Result<SamplingParams> sampling_from_proto(const v1::SamplingParams& p) {
  SamplingParams s;
  if (p.has_n()) s.n = p.n();
  if (p.has_temperature()) {
    s.temperature = p.temperature();
    s.given.temperature = true;
  }
  if (p.has_top_p()) {
    s.top_p = p.top_p();
    s.given.top_p = true;
  }
  if (p.has_top_k()) {
    s.top_k = p.top_k();
    s.given.top_k = true;
  }
  if (p.has_min_p()) {
    s.min_p = p.min_p();
    s.given.min_p = true;
  }
  s.presence_penalty = p.presence_penalty();
  s.frequency_penalty = p.frequency_penalty();
  if (p.has_repetition_penalty()) {
    s.repetition_penalty = p.repetition_penalty();
    s.given.repetition_penalty = true;
  }
  for (const auto& [id, bias] : p.logit_bias()) {
    // The HTTP reader's message for a key that is not a token id.
    if (id < 0) return invalid_argument("logit_bias: '" + std::to_string(id) + "' is not a token id");
    s.logit_bias[id] = bias;
  }
  if (p.has_seed()) s.seed = p.seed();
  if (p.has_logprobs()) s.logprobs = p.logprobs();
  if (p.has_prompt_logprobs()) s.prompt_logprobs = p.prompt_logprobs();
  if (p.has_max_tokens()) {
    s.max_tokens = p.max_tokens();
    s.given.max_tokens = true;
  }
  s.min_tokens = p.min_tokens();
  s.stop.assign(p.stop().begin(), p.stop().end());
  s.stop_token_ids.assign(p.stop_token_ids().begin(), p.stop_token_ids().end());
  s.include_stop_str_in_output = p.include_stop_str_in_output();
  s.ignore_eos = p.ignore_eos();
  s.allowed_token_ids.assign(p.allowed_token_ids().begin(), p.allowed_token_ids().end());
  if (p.has_skip_special_tokens()) s.skip_special_tokens = p.skip_special_tokens();
  if (p.has_spaces_between_special_tokens()) s.spaces_between_special_tokens = p.spaces_between_special_tokens();
  return s;
}

Result<ChatPrompt> chat_from_proto(const v1::ChatPrompt& c) {
  ChatPrompt cp;
  if (c.messages().empty()) return invalid_argument("'messages' must be a non-empty list");
  for (const auto& m : c.messages()) {
    OJson msg = {{"role", m.role()}, {"content", m.content()}};
    if (m.has_name()) msg["name"] = m.name();
    if (m.has_tool_call_id()) msg["tool_call_id"] = m.tool_call_id();
    if (m.has_tool_calls_json()) {
      FERRITE_ASSIGN_OR_RETURN(msg["tool_calls"], parse_json_field(m.tool_calls_json(), "tool_calls_json", true));
    }
    cp.messages.push_back(std::move(msg));
  }
  FERRITE_ASSIGN_OR_RETURN(cp.tools, parse_json_field(c.tools_json(), "tools_json", true));
  FERRITE_ASSIGN_OR_RETURN(cp.documents, parse_json_field(c.documents_json(), "documents_json", true));
  if (!c.chat_template_kwargs_json().empty()) {
    FERRITE_ASSIGN_OR_RETURN(cp.chat_template_kwargs,
                             parse_json_field(c.chat_template_kwargs_json(), "chat_template_kwargs_json", false));
  }
  if (c.has_add_generation_prompt()) cp.add_generation_prompt = c.add_generation_prompt();
  return cp;
}

Result<Prompt> prompt_from_proto(const v1::GenerateRequest& r) {
  switch (r.prompt_case()) {
    case v1::GenerateRequest::kText: return Prompt(r.text());
    case v1::GenerateRequest::kTokenIds:
      return Prompt(std::vector<std::int32_t>(r.token_ids().ids().begin(), r.token_ids().ids().end()));
    case v1::GenerateRequest::kChat: {
      FERRITE_ASSIGN_OR_RETURN(ChatPrompt cp, chat_from_proto(r.chat()));
      return Prompt(std::move(cp));
    }
    case v1::GenerateRequest::PROMPT_NOT_SET: break;
  }
  return invalid_argument("a prompt is required: 'text', 'token_ids' or 'chat'");
}

void fill_chunk(const OutputDelta& d, v1::Chunk* out) {
  out->set_index(d.index);
  out->mutable_token_ids()->Add(d.token_ids.begin(), d.token_ids.end());
  out->set_text(d.text);
  for (const auto& lp : d.logprobs) fill_logprob(lp, out->add_logprobs());
}

void fill_prompt_info(const PromptInfo& info, v1::Chunk* out) {
  out->mutable_prompt_token_ids()->Add(info.prompt_token_ids.begin(), info.prompt_token_ids.end());
  for (const auto& lp : info.prompt_logprobs) {
    auto* p = out->add_prompt_logprobs();
    p->set_present(lp.has_value());
    if (lp) fill_logprob(*lp, p->mutable_logprob());
  }
}

void fill_complete(const OutputDelta& d, v1::Complete* out) {
  out->set_index(d.index);
  out->set_finish_reason(finish_reason_to_proto(d.finish_reason));
  if (const auto* s = std::get_if<std::string>(&d.stop_reason)) out->set_stop_string(*s);
  if (const auto* id = std::get_if<std::int32_t>(&d.stop_reason)) out->set_stop_token_id(*id);
}

void fill_usage(const Usage& u, v1::Usage* out) {
  out->set_prompt_tokens(u.prompt_tokens);
  out->set_completion_tokens(u.completion_tokens);
  out->set_cached_prompt_tokens(u.cached_prompt_tokens);
}

}  // namespace ferrite::server::grpc_convert
