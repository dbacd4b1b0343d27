#include "chat/chat_template.h"

#include <new>

#include "chat/ast.h"
#include "chat/errors.h"
#include "chat/interpreter.h"
#include "chat/json_value.h"
#include "chat/parser.h"

namespace ferrite::chat {
namespace {

Status to_status(const TemplateError& e) {
  std::string where;
  if (e.line() > 0) {
    where = " at line " + std::to_string(e.line());
    if (e.type() == ErrorType::kSyntax) where += ", column " + std::to_string(e.column());
  }
  switch (e.type()) {
    case ErrorType::kSyntax:
      return invalid_argument("chat template syntax error" + where + ": " + e.message());
    case ErrorType::kRaised:
      return invalid_argument("chat template raised an error" + where + ": " + e.message());
    case ErrorType::kLimit:
      return resource_exhausted("chat template stopped" + where + ": " + e.message());
    case ErrorType::kUndefined:
      return invalid_argument("chat template error" + where + " (undefined value): " + e.message());
    case ErrorType::kSecurity:
      return invalid_argument("chat template error" + where + " (refused by the sandbox): " + e.message());
    case ErrorType::kType:
      break;
  }
  return invalid_argument("chat template error" + where + ": " + e.message());
}

}  // namespace

Result<ChatTemplate> ChatTemplate::compile(std::string source) {
  try {
    std::shared_ptr<const Program> program = parse_template(source);
    return ChatTemplate(std::make_shared<const std::string>(std::move(source)), std::move(program));
  } catch (const TemplateError& e) {
    return to_status(e);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("chat template: out of memory while parsing");
  } catch (const std::exception& e) {
    return internal_error(std::string("chat template: ") + e.what());
  }
}

template <typename Json>
Result<std::string> ChatTemplate::render_impl(const Json& context, const RenderLimits& limits) const {
  if (!context.is_object()) return invalid_argument("chat template context must be a JSON object");
  try {
    Interpreter interp(limits);
    return interp.render(*program_, from_json(context));
  } catch (const TemplateError& e) {
    return to_status(e);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("chat template: out of memory while rendering");
  } catch (const std::exception& e) {
    return internal_error(std::string("chat template: ") + e.what());
  }
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context, const RenderLimits& limits) const {
  return render_impl(context, limits);
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context, const RenderLimits& limits) const {
  return render_impl(context, limits);
}

void ChatTemplateSet::add(std::string name, ChatTemplate tmpl, bool named) {
  named_ = named;
  for (auto& [n, t] : templates_) {
    if (n == name) {
      t = std::move(tmpl);
      return;
    }
  }
  templates_.emplace_back(std::move(name), std::move(tmpl));
}

std::vector<std::string> ChatTemplateSet::names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : templates_) out.push_back(n);
  return out;
}

Result<const ChatTemplate*> ChatTemplateSet::select(const std::string& name, bool has_tools) const {
  if (templates_.empty()) return failed_precondition("the model has no chat template (pass --chat-template)");
  auto find = [&](const std::string& n) -> const ChatTemplate* {
    for (const auto& [tn, t] : templates_)
      if (tn == n) return &t;
    return nullptr;
  };
  if (!named_) {
    if (!name.empty() && name != templates_[0].first)
      return not_found("the model has a single chat template; there is none named '" + name + "'");
    return &templates_[0].second;
  }
  if (!name.empty()) {
    if (const ChatTemplate* t = find(name)) return t;
    std::string all;
    for (const auto& n : names()) all += (all.empty() ? "" : ", ") + n;
    return not_found("no chat template named '" + name + "' (available: " + all + ")");
  }
  if (has_tools)
    if (const ChatTemplate* t = find("tool_use")) return t;
  if (const ChatTemplate* t = find("default")) return t;
  std::string all;
  for (const auto& n : names()) all += (all.empty() ? "" : ", ") + n;
  return failed_precondition("this model has multiple chat templates with no default; name one of: " + all);
}

