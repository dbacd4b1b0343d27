// Finding a model's chat templates and special tokens on disk, in transformers' order.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"

namespace ferrite::chat {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return data_loss("error reading " + path.string());
  return ss.str();
}

Result<Json> read_json(const fs::path& path) {
  FERRITE_ASSIGN_OR_RETURN(std::string text, read_file(path));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return data_loss(path.string() + " is not valid JSON");
  return j;
}

Status add_template(ChatTemplateSet& set, const std::string& name, std::string source, bool named,
                    const std::string& origin) {
  auto compiled = ChatTemplate::compile(std::move(source));
  if (!compiled.ok()) return compiled.status().with_context(origin + (named ? " (template '" + name + "')" : ""));
  set.add(name, std::move(compiled).value(), named);
  return ok_status();
}

// `chat_template` as tokenizer_config.json / chat_template.json hold it: a string, or a list of
// {"name", "template"}.
Status add_config_templates(ChatTemplateSet& set, const Json& value, const std::string& origin) {
  if (value.is_string()) return add_template(set, "default", value.get<std::string>(), false, origin);
  if (!value.is_array()) return data_loss(origin + ": chat_template must be a string or a list of {name, template}");
  for (const auto& entry : value) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
        !entry["template"].is_string())
      return data_loss(origin + ": each chat_template entry needs a string \"name\" and \"template\"");
    FERRITE_RETURN_IF_ERROR(
        add_template(set, entry["name"].get<std::string>(), entry["template"].get<std::string>(), true, origin));
  }
  return ok_status();
}

// HF passes str(token) for each named special token that is set; an AddedToken is stored in
// tokenizer_config.json as an object with "content".
void collect_special_tokens(const Json& config, Json& tokens) {
  static const char* kNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                 "pad_token", "cls_token", "mask_token"};
  for (const char* name : kNames) {
    if (tokens.contains(name)) continue;
    auto it = config.find(name);
    if (it == config.end()) continue;
    if (it->is_string()) {
      tokens[name] = *it;
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      tokens[name] = (*it)["content"];
    }
  }
}

}  // namespace

Result<std::string> read_chat_template_override(const std::string& file_or_text) {
  std::error_code ec;
  if (fs::is_regular_file(file_or_text, ec)) return read_file(file_or_text);
  if (file_or_text.find("{{") != std::string::npos || file_or_text.find("{%") != std::string::npos ||
      file_or_text.find("{#") != std::string::npos)
    return file_or_text;
  return not_found("--chat-template: '" + file_or_text + "' is neither a file nor template text");
}

Result<ChatTemplateSet> load_chat_templates(const std::string& model_dir, const std::string& chat_template_override) {
  std::error_code ec;
  fs::path dir(model_dir);
  if (fs::is_regular_file(dir, ec)) dir = dir.parent_path();
  if (!fs::is_directory(dir, ec)) return not_found("model directory not found: " + model_dir);

  ChatTemplateSet set;
  Json tokens = Json::object();
  Json config = Json::object();
  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::exists(config_path, ec)) {
    FERRITE_ASSIGN_OR_RETURN(config, read_json(config_path));
    if (!config.is_object()) return data_loss(config_path.string() + " must hold a JSON object");
    collect_special_tokens(config, tokens);
  }
  const fs::path legacy_map = dir / "special_tokens_map.json";
  if (fs::exists(legacy_map, ec)) {
    auto map = read_json(legacy_map);
    if (map.ok() && map->is_object()) collect_special_tokens(*map, tokens);
  }
  set.set_special_tokens(tokens);

  if (!chat_template_override.empty()) {
    FERRITE_ASSIGN_OR_RETURN(std::string source, read_chat_template_override(chat_template_override));
    FERRITE_RETURN_IF_ERROR(add_template(set, "default", std::move(source), false, "--chat-template"));
    return set;
  }

  // Raw template files win over tokenizer_config.json, as in transformers.
  std::vector<std::pair<std::string, fs::path>> files;
  if (fs::is_regular_file(dir / "chat_template.jinja", ec)) files.emplace_back("default", dir / "chat_template.jinja");
  const fs::path extra_dir = dir / "additional_chat_templates";
  if (fs::is_directory(extra_dir, ec)) {
    std::vector<fs::path> extra;
    for (const auto& entry : fs::directory_iterator(extra_dir, ec))
      if (entry.is_regular_file() && entry.path().extension() == ".jinja") extra.push_back(entry.path());
    std::sort(extra.begin(), extra.end());
    for (const auto& p : extra) files.emplace_back(p.stem().string(), p);
  }
  if (!files.empty()) {
    const bool named = !(files.size() == 1 && files[0].first == "default");
    for (const auto& [name, path] : files) {
      FERRITE_ASSIGN_OR_RETURN(std::string source, read_file(path));
      FERRITE_RETURN_IF_ERROR(add_template(set, name, std::move(source), named, path.string()));
    }
    return set;
  }
  if (auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
    FERRITE_RETURN_IF_ERROR(add_config_templates(set, *it, config_path.string()));
    return set;
  }
  const fs::path json_path = dir / "chat_template.json";
  if (fs::exists(json_path, ec)) {
    FERRITE_ASSIGN_OR_RETURN(Json j, read_json(json_path));
    if (j.is_object() && j.contains("chat_template")) {
      FERRITE_RETURN_IF_ERROR(add_config_templates(set, j["chat_template"], json_path.string()));
      return set;
    }
  }
  return failed_precondition("no chat template in " + dir.string() +
                             " (tokenizer_config.json has no chat_template and there is no chat_template.jinja); "
                             "pass --chat-template");
}

}  // namespace ferrite::chat
