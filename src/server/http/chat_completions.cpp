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
  bool flag = false;
  if (auto e = read_bool(b, "continue_final_message", &flag)) return e;
  if (flag) return bad_request("'continue_final_message' is not supported yet", "continue_final_message");
  flag = false;
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

Json totals(GenerationRun& run) {
  const Usage u = run.streams().front()->usage();
  return usage_json(u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens);
}

void respond_whole(const Plan& plan, GenerationRun& run, const Ready& ready, const std::string& model, httplib::Response& res) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto n = static_cast<std::size_t>(plan.sampling.n);
  std::vector<std::string> text(n), finish(n);
  std::vector<Json> stop_reason(n);
  std::vector<std::vector<std::int32_t>> ids(n);
  std::vector<std::vector<TokenLogprob>> lps(n);
  std::string error;
  while (auto e = run.next()) {
    const auto c = static_cast<std::size_t>(e->choice);
    text[c] += e->delta.text;
    ids[c].insert(ids[c].end(), e->delta.token_ids.begin(), e->delta.token_ids.end());
    for (auto& lp : e->delta.logprobs) lps[c].push_back(std::move(lp));
    if (e->delta.finish_reason != FinishReason::kNone) {
      finish[c] = finish_reason_name(e->delta.finish_reason);
      stop_reason[c] = stop_reason_json(e->delta);
    }
    if (!e->delta.error.empty()) error = e->delta.error;
  }
  Json usage = totals(run);
  log_access(plan.id, "/v1/chat/completions", error.empty() ? 200 : 500, usage["prompt_tokens"], usage["completion_tokens"],
             run.first_token_seconds(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!error.empty()) return send_error(res, {500, error, "InternalServerError", "", ""});
  if (run.cut_reason() == "the server is shutting down")
    return send_error(res, {503, run.cut_reason(), "ServiceUnavailableError", "", ""});
  Json choices = Json::array();
  for (std::size_t c = 0; c < n; ++c) {
    Json message = {{"role", "assistant"}, {"content", text[c]}, {"refusal", nullptr}, {"tool_calls", Json::array()}};
    Json lp = plan.sampling.logprobs ? chat_logprobs(ready.tokenizer.get(), ids[c], lps[c], *plan.sampling.logprobs) : Json(nullptr);
    choices.push_back({{"index", c}, {"message", message}, {"logprobs", lp}, {"finish_reason", finish[c]}, {"stop_reason", stop_reason[c]}});
  }
  Json body = {{"id", plan.id}, {"object", "chat.completion"}, {"created", plan.created}, {"model", model},
               {"choices", choices}, {"usage", usage}};
  res.set_content(dump(body), "application/json");
}

bool stream_all(const Plan& plan, GenerationRun& run, const Ready& ready, const std::string& model, httplib::DataSink& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  auto chunk = [&](Json choices) {
    return Json{{"id", plan.id}, {"object", "chat.completion.chunk"}, {"created", plan.created}, {"model", model},
                {"choices", std::move(choices)}};
  };
  const auto prompt_tokens = [&] { return static_cast<std::int64_t>(run.streams().front()->prompt_info().prompt_token_ids.size()); };
  // The role first, one chunk per choice, as OpenAI and vLLM send it.
  bool ok = true;
  for (std::int32_t c = 0; c < plan.sampling.n && ok; ++c)
    ok = sse_send(sink, chunk(Json::array({{{"index", c}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                            {"logprobs", nullptr}, {"finish_reason", nullptr}}})));
  std::vector<std::int64_t> generated(static_cast<std::size_t>(plan.sampling.n), 0);
  while (auto e = run.next()) {
    if (!ok) continue;  // the client is gone: drain what the abort produces
    const OutputDelta& d = e->delta;
    generated[static_cast<std::size_t>(e->choice)] += static_cast<std::int64_t>(d.token_ids.size());
    if (!d.error.empty()) {
      ok = sse_send(sink, error_json({500, d.error, "InternalServerError", "", ""}));
      if (!ok) run.abort_all("the client went away");
      continue;
    }
    const bool last = d.finish_reason != FinishReason::kNone;
    if (d.text.empty() && d.token_ids.empty() && !last) continue;
    Json delta = Json::object();
    if (!d.text.empty() || !last) delta["content"] = d.text;
    Json lp = plan.sampling.logprobs && !d.token_ids.empty()
                  ? chat_logprobs(ready.tokenizer.get(), d.token_ids, d.logprobs, *plan.sampling.logprobs)
                  : Json(nullptr);
    Json ch = {{"index", e->choice}, {"delta", delta}, {"logprobs", lp},
               {"finish_reason", last ? Json(finish_reason_name(d.finish_reason)) : Json(nullptr)}};
    if (last) ch["stop_reason"] = stop_reason_json(d);
    Json j = chunk(Json::array({ch}));
    if (plan.so.include_usage && plan.so.continuous_usage)
      j["usage"] = usage_json(prompt_tokens(), generated[static_cast<std::size_t>(e->choice)], 0);
    ok = sse_send(sink, j);
    if (!ok) run.abort_all("the client went away");
  }
  if (!ok) return false;
  if (run.cut_reason() == "the server is shutting down")
    sse_send(sink, error_json({503, run.cut_reason(), "ServiceUnavailableError", "", ""}));
  Json usage = totals(run);
  if (plan.so.include_usage) {
    Json j = chunk(Json::array());
    j["usage"] = usage;
    sse_send(sink, j);
  }
  log_access(plan.id, "/v1/chat/completions", 200, usage["prompt_tokens"], usage["completion_tokens"],
             run.first_token_seconds(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return sse_done(sink);
}

}  // namespace

void handle_chat_completions(ServerState& st, const httplib::Request& req, httplib::Response& res) {
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
  auto run = std::make_shared<GenerationRun>(st, *ready, req);
  if (auto e = run->submit(std::move(reqs))) return send_error(res, *e);
  const std::string model = st.model_name();
  if (!plan->so.stream) return respond_whole(*plan, *run, *ready, model, res);
  Ready rd = *ready;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [plan, run, rd, model](std::size_t, httplib::DataSink& sink) {
    return stream_all(*plan, *run, rd, model, sink);
  });
}

}  // namespace ferrite::server
