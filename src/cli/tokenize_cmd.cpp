// `ferrite tokenize` and `ferrite detokenize`: the tokenizer on the command line, for scripts
// and for checking ferrite against Python. Output is one JSON object per line, UTF-8 unescaped.
//
//   ferrite tokenize --tokenizer DIR [--add-special-tokens] [--text T]   -> {"ids": [...]}
//   ferrite tokenize --tokenizer DIR --jsonl FILE [--add-special-tokens] -> one {"ids": [...]} a line
//   ferrite detokenize --tokenizer DIR --ids 1,2,3 [--skip-special-tokens] -> {"text": "..."}
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::cli {
namespace {

using nlohmann::json;

// Invalid UTF-8 cannot come out of decode (it writes U+FFFD), but printing must never throw.
std::string to_json_line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<std::shared_ptr<tokenizer::Tokenizer>> load_tokenizer(const Args& args) {
  if (!args.has("tokenizer")) return invalid_argument("--tokenizer is required (a model directory or tokenizer.json)");
  return tokenizer::Tokenizer::load(args.get("tokenizer"));
}

Status tokenize_jsonl(const tokenizer::Tokenizer& tok, const std::string& path, bool add_special_tokens) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      return invalid_argument(where + ": not a JSON object: " + e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      return invalid_argument(where + ": expected {\"text\": \"...\"}");
    auto ids = tok.encode(j["text"].get_ref<const std::string&>(), add_special_tokens);
    if (!ids.ok()) return ids.status().with_context(where);
    std::printf("%s\n", to_json_line(json{{"ids", ids.value()}}).c_str());
  }
  if (in.bad()) return data_loss(path + ": read error");
  return ok_status();
}

}  // namespace

int run_tokenize(const std::vector<std::string>& argv) {
  Args args("tokenize",
            "Encode text with a model's tokenizer and print {\"ids\": [...]}. The text comes from --text, from\n"
            "--jsonl (one {\"text\": ...} per line, one output line each), or else from stdin.");
  args.flag("tokenizer", "DIR", "model directory (tokenizer.json or tokenizer.model) or a tokenizer.json file")
      .flag("text", "TEXT", "the text to encode (default: read stdin)")
      .flag("jsonl", "FILE", "encode the \"text\" of every line of FILE")
      .boolean("add-special-tokens", "add the model's special tokens (e.g. BOS), as transformers does by default");
  if (auto code = args.parse_or_exit(argv)) return *code;
  if (args.has("text") && args.has("jsonl"))
    return report_error("tokenize", invalid_argument("give --text or --jsonl, not both"));
  auto tok = load_tokenizer(args);
  if (!tok.ok()) return report_error("tokenize", tok.status());
  const bool add_special = args.get_bool("add-special-tokens");

  if (args.has("jsonl")) {
    if (Status st = tokenize_jsonl(**tok, args.get("jsonl"), add_special); !st.ok())
      return report_error("tokenize", st);
    return 0;
  }
  std::string text;
  if (args.has("text")) {
    text = args.get("text");
  } else {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  }
  auto ids = (*tok)->encode(text, add_special);
  if (!ids.ok()) return report_error("tokenize", ids.status());
  std::printf("%s\n", to_json_line(json{{"ids", ids.value()}}).c_str());
  return 0;
}

int run_detokenize(const std::vector<std::string>& argv) {
  Args args("detokenize",
            "Decode token ids with a model's tokenizer and print {\"text\": \"...\"}, as transformers'\n"
            "tokenizer.decode does (clean_up_tokenization_spaces from tokenizer_config.json unless overridden).");
  args.flag("tokenizer", "DIR", "model directory (tokenizer.json or tokenizer.model) or a tokenizer.json file")
      .flag("ids", "IDS", "comma-separated token ids, e.g. 1,2,3")
      .boolean("skip-special-tokens", "leave special tokens out of the text")
      .boolean("clean-up-tokenization-spaces", "apply transformers' clean-up (\" .\" -> \".\"); default: the config's",
               /*negatable=*/true);
  if (auto code = args.parse_or_exit(argv)) return *code;
  if (!args.has("ids")) return report_error("detokenize", invalid_argument("--ids is required, e.g. --ids 1,2,3"));
  std::vector<std::int32_t> ids;
  if (!args.get("ids").empty()) {
    auto list = args.get_int_list("ids");
    if (!list.ok()) return report_error("detokenize", list.status());
    ids.assign(list->begin(), list->end());
    for (long long v : list.value())
      if (v < 0 || v > INT32_MAX)
        return report_error("detokenize", invalid_argument("token id " + std::to_string(v) + " is out of range"));
  }
  auto tok = load_tokenizer(args);
  if (!tok.ok()) return report_error("detokenize", tok.status());
  for (std::int32_t id : ids)
    if (!(*tok)->id_to_token(id))
      return report_error("detokenize",
                          invalid_argument("token id " + std::to_string(id) + " is not in the vocabulary"));
  tokenizer::DecodeOptions options;
  options.skip_special_tokens = args.get_bool("skip-special-tokens");
  options.clean_up_tokenization_spaces = std::nullopt;
  if (args.has("clean-up-tokenization-spaces"))
    options.clean_up_tokenization_spaces = args.get_bool("clean-up-tokenization-spaces");
  const std::string text = (*tok)->decode(ids, options);
  std::printf("%s\n", to_json_line(json{{"text", text}}).c_str());
  return 0;
}

}  // namespace ferrite::cli
