// Chat templates: the Jinja programs that models ship to turn a conversation into a prompt,
// rendered byte for byte as Hugging Face transformers' apply_chat_template does (jinja2's
// ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, loop controls, HF's tojson,
// raise_exception and strftime_now). Templates are untrusted code: rendering is bounded by
// RenderLimits and every failure comes back as a Status, never as an exception.
//
// Key order: JSON objects reach the template in the order given, which tojson reproduces, so
// pass nlohmann::ordered_json (as parsed from the request) to match HF; nlohmann::json has
// already sorted its keys.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/render_limits.h"
#include "ferrite/status.h"

namespace ferrite::chat {

struct Program;

class ChatTemplate {
 public:
  // Syntax errors carry the line and column: "syntax error at line 3, column 12: ...".
  static Result<ChatTemplate> compile(std::string source);

  // `context` is a JSON object whose members become the template's variables. A render may run
  // on several threads at once.
  Result<std::string> render(const nlohmann::ordered_json& context, const RenderLimits& limits = {}) const;
  Result<std::string> render(const nlohmann::json& context, const RenderLimits& limits = {}) const;

  const std::string& source() const { return *source_; }

 private:
  ChatTemplate(std::shared_ptr<const std::string> source, std::shared_ptr<const Program> program)
      : source_(std::move(source)), program_(std::move(program)) {}
  template <typename Json>
  Result<std::string> render_impl(const Json& context, const RenderLimits& limits) const;

  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const Program> program_;
};

// What apply_chat_template takes besides the template.
struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::optional<nlohmann::ordered_json> tools;      // a list of JSON-schema tool definitions
  std::optional<nlohmann::ordered_json> documents;  // a list of {"title", "text", ...}
  bool add_generation_prompt = false;
  // End the prompt inside the final message (it must be rendered verbatim by the template), so
  // the model continues it: transformers' continue_final_message. Not with add_generation_prompt.
  bool continue_final_message = false;
  // chat_template_kwargs (e.g. {"enable_thinking": false}); they override the special tokens.
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();
  std::string template_name;  // empty: HF's choice ("tool_use" when tools are given, else "default")
};

// A model's templates (one, or several by name) and its special tokens.
class ChatTemplateSet {
 public:
  // `named` is true when the model ships a list of named templates (HF then picks by name).
  void add(std::string name, ChatTemplate tmpl, bool named);
  // bos_token, eos_token, ...: strings, passed to every render as HF's special_tokens_map is.
  void set_special_tokens(nlohmann::ordered_json tokens) { special_tokens_ = std::move(tokens); }
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

  bool empty() const { return templates_.empty(); }
  std::vector<std::string> names() const;
  // HF's get_chat_template: by name; else "tool_use" when tools are given, else "default".
  Result<const ChatTemplate*> select(const std::string& name, bool has_tools) const;

  // The variables HF's apply_chat_template passes: the special tokens, the kwargs, messages
  // (None-valued keys dropped, reasoning fields aliased as transformers does), tools,
  // documents and add_generation_prompt.
  Result<nlohmann::ordered_json> build_context(const ChatRequest& request) const;
  Result<std::string> apply(const ChatRequest& request, const RenderLimits& limits = {}) const;

 private:
  std::vector<std::pair<std::string, ChatTemplate>> templates_;
  bool named_ = false;
  nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();
};

// Loads a model directory's templates as transformers does: chat_template.jinja and
// additional_chat_templates/*.jinja when present, else tokenizer_config.json's `chat_template`
// (a string or a list of {"name", "template"}), else chat_template.json; plus the special
// tokens of tokenizer_config.json (strings or AddedToken objects). `chat_template_override`
// (the --chat-template flag), when not empty, replaces them: a path to a file, or the
// template text itself. Without any template the result is a FailedPrecondition error.
Result<ChatTemplateSet> load_chat_templates(const std::string& model_dir,
                                            const std::string& chat_template_override = "");

// Reads --chat-template's value: the contents of the file it names, or else the text itself when
// it looks like a template (contains "{{", "{%" or "{#").
Result<std::string> read_chat_template_override(const std::string& file_or_text);

}  // namespace ferrite::chat