Result<nlohmann::ordered_json> ChatTemplateSet::build_context(const ChatRequest& request) const {
  using Json = nlohmann::ordered_json;
  if (!request.messages.is_array()) return invalid_argument("messages must be a JSON array");
  if (request.messages.empty())
    return invalid_argument("cannot apply a chat template to an empty conversation; provide at least one message");
  if (!request.kwargs.is_object()) return invalid_argument("chat template kwargs must be a JSON object");
  static const char* kReserved[] = {"messages", "tools", "documents", "add_generation_prompt"};
  for (const char* r : kReserved)
    if (request.kwargs.contains(r))
      return invalid_argument(std::string("chat template kwargs may not set '") + r + "'");
  auto check_list = [](const std::optional<Json>& v, const char* what) -> Status {
    if (!v || v->is_null()) return ok_status();
    if (!v->is_array()) return invalid_argument(std::string(what) + " must be a JSON array");
    for (const auto& e : *v)
      if (!e.is_object()) return invalid_argument(std::string(what) + " must be a list of JSON objects");
    return ok_status();
  };
  FERRITE_RETURN_IF_ERROR(check_list(request.tools, "tools"));
  FERRITE_RETURN_IF_ERROR(check_list(request.documents, "documents"));

  Json messages = Json::array();
  for (const auto& m : request.messages) {
    if (!m.is_object()) return invalid_argument("chat messages must be JSON objects, got " + m.dump());
    // apply_chat_template drops None-valued keys: many templates render "None" or fail on them.
    Json clean = Json::object();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!it.value().is_null()) clean[it.key()] = it.value();
    // transformers' _alias_reasoning_fields: the first of reasoning_content / thinking /
    // reasoning is offered under "thinking" (first key) and "reasoning_content".
    const Json* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      auto it = clean.find(key);
      if (it != clean.end()) {
        reasoning = &*it;
        break;
      }
    }
    if (reasoning != nullptr) {
      const Json r = *reasoning;
      Json aliased = Json::object();
      aliased["thinking"] = r;
      for (auto it = clean.begin(); it != clean.end(); ++it) aliased[it.key()] = it.value();
      aliased["reasoning_content"] = r;
      clean = std::move(aliased);
    }
    messages.push_back(std::move(clean));
  }

  Json ctx = Json::object();
  for (auto it = special_tokens_.begin(); it != special_tokens_.end(); ++it) ctx[it.key()] = it.value();
  for (auto it = request.kwargs.begin(); it != request.kwargs.end(); ++it) ctx[it.key()] = it.value();
  ctx["messages"] = std::move(messages);
  ctx["tools"] = request.tools ? *request.tools : Json();
  ctx["documents"] = request.documents ? *request.documents : Json();
  ctx["add_generation_prompt"] = request.add_generation_prompt;
  return ctx;
}

namespace {

// Python's str.strip() for the whitespace a chat message ends or starts with.
std::string_view strip_ws(std::string_view s, bool left, bool right) {
  constexpr std::string_view kWs = " \t\n\r\f\v";
  if (left) {
    const auto b = s.find_first_not_of(kWs);
    s = b == std::string_view::npos ? std::string_view() : s.substr(b);
  }
  if (right) {
    const auto e = s.find_last_not_of(kWs);
    s = e == std::string_view::npos ? std::string_view() : s.substr(0, e + 1);
  }
  return s;
}

// transformers' continue_final_message: cut the render right after the final message's text
// (its last occurrence), keeping the message's trailing whitespace only if the template did.
Result<std::string> cut_after_final_message(std::string rendered, const nlohmann::ordered_json& messages) {
  if (!messages.is_array() || messages.empty()) return invalid_argument("continue_final_message needs at least one message");
  const auto& last = messages.back();
  std::string final_text;
  if (last.contains("content") && last.at("content").is_string()) {
    final_text = last.at("content").get<std::string>();
  } else if (last.contains("content") && last.at("content").is_array()) {
    bool found = false;
    for (auto it = last.at("content").rbegin(); it != last.at("content").rend() && !found; ++it)
      if (it->is_object() && it->contains("text") && it->at("text").is_string()) {
        final_text = it->at("text").get<std::string>();
        found = true;
      }
    if (!found) return invalid_argument("continue_final_message is set but the final message has no text to continue");
  } else {
    return invalid_argument("continue_final_message is set but the final message has no text to continue");
  }
  const std::string_view stripped = strip_ws(final_text, true, true);
  const std::size_t at = rendered.rfind(stripped);
  if (at == std::string::npos)
    return invalid_argument("continue_final_message is set but the final message does not appear in the chat after "
                            "applying the chat template (the template changes its text)");
  const std::string_view lstripped = strip_ws(final_text, true, false);
  if (std::string_view(rendered).substr(at, lstripped.size()) == final_text) {
    rendered.resize(at + lstripped.size());
  } else {
    rendered.resize(at + stripped.size());
  }
  return rendered;
}

}  // namespace

Result<std::string> ChatTemplateSet::apply(const ChatRequest& request, const RenderLimits& limits) const {
  if (request.continue_final_message && request.add_generation_prompt)
    return invalid_argument("continue_final_message and add_generation_prompt cannot both be set: the first continues "
                            "the final message, the second starts a new assistant message");
  const bool has_tools = request.tools.has_value() && !request.tools->is_null();
  FERRITE_ASSIGN_OR_RETURN(const ChatTemplate* tmpl, select(request.template_name, has_tools));
  FERRITE_ASSIGN_OR_RETURN(nlohmann::ordered_json ctx, build_context(request));
  FERRITE_ASSIGN_OR_RETURN(std::string rendered, tmpl->render(ctx, limits));
  if (!request.continue_final_message) return rendered;
  return cut_after_final_message(std::move(rendered), request.messages);
}

}  // namespace ferrite::chat
