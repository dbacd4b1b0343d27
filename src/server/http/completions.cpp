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

// One choice as a legacy logprobs object over `ids` (appended to what is there).
void append_logprobs(const Ready& ready, const std::vector<std::int32_t>& ids, const std::vector<const TokenLogprob*>& lps,
                     std::int64_t* offset, Json* logprobs) {
  Json gen = legacy_logprobs(ready.tokenizer.get(), ids, lps, offset);
  if (logprobs->is_null()) {
    *logprobs = std::move(gen);
    return;
  }
  for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
    for (const auto& v : gen[k]) (*logprobs)[k].push_back(v);
}

// The response of one /v1/completions request: text_completion chunks as they come (stream),
// or one text_completion once every choice has finished.
class CompletionBody : public GenerationBody {
 public:
  CompletionBody(std::shared_ptr<GenerationRun> run, std::shared_ptr<const Plan> plan, Ready ready, std::string model)
      : GenerationBody(std::move(run), plan->id, "/v1/completions"), plan_(std::move(plan)), ready_(std::move(ready)),
        model_(std::move(model)),
        choices_(plan_->prompts.size() * static_cast<std::size_t>(plan_->sampling.n)) {}

 protected:
  void on_event(RunEvent& e, HttpResponse& res) override {
    auto& c = choices_[static_cast<std::size_t>(e.choice)];
    OutputDelta& d = e.delta;
    c.ids.insert(c.ids.end(), d.token_ids.begin(), d.token_ids.end());
    if (!d.error.empty()) error_ = d.error;
    if (!plan_->so.stream) {
      c.text += d.text;
      for (auto& lp : d.logprobs) c.lps.push_back(std::move(lp));
      if (d.finish_reason != FinishReason::kNone) {
        c.finish = finish_reason_name(d.finish_reason);
        c.stop_reason = stop_reason_json(d);
      }
      return;
    }
    if (!d.error.empty()) return sse_append(&res.body, error_json({500, d.error, "InternalServerError", "", ""}));
    const bool last = d.finish_reason != FinishReason::kNone;
    // Every delta with tokens is sent, even when its text is still an incomplete character.
    if (d.text.empty() && d.token_ids.empty() && !last && (c.started || !plan_->echo)) return;
    Json text = d.text, logprobs = nullptr;
    if (plan_->echo && !c.started) {
      std::int64_t echo_offset = 0;
      add_echo(*plan_, *run_, ready_, e.prompt_index, &text, &logprobs, &echo_offset);
      c.offset = echo_offset;
    }
    c.started = true;
    if (plan_->sampling.logprobs && !d.token_ids.empty()) {
      std::vector<const TokenLogprob*> lps;
      for (const auto& lp : d.logprobs) lps.push_back(&lp);
      append_logprobs(ready_, d.token_ids, lps, &c.offset, &logprobs);
    }
    Json ch = {{"index", e.choice}, {"text", text}, {"logprobs", logprobs},
               {"finish_reason", last ? Json(finish_reason_name(d.finish_reason)) : Json(nullptr)},
               {"stop_reason", stop_reason_json(d)}};
    if (plan_->return_token_ids) ch["token_ids"] = d.token_ids;
    Json j = head();
    j["choices"] = Json::array({std::move(ch)});
    if (plan_->so.include_usage && plan_->so.continuous_usage) {
      const auto& s = run_->streams()[static_cast<std::size_t>(e.prompt_index)];
      const auto p = static_cast<std::int64_t>(s->prompt_info().prompt_token_ids.size());
      j["usage"] = usage_json(p, static_cast<std::int64_t>(c.ids.size()), 0);
    }
    sse_append(&res.body, j);
  }

  int on_done(HttpResponse& res) override {
    if (plan_->so.stream) {
      Json usage_chunk;
      if (plan_->so.include_usage) {
        usage_chunk = head();
        usage_chunk["choices"] = Json::array();
      }
      return end_stream(res, usage_chunk);
    }
    if (int status = whole_error(res, error_)) return status;
    Json out_choices = Json::array();
    for (std::size_t i = 0; i < choices_.size(); ++i) {
      auto& c = choices_[i];
      Json text = c.text, logprobs = nullptr;
      std::int64_t offset = 0;
      const auto prompt_index = static_cast<std::int32_t>(i / static_cast<std::size_t>(plan_->sampling.n));
      if (plan_->echo) {
        std::int64_t echo_offset = 0;
        add_echo(*plan_, *run_, ready_, prompt_index, &text, &logprobs, &echo_offset);
        offset = static_cast<std::int64_t>(plan_->echo_text[static_cast<std::size_t>(prompt_index)].size());
      }
      if (plan_->sampling.logprobs) {
        std::vector<const TokenLogprob*> lps;
        for (const auto& lp : c.lps) lps.push_back(&lp);
        append_logprobs(ready_, c.ids, lps, &offset, &logprobs);
      }
      Json ch = {{"index", i}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", c.finish}, {"stop_reason", c.stop_reason}};
      if (plan_->return_token_ids) {
        ch["token_ids"] = c.ids;
        ch["prompt_token_ids"] = run_->streams()[static_cast<std::size_t>(prompt_index)]->prompt_info().prompt_token_ids;
      }
      out_choices.push_back(std::move(ch));
    }
    Json body = head();
    body["choices"] = std::move(out_choices);
    body["usage"] = run_->usage();
    res.set_content(dump(body), "application/json");
    return 200;
  }

 private:
  Json head() const {
    return Json{{"id", plan_->id}, {"object", "text_completion"}, {"created", plan_->created}, {"model", model_}};
  }

  std::shared_ptr<const Plan> plan_;
  Ready ready_;
  std::string model_;
  std::vector<ChoiceState> choices_;
  std::string error_;
};

}  // namespace

void handle_completions(ServerState& st, const HttpRequest& req, HttpResponse& res) {
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
  auto run = std::make_shared<GenerationRun>(st, *ready);
  if (auto e = run->submit(std::move(reqs))) return send_error(res, *e);
  respond_async(res, plan->so.stream, std::make_shared<CompletionBody>(std::move(run), plan, *ready, st.model_name()));
}

}  // namespace ferrite::server
