// POST /v1/chat/completions: messages (and tools) rendered by the model's chat template in the
// engine; the answer as one chat.completion or as chat.completion.chunk events.
#include <chrono>

#include "engine/sampling_json.h"
#include "server/http/internal.h"

namespace ferrite::server {

namespace {

struct Plan {
  std::string id;
  std::int64_t created = 0;
  ChatPrompt prompt;
  SamplingParams sampling;
  StreamOptions so;
  std::int32_t priority = 0;
  bool logprobs = false;
};

// Content-part arrays become one string (text parts joined by newlines, as vLLM's "string"
// content format), so every template sees what it expects.
std::optional<ApiError> normalize_messages(OJson& messages) {
  if (!messages.is_array() || messages.empty()) return bad_request("'messages' must be a non-empty list", "messages");
  for (auto& m : messages) {
    if (!m.is_object()) return bad_request("each message must be an object", "messages");
    if (!m.contains("role") || !m.at("role").is_string()) return bad_request("each message needs a string 'role'", "messages");
    if (!m.contains("content")) continue;
    OJson& c = m["content"];
    if (c.is_string() || c.is_null()) continue;
    if (!c.is_array()) return bad_request("message 'content' must be a string or a list of content parts", "messages");
    std::string text;
    bool first = true;
    for (const auto& part : c) {
      if (!part.is_object() || !part.contains("type") || !part.at("type").is_string())
        return bad_request("each content part must be an object with a 'type'", "messages");
      if (part.at("type") != "text")
        return bad_request("content parts of type '" + part.at("type").get<std::string>() + "' are not supported (text only)", "messages");
      if (!part.contains("text") || !part.at("text").is_string()) return bad_request("a text content part needs a string 'text'", "messages");
      if (!first) text += "\n";
      text += part.at("text").get<std::string>();
      first = false;
    }
    c = text;
  }
  return std::nullopt;
}

std::optional<ApiError> read_bool(const Body& b, const char* key, bool* out) {
  if (!b.contains(key) || b.at(key).is_null()) return std::nullopt;
  if (!b.at(key).is_boolean()) return bad_request(std::string("'") + key + "' must be a boolean", key);
  *out = b.at(key).get<bool>();
  return std::nullopt;
}

std::optional<ApiError> read_plan(const OJson& ob, const Body& b, Plan* plan, std::int32_t max_logprobs) {
  if (!ob.contains("messages")) return bad_request("'messages' is required", "messages");
  plan->prompt.messages = ob.at("messages");
  if (auto e = normalize_messages(plan->prompt.messages)) return e;
  if (ob.contains("tools") && !ob.at("tools").is_null()) {
    if (!ob.at("tools").is_array()) return bad_request("'tools' must be a list", "tools");
    plan->prompt.tools = ob.at("tools");
  }
  if (ob.contains("documents") && !ob.at("documents").is_null()) {
    if (!ob.at("documents").is_array()) return bad_request("'documents' must be a list", "documents");
    plan->prompt.documents = ob.at("documents");
  }
  if (b.contains("tool_choice") && !b.at("tool_choice").is_null()) {
    const Body& tc = b.at("tool_choice");
    if (!(tc == "none" || tc == "auto"))
      return bad_request("tool_choice other than \"none\" or \"auto\" is not supported yet (no constrained tool calls)", "tool_choice");
  }
  if (ob.contains("chat_template_kwargs") && !ob.at("chat_template_kwargs").is_null()) {
    if (!ob.at("chat_template_kwargs").is_object()) return bad_request("'chat_template_kwargs' must be an object", "chat_template_kwargs");
    plan->prompt.chat_template_kwargs = ob.at("chat_template_kwargs");
  }
  if (auto e = read_bool(b, "add_generation_prompt", &plan->prompt.add_generation_prompt)) return e;
  if (auto e = read_bool(b, "continue_final_message", &plan->prompt.continue_final_message)) return e;
  // vLLM's rule: continuing the final message needs add_generation_prompt false (stated explicitly,
  // as its default is true).
  if (plan->prompt.continue_final_message && plan->prompt.add_generation_prompt)
    return bad_request("'continue_final_message' and 'add_generation_prompt' cannot both be true", "continue_final_message");
  bool flag = false;
  if (auto e = read_bool(b, "add_special_tokens", &flag)) return e;
  if (flag) return bad_request("'add_special_tokens': true is not supported for chat (the template writes them)", "add_special_tokens");
  if (b.contains("chat_template") && !b.at("chat_template").is_null())
    return bad_request("a per-request 'chat_template' is not supported; start the server with --chat-template", "chat_template");
  if (auto e = check_response_format(b)) return e;
  if (auto e = read_stream_options(b, &plan->so)) return e;
  if (auto e = read_request_extras(b, &plan->priority, &plan->id)) return e;
  if (b.contains("logprobs") && !b.at("logprobs").is_null()) {
    if (!b.at("logprobs").is_boolean()) return bad_request("'logprobs' must be a boolean for chat completions", "logprobs");
    plan->logprobs = b.at("logprobs").get<bool>();
  }
  auto sp = engine::sampling_params_from_json(b);
  if (!sp.ok()) return api_error_from(sp.status());
  plan->sampling = *sp;
  plan->sampling.logprobs.reset();
  if (b.contains("top_logprobs") && !b.at("top_logprobs").is_null()) {
    const Body& t = b.at("top_logprobs");
    if (!t.is_number_integer()) return bad_request("'top_logprobs' must be an integer", "top_logprobs");
    if (!plan->logprobs) return bad_request("'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
    const auto n = t.get<std::int64_t>();
    if (n < 0 || n > max_logprobs)
      return bad_request("'top_logprobs' must be between 0 and " + std::to_string(max_logprobs) + " (--max-logprobs)", "top_logprobs");
    plan->sampling.logprobs = static_cast<std::int32_t>(n);
  } else if (plan->logprobs) {
    plan->sampling.logprobs = 0;
  }
  return std::nullopt;
}

Json chat_logprobs(const tokenizer::Tokenizer* tok, const std::vector<std::int32_t>& ids,
                   const std::vector<TokenLogprob>& lps, std::int32_t top_n) {
  Json content = Json::array();
  for (std::size_t i = 0; i < ids.size() && i < lps.size(); ++i) {
    const std::string t = token_text(tok, ids[i]);
    Json top = Json::array();
    for (std::size_t k = 0; k < lps[i].top.size() && static_cast<std::int32_t>(k) < top_n; ++k) {
      const std::string tt = token_text(tok, lps[i].top[k].first);
      top.push_back({{"token", tt}, {"logprob", finite_logprob(lps[i].top[k].second)}, {"bytes", token_bytes(tt)}});
    }
    content.push_back({{"token", t}, {"logprob", finite_logprob(lps[i].logprob)}, {"bytes", token_bytes(t)}, {"top_logprobs", top}});
  }
  return Json{{"content", content}, {"refusal", nullptr}};
}

// The response of one /v1/chat/completions request: the role chunk, content deltas and the
// finish chunk (stream), or one chat.completion once every choice has finished.
class ChatBody : public GenerationBody {
 public:
  ChatBody(std::shared_ptr<GenerationRun> run, std::shared_ptr<const Plan> plan, Ready ready, std::string model)
      : GenerationBody(std::move(run), plan->id, "/v1/chat/completions"), plan_(std::move(plan)), ready_(std::move(ready)),
        model_(std::move(model)), n_(static_cast<std::size_t>(plan_->sampling.n)), text_(n_), finish_(n_), stop_reason_(n_),
        ids_(n_), lps_(n_), generated_(n_, 0) {}

  bool pump(HttpResponse& res) override {
    if (plan_->so.stream && !role_sent_) {
      // The role first, one chunk per choice, as OpenAI and vLLM send it.
      role_sent_ = true;
      for (std::size_t c = 0; c < n_; ++c)
        sse_append(&res.body, chunk(Json::array({{{"index", c}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                                  {"logprobs", nullptr}, {"finish_reason", nullptr}}})));
    }
    return GenerationBody::pump(res);
  }

 protected:
  void on_event(RunEvent& e, HttpResponse& res) override {
    const auto c = static_cast<std::size_t>(e.choice);
    OutputDelta& d = e.delta;
    generated_[c] += static_cast<std::int64_t>(d.token_ids.size());
    if (!d.error.empty()) error_ = d.error;
    const bool last = d.finish_reason != FinishReason::kNone;
    if (!plan_->so.stream) {
      text_[c] += d.text;
      ids_[c].insert(ids_[c].end(), d.token_ids.begin(), d.token_ids.end());
      for (auto& lp : d.logprobs) lps_[c].push_back(std::move(lp));
      if (last) {
        finish_[c] = finish_reason_name(d.finish_reason);
        stop_reason_[c] = stop_reason_json(d);
      }
      return;
    }
    if (!d.error.empty()) return sse_append(&res.body, error_json({500, d.error, "InternalServerError", "", ""}));
    if (d.text.empty() && d.token_ids.empty() && !last) return;
    Json delta = Json::object();
    if (!d.text.empty() || !last) delta["content"] = d.text;
    Json lp = plan_->sampling.logprobs && !d.token_ids.empty()
                  ? chat_logprobs(ready_.tokenizer.get(), d.token_ids, d.logprobs, *plan_->sampling.logprobs)
                  : Json(nullptr);
    Json ch = {{"index", e.choice}, {"delta", delta}, {"logprobs", lp},
               {"finish_reason", last ? Json(finish_reason_name(d.finish_reason)) : Json(nullptr)}};
    if (last) ch["stop_reason"] = stop_reason_json(d);
    Json j = chunk(Json::array({ch}));
    if (plan_->so.include_usage && plan_->so.continuous_usage) {
      const auto prompt = static_cast<std::int64_t>(run_->streams().front()->prompt_info().prompt_token_ids.size());
      j["usage"] = usage_json(prompt, generated_[c], 0);
    }
    sse_append(&res.body, j);
  }

  int on_done(HttpResponse& res) override {
    if (plan_->so.stream) return end_stream(res, plan_->so.include_usage ? chunk(Json::array()) : Json());
    if (int status = whole_error(res, error_)) return status;
    Json choices = Json::array();
    for (std::size_t c = 0; c < n_; ++c) {
      Json message = {{"role", "assistant"}, {"content", text_[c]}, {"refusal", nullptr}, {"tool_calls", Json::array()}};
      Json lp = plan_->sampling.logprobs ? chat_logprobs(ready_.tokenizer.get(), ids_[c], lps_[c], *plan_->sampling.logprobs)
                                         : Json(nullptr);
      choices.push_back({{"index", c}, {"message", message}, {"logprobs", lp}, {"finish_reason", finish_[c]},
                         {"stop_reason", stop_reason_[c]}});
    }
    Json body = {{"id", plan_->id}, {"object", "chat.completion"}, {"created", plan_->created}, {"model", model_},
                 {"choices", choices}, {"usage", run_->usage()}};
    res.set_content(dump(body), "application/json");
    return 200;
  }

 private:
  Json chunk(Json choices) const {
    return Json{{"id", plan_->id}, {"object", "chat.completion.chunk"}, {"created", plan_->created}, {"model", model_},
                {"choices", std::move(choices)}};
  }

  std::shared_ptr<const Plan> plan_;
  Ready ready_;
  std::string model_;
  std::size_t n_;
  std::vector<std::string> text_, finish_;
  std::vector<Json> stop_reason_;
  std::vector<std::vector<std::int32_t>> ids_;
  std::vector<std::vector<TokenLogprob>> lps_;
  std::vector<std::int64_t> generated_;
  std::string error_;
  bool role_sent_ = false;
};

}  // namespace

void handle_chat_completions(ServerState& st, const HttpRequest& req, HttpResponse& res) {
  auto ready = ready_or_error(st, res, true);
  if (!ready) return;
  OJson ordered;
  Body body;
  if (!read_json_request(st, req, res, &ordered, &body)) return;
  auto plan = std::make_shared<Plan>();
  if (auto e = read_plan(ordered, body, plan.get(), st.config.max_logprobs)) return send_error(res, *e);
  plan->id = plan->id.empty() ? new_id(st, "chatcmpl") : "chatcmpl-" + plan->id;
  plan->created = unix_now();
  GenerateRequest r;
  r.request_id = plan->id;
  r.prompt = plan->prompt;
  r.sampling = plan->sampling;
  r.priority = plan->priority;
  std::vector<GenerateRequest> reqs;
  reqs.push_back(std::move(r));
  auto run = std::make_shared<GenerationRun>(st, *ready);
  if (auto e = run->submit(std::move(reqs))) return send_error(res, *e);
  respond_async(res, plan->so.stream, std::make_shared<ChatBody>(std::move(run), plan, *ready, st.model_name()));
}

}  // namespace ferrite::server
