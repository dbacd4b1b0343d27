// `ferrite render-chat`: renders a conversation with a model's chat template, as
// transformers' apply_chat_template(tokenize=False) would, and prints {"prompt": ...}.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chat/chat_template.h"
#include "cli/args.h"
#include "cli/commands.h"

namespace ferrite::cli {
namespace {

using Json = nlohmann::ordered_json;

// Objects keep their key order (ordered_json), as the Python dicts HF renders from do.
Result<Json> read_json_file(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("--" + flag + ": cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("--" + flag + ": " + path + " is not valid JSON");
  return j;
}

}  // namespace

int run_render_chat(const std::vector<std::string>& argv) {
  Args args("render-chat", "Render chat messages with a model's chat template and print {\"prompt\": ...}.");
  args.flag("tokenizer", "DIR", "model directory holding tokenizer_config.json (or chat_template.jinja)")
      .flag("messages", "FILE", "JSON file: a list of messages (or an object with \"messages\")")
      .flag("tools", "FILE", "JSON file: a list of tool definitions")
      .flag("documents", "FILE", "JSON file: a list of documents")
      .boolean("add-generation-prompt", "end with the header of an assistant turn")
      .flag("kwargs", "JSON", "extra template variables as a JSON object, e.g. '{\"enable_thinking\": false}'")
      .flag("chat-template", "FILE_OR_TEXT", "use this template instead of the model's (a file or the template text)")
      .flag("template-name", "NAME", "pick a named template of the model (default: HF's choice)");
  if (auto code = args.parse_or_exit(argv)) return *code;
  if (!args.has("tokenizer") && !args.has("chat-template"))
    return report_error("render-chat", invalid_argument("--tokenizer DIR (or --chat-template) is required"));
  if (!args.has("messages")) return report_error("render-chat", invalid_argument("--messages FILE is required"));

  chat::ChatTemplateSet set;
  if (args.has("tokenizer")) {
    auto loaded = chat::load_chat_templates(args.get("tokenizer"), args.get("chat-template"));
    if (!loaded.ok()) return report_error("render-chat", loaded.status());
    set = std::move(loaded).value();
  } else {
    auto source = chat::read_chat_template_override(args.get("chat-template"));
    if (!source.ok()) return report_error("render-chat", source.status());
    auto tmpl = chat::ChatTemplate::compile(std::move(source).value());
    if (!tmpl.ok()) return report_error("render-chat", tmpl.status());
    set.add("default", std::move(tmpl).value(), false);
  }

  chat::ChatRequest req;
  auto messages = read_json_file(args.get("messages"), "messages");
  if (!messages.ok()) return report_error("render-chat", messages.status());
  req.messages = messages->is_object() && messages->contains("messages") ? (*messages)["messages"] : *messages;
  if (args.has("tools")) {
    auto tools = read_json_file(args.get("tools"), "tools");
    if (!tools.ok()) return report_error("render-chat", tools.status());
    req.tools = *tools;
  }
  if (args.has("documents")) {
    auto docs = read_json_file(args.get("documents"), "documents");
    if (!docs.ok()) return report_error("render-chat", docs.status());
    req.documents = *docs;
  }
  req.add_generation_prompt = args.get_bool("add-generation-prompt");
  if (args.has("kwargs")) {
    req.kwargs = Json::parse(args.get("kwargs"), nullptr, /*allow_exceptions=*/false);
    if (req.kwargs.is_discarded() || !req.kwargs.is_object())
      return report_error("render-chat", invalid_argument("--kwargs must be a JSON object"));
  }
  req.template_name = args.get("template-name");

  auto prompt = set.apply(req);
  if (!prompt.ok()) return report_error("render-chat", prompt.status());
  Json out = Json::object();
  out["prompt"] = *prompt;
  // UTF-8 stays as is; a template that produced invalid UTF-8 gets U+FFFD rather than a crash.
  const std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace ferrite::cli
