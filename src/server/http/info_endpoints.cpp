// The endpoints that generate nothing: models, tokenize/detokenize (vLLM's shapes), health,
// metrics.
#include "server/http/internal.h"

namespace ferrite::server {

namespace {

Json model_card(const ServerState& st, const std::string& name, const ModelInfo& info) {
  return Json{{"id", name},
              {"object", "model"},
              {"created", st.created},
              {"owned_by", "ferrite"},
              {"root", st.config.model_path},
              {"parent", nullptr},
              {"max_model_len", info.max_model_len},
              {"permission", Json::array()}};
}

}  // namespace

void handle_models(ServerState& st, const HttpRequest& req, HttpResponse& res) {
  auto ready = ready_or_error(st, res, false);
  if (!ready) return;
  if (!req.path_param.empty()) {
    const std::string& id = req.path_param;
    for (const auto& n : st.config.served_model_names)
      if (n == id) return res.set_content(dump(model_card(st, n, ready->info)), "application/json");
    return send_error(res, {404, "The model `" + id + "` does not exist.", "NotFoundError", "model", "model_not_found"});
  }
  Json data = Json::array();
  for (const auto& n : st.config.served_model_names) data.push_back(model_card(st, n, ready->info));
  res.set_content(dump(Json{{"object", "list"}, {"data", data}}), "application/json");
}

void handle_tokenize(ServerState& st, const HttpRequest& req, HttpResponse& res) {
  auto ready = ready_or_error(st, res, false);
  if (!ready) return;
  OJson ob;
  Body b;
  if (!read_json_request(st, req, res, &ob, &b)) return;
  const bool chat = ob.contains("messages");
  bool add_special = !chat, token_strs = false;
  for (const auto& [key, dst] : {std::pair<const char*, bool*>{"add_special_tokens", &add_special}, {"return_token_strs", &token_strs}}) {
    if (!b.contains(key) || b.at(key).is_null()) continue;
    if (!b.at(key).is_boolean()) return send_error(res, bad_request(std::string("'") + key + "' must be a boolean", key));
    *dst = b.at(key).get<bool>();
  }
  Result<std::vector<std::int32_t>> ids = std::vector<std::int32_t>{};
  if (chat) {
    ChatPrompt cp;
    cp.messages = ob.at("messages");
    if (!cp.messages.is_array() || cp.messages.empty()) return send_error(res, bad_request("'messages' must be a non-empty list", "messages"));
    if (ob.contains("tools") && ob.at("tools").is_array()) cp.tools = ob.at("tools");
    if (ob.contains("chat_template_kwargs") && ob.at("chat_template_kwargs").is_object())
      cp.chat_template_kwargs = ob.at("chat_template_kwargs");
    for (const auto& [key, dst] : {std::pair<const char*, bool*>{"add_generation_prompt", &cp.add_generation_prompt},
                                   {"continue_final_message", &cp.continue_final_message}}) {
      if (!b.contains(key) || b.at(key).is_null()) continue;
      if (!b.at(key).is_boolean()) return send_error(res, bad_request(std::string("'") + key + "' must be a boolean", key));
      *dst = b.at(key).get<bool>();
    }
    ids = ready->engine->tokenize_prompt(cp);
  } else {
    if (!b.contains("prompt") || !b.at("prompt").is_string())
      return send_error(res, bad_request("'prompt' (a string) or 'messages' is required", "prompt"));
    if (!ready->tokenizer) return send_error(res, bad_request("the model directory has no tokenizer"));
    ids = ready->tokenizer->encode(b.at("prompt").get<std::string>(), add_special);
  }
  if (!ids.ok()) return send_error(res, api_error_from(ids.status()));
  Json out = {{"count", ids->size()}, {"max_model_len", ready->info.max_model_len}, {"tokens", *ids}, {"token_strs", nullptr}};
  if (token_strs) {
    Json strs = Json::array();
    for (std::int32_t id : *ids) {
      auto t = ready->tokenizer ? ready->tokenizer->id_to_token(id) : std::nullopt;
      strs.push_back(t ? *t : token_text(nullptr, id));
    }
    out["token_strs"] = strs;
  }
  res.set_content(dump(out), "application/json");
}

void handle_detokenize(ServerState& st, const HttpRequest& req, HttpResponse& res) {
  auto ready = ready_or_error(st, res, false);
  if (!ready) return;
  OJson ob;
  Body b;
  if (!read_json_request(st, req, res, &ob, &b)) return;
  if (!b.contains("tokens") || !b.at("tokens").is_array()) return send_error(res, bad_request("'tokens' (a list of token ids) is required", "tokens"));
  if (!ready->tokenizer) return send_error(res, bad_request("the model directory has no tokenizer"));
  std::vector<std::int64_t> ids;
  for (const auto& v : b.at("tokens")) {
    if (!v.is_number_integer()) return send_error(res, bad_request("'tokens' must be a list of integers", "tokens"));
    ids.push_back(v.get<std::int64_t>());
  }
  auto text = detokenize_ids(ready->tokenizer.get(), ids, false);
  if (!text.ok()) return send_error(res, bad_request(text.status().message(), "tokens"));
  res.set_content(dump(Json{{"prompt", *text}}), "application/json");
}

void handle_health(ServerState& st, const HttpRequest&, HttpResponse& res) {
  if (!st.ready.load()) return send_error(res, {503, kLoadingMessage, "ServiceUnavailableError", "", ""});
  std::shared_ptr<Engine> engine;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    engine = st.engine;
  }
  if (!engine->healthy()) return send_error(res, {503, kEngineStoppedMessage, "ServiceUnavailableError", "", ""});
  res.status = 200;
}

void handle_metrics(ServerState& st, const HttpRequest&, HttpResponse& res) {
  std::shared_ptr<Engine> engine;
  Metrics* metrics = nullptr;
  std::int64_t block_size = 0;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    engine = st.engine;
    metrics = st.metrics.get();
    block_size = st.info.block_size;
  }
  if (!engine || !metrics) return res.set_content("", "text/plain; version=0.0.4");
  res.set_content(metrics->render(engine->stats(), block_size), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace ferrite::server
