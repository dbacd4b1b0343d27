// POST /v1/completions: OpenAI's legacy completions with vLLM's extras. A batch of prompts
// becomes one engine request per prompt; choice i*n+k is completion k of prompt i.
#include <chrono>

#include "engine/sampling_json.h"
#include "server/http/internal.h"

namespace ferrite::server {

namespace {

struct Plan {
  std::string id;
  std::int64_t created = 0;
  std::vector<Prompt> prompts;
  std::vector<std::string> echo_text;  // per prompt, when echo
  SamplingParams sampling;
  StreamOptions so;
  bool echo = false;
  bool return_token_ids = false;
  std::int32_t priority = 0;
};

Result<std::vector<std::int32_t>> read_ids(const Body& v) {
  std::vector<std::int32_t> ids;
  for (const auto& e : v) {
    if (!e.is_number_integer()) return invalid_argument("'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token ids");
    const auto x = e.get<std::int64_t>();
    if (x < 0 || x > INT32_MAX) return invalid_argument("prompt token id " + std::to_string(x) + " is out of range");
    ids.push_back(static_cast<std::int32_t>(x));
  }
  if (ids.empty()) return invalid_argument("a prompt must not be empty");
  return ids;
}

std::optional<ApiError> read_prompts(const Body& b, Plan* plan) {
  if (!b.contains("prompt") || b.at("prompt").is_null()) return bad_request("'prompt' is required", "prompt");
  const Body& p = b.at("prompt");
  auto fail = [](const Status& s) { return bad_request(s.message(), "prompt"); };
  if (p.is_string()) {
    plan->prompts.emplace_back(p.get<std::string>());
  } else if (p.is_array() && !p.empty() && p.at(0).is_string()) {
    for (const auto& s : p) {
      if (!s.is_string()) return bad_request("'prompt' lists must hold only strings or only token ids", "prompt");
      plan->prompts.emplace_back(s.get<std::string>());
    }
  } else if (p.is_array() && !p.empty() && p.at(0).is_array()) {
    for (const auto& ids : p) {
      if (!ids.is_array()) return bad_request("'prompt' lists must hold only lists of token ids", "prompt");
      auto r = read_ids(ids);
      if (!r.ok()) return fail(r.status());
      plan->prompts.emplace_back(*r);
    }
  } else if (p.is_array() && !p.empty()) {
    auto r = read_ids(p);
    if (!r.ok()) return fail(r.status());
    plan->prompts.emplace_back(*r);
  } else {
    return bad_request("'prompt' must be a non-empty string, list of strings, list of token ids or list of lists of token ids", "prompt");
  }
  return std::nullopt;
}

std::optional<ApiError> read_plan(const Body& b, const Ready& ready, Plan* plan) {
  if (auto e = read_prompts(b, plan)) return e;
  if (b.contains("suffix") && !b.at("suffix").is_null()) return bad_request("'suffix' is not supported", "suffix");
  if (auto e = check_response_format(b)) return e;
  if (auto e = read_stream_options(b, &plan->so)) return e;
  if (auto e = read_request_extras(b, &plan->priority, &plan->id)) return e;
  if (b.contains("logprobs") && b.at("logprobs").is_boolean())
    return bad_request("'logprobs' must be an integer for completions", "logprobs");
  for (const auto& [key, dst] : {std::pair<const char*, bool*>{"echo", &plan->echo}, {"return_token_ids", &plan->return_token_ids}}) {
    if (!b.contains(key) || b.at(key).is_null()) continue;
    if (!b.at(key).is_boolean()) return bad_request(std::string("'") + key + "' must be a boolean", key);
    *dst = b.at(key).get<bool>();
  }
  auto sp = engine::sampling_params_from_json(b);
  if (!sp.ok()) return api_error_from(sp.status());
  plan->sampling = *sp;
  if (b.contains("best_of") && !b.at("best_of").is_null()) {
    if (!b.at("best_of").is_number_integer() || b.at("best_of").get<std::int64_t>() != plan->sampling.n)
      return bad_request("'best_of' must equal 'n' (ranking by best_of is not supported)", "best_of");
  }
  // OpenAI's and vLLM's default for completions.
  if (!plan->sampling.given.max_tokens) {
    plan->sampling.max_tokens = 16;
    plan->sampling.given.max_tokens = true;
  }
  if (plan->echo && plan->sampling.logprobs && !plan->sampling.prompt_logprobs)
    plan->sampling.prompt_logprobs = plan->sampling.logprobs;
  bool add_special = true;
  if (b.contains("add_special_tokens") && !b.at("add_special_tokens").is_null()) {
    if (!b.at("add_special_tokens").is_boolean()) return bad_request("'add_special_tokens' must be a boolean", "add_special_tokens");
    add_special = b.at("add_special_tokens").get<bool>();
  }
  for (auto& p : plan->prompts) {
    const auto* text = std::get_if<std::string>(&p);
    if (plan->echo) {
      if (text) plan->echo_text.push_back(*text);
      else if (ready.tokenizer) plan->echo_text.push_back(ready.tokenizer->decode(std::get<std::vector<std::int32_t>>(p), false));
      else plan->echo_text.emplace_back();
    }
    if (text && !add_special && ready.tokenizer) {
      auto ids = ready.tokenizer->encode(*text, false);
      if (!ids.ok()) return api_error_from(ids.status());
      p = *ids;
    }
  }
  return std::nullopt;
}

// The legacy logprobs object for `ids` (entries without a logprob are null, like a prompt's first).
Json legacy_logprobs(const tokenizer::Tokenizer* tok, const std::vector<std::int32_t>& ids,
                     const std::vector<const TokenLogprob*>& lps, std::int64_t* offset) {
  Json tokens = Json::array(), token_lps = Json::array(), tops = Json::array(), offsets = Json::array();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string t = token_text(tok, ids[i]);
    tokens.push_back(t);
    offsets.push_back(*offset);
    *offset += static_cast<std::int64_t>(t.size());
    const TokenLogprob* lp = i < lps.size() ? lps[i] : nullptr;
    if (lp == nullptr) {
      token_lps.push_back(nullptr);
      tops.push_back(nullptr);
      continue;
    }
    token_lps.push_back(finite_logprob(lp->logprob));
    Json top = Json::object();
    for (const auto& [id, v] : lp->top) top[token_text(tok, id)] = finite_logprob(v);
    top[t] = finite_logprob(lp->logprob);
    tops.push_back(top);
  }
  return Json{{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

struct ChoiceState {
  std::string text;
  std::vector<std::int32_t> ids;
  std::vector<TokenLogprob> lps;
  std::string finish;
  Json stop_reason;
  bool started = false;
  std::int64_t offset = 0;
};

// The echoed prompt of a choice: its text and, with logprobs, its tokens.
void add_echo(const Plan& plan, GenerationRun& run, const Ready& ready, std::int32_t prompt_index, Json* text,
              Json* logprobs, std::int64_t* offset) {
  const auto pi = static_cast<std::size_t>(prompt_index);
  *text = plan.echo_text[pi] + text->get<std::string>();
  if (!plan.sampling.logprobs) return;
  const PromptInfo info = run.streams()[pi]->prompt_info();
  std::vector<const TokenLogprob*> lps;
  for (const auto& lp : info.prompt_logprobs) lps.push_back(lp ? &*lp : nullptr);
  lps.resize(info.prompt_token_ids.size(), nullptr);
  Json head = legacy_logprobs(ready.tokenizer.get(), info.prompt_token_ids, lps, offset);
  if (logprobs->is_null()) {
    *logprobs = head;
  } else {
    for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
      for (const auto& v : (*logprobs)[k]) head[k].push_back(v);
    *logprobs = head;
  }
}

Json totals(GenerationRun& run) {
  std::int64_t p = 0, c = 0, cached = 0;
  for (const auto& s : run.streams()) {
    const Usage u = s->usage();
    p += u.prompt_tokens;
    c += u.completion_tokens;
    cached += u.cached_prompt_tokens;
  }
  return usage_json(p, c, cached);
}

void respond_whole(const Plan& plan, GenerationRun& run, const Ready& ready, const std::string& model, httplib::Response& res) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ChoiceState> choices(plan.prompts.size() * static_cast<std::size_t>(plan.sampling.n));
  std::string error;
  while (auto e = run.next()) {
    auto& c = choices[static_cast<std::size_t>(e->choice)];
    c.text += e->delta.text;
    c.ids.insert(c.ids.end(), e->delta.token_ids.begin(), e->delta.token_ids.end());
    for (auto& lp : e->delta.logprobs) c.lps.push_back(std::move(lp));
    if (e->delta.finish_reason != FinishReason::kNone) {
      c.finish = finish_reason_name(e->delta.finish_reason);
      c.stop_reason = stop_reason_json(e->delta);
    }
    if (!e->delta.error.empty()) error = e->delta.error;
  }
  Json usage = totals(run);
  log_access(plan.id, "/v1/completions", error.empty() ? 200 : 500, usage["prompt_tokens"], usage["completion_tokens"],
             run.first_token_seconds(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!error.empty()) return send_error(res, {500, error, "InternalServerError", "", ""});
  if (run.cut_reason() == "the server is shutting down")
    return send_error(res, {503, run.cut_reason(), "ServiceUnavailableError", "", ""});
  Json out_choices = Json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    auto& c = choices[i];
    Json text = c.text, logprobs = nullptr;
    std::int64_t offset = 0;
    const auto prompt_index = static_cast<std::int32_t>(i / static_cast<std::size_t>(plan.sampling.n));
    if (plan.echo) {
      std::int64_t echo_offset = 0;
      add_echo(plan, run, ready, prompt_index, &text, &logprobs, &echo_offset);
      offset = static_cast<std::int64_t>(plan.echo_text[static_cast<std::size_t>(prompt_index)].size());
    }
    if (plan.sampling.logprobs) {
      std::vector<const TokenLogprob*> lps;
      for (const auto& lp : c.lps) lps.push_back(&lp);
      Json gen = legacy_logprobs(ready.tokenizer.get(), c.ids, lps, &offset);
      if (logprobs.is_null()) logprobs = gen;
      else
        for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
          for (const auto& v : gen[k]) logprobs[k].push_back(v);
    }
    Json ch = {{"index", i}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", c.finish}, {"stop_reason", c.stop_reason}};
    if (plan.return_token_ids) {
      ch["token_ids"] = c.ids;
      ch["prompt_token_ids"] = run.streams()[static_cast<std::size_t>(prompt_index)]->prompt_info().prompt_token_ids;
    }
    out_choices.push_back(std::move(ch));
  }
  Json body = {{"id", plan.id}, {"object", "text_completion"}, {"created", plan.created}, {"model", model},
               {"choices", out_choices}, {"usage", usage}};
  res.set_content(dump(body), "application/json");
}

bool stream_all(const Plan& plan, GenerationRun& run, const Ready& ready, const std::string& model, httplib::DataSink& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<ChoiceState> choices(plan.prompts.size() * static_cast<std::size_t>(plan.sampling.n));
  auto chunk = [&](Json choice) {
    return Json{{"id", plan.id}, {"object", "text_completion"}, {"created", plan.created}, {"model", model},
                {"choices", Json::array({std::move(choice)})}};
  };
  bool ok = true;
  while (auto e = run.next()) {
    if (!ok) continue;  // the client is gone: drain what the abort produces
    auto& c = choices[static_cast<std::size_t>(e->choice)];
    const OutputDelta& d = e->delta;
    const bool last = d.finish_reason != FinishReason::kNone;
    c.ids.insert(c.ids.end(), d.token_ids.begin(), d.token_ids.end());
    if (!d.error.empty()) {
      ok = sse_send(sink, error_json({500, d.error, "InternalServerError", "", ""}));
      if (!ok) run.abort_all("the client went away");
      continue;
    }
    // Every delta with tokens is sent, even when its text is still an incomplete character:
    // the client sees progress, and a write to a vanished client fails early.
    if (d.text.empty() && d.token_ids.empty() && !last && (c.started || !plan.echo)) continue;
    Json text = d.text, logprobs = nullptr;
    if (plan.echo && !c.started) {
      std::int64_t echo_offset = 0;
      add_echo(plan, run, ready, e->prompt_index, &text, &logprobs, &echo_offset);
      c.offset = echo_offset;
    }
    c.started = true;
    if (plan.sampling.logprobs && !d.token_ids.empty()) {
      std::vector<const TokenLogprob*> lps;
      for (const auto& lp : d.logprobs) lps.push_back(&lp);
      Json gen = legacy_logprobs(ready.tokenizer.get(), d.token_ids, lps, &c.offset);
      if (logprobs.is_null()) logprobs = gen;
      else
        for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
          for (const auto& v : gen[k]) logprobs[k].push_back(v);
    }
    Json ch = {{"index", e->choice}, {"text", text}, {"logprobs", logprobs},
               {"finish_reason", last ? Json(finish_reason_name(d.finish_reason)) : Json(nullptr)},
               {"stop_reason", stop_reason_json(d)}};
    if (plan.return_token_ids) ch["token_ids"] = d.token_ids;
    Json j = chunk(std::move(ch));
    if (plan.so.include_usage && plan.so.continuous_usage) {
      const auto& s = run.streams()[static_cast<std::size_t>(e->prompt_index)];
      const auto p = static_cast<std::int64_t>(s->prompt_info().prompt_token_ids.size());
      j["usage"] = usage_json(p, static_cast<std::int64_t>(c.ids.size()), 0);
    }
    ok = sse_send(sink, j);
    if (!ok) run.abort_all("the client went away");
  }
  if (!ok) return false;
  if (run.cut_reason() == "the server is shutting down")
    sse_send(sink, error_json({503, run.cut_reason(), "ServiceUnavailableError", "", ""}));
  Json usage = totals(run);
  if (plan.so.include_usage) {
    Json j = {{"id", plan.id}, {"object", "text_completion"}, {"created", plan.created}, {"model", model},
              {"choices", Json::array()}, {"usage", usage}};
    sse_send(sink, j);
  }
  log_access(plan.id, "/v1/completions", 200, usage["prompt_tokens"], usage["completion_tokens"], run.first_token_seconds(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return sse_done(sink);
}

}  // namespace

void handle_completions(ServerState& st, const httplib::Request& req, httplib::Response& res) {
  auto ready = ready_or_error(st, res, true);
  if (!ready) return;
  OJson ordered;
  Body body;
  if (!read_json_request(st, req, res, &ordered, &body)) return;
  auto plan = std::make_shared<Plan>();
  if (auto e = read_plan(body, *ready, plan.get())) return send_error(res, *e);
  plan->id = plan->id.empty() ? new_id(st, "cmpl") : "cmpl-" + plan->id;
  plan->created = unix_now();
  std::vector<GenerateRequest> reqs;
  for (std::size_t i = 0; i < plan->prompts.size(); ++i) {
    GenerateRequest r;
    r.request_id = plan->id + "-" + std::to_string(i);
    r.prompt = plan->prompts[i];
    r.sampling = plan->sampling;
    r.priority = plan->priority;
    reqs.push_back(std::move(r));
  }
  auto run = std::make_shared<GenerationRun>(st, *ready, req);
  if (auto e = run->submit(std::move(reqs))) return send_error(res, *e);
  const std::string model = st.model_name();
  if (!plan->so.stream) return respond_whole(*plan, *run, *ready, model, res);
  Ready r = *ready;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [plan, run, r, model](std::size_t, httplib::DataSink& sink) {
    return stream_all(*plan, *run, r, model, sink);
  });
}

}  // namespace ferrite::server
