// `ferrite generate`: one prompt (text or token ids), or a JSONL file of requests run as one
// continuous-batching workload (offline generation), through the engine.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/progress.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "engine/sampling_json.h"
#include "ferrite/engine.h"

namespace ferrite::cli {

namespace {

using nlohmann::json;

struct Collected {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<std::string> text;
  std::vector<std::string> finish;
  std::string error;
};

Collected collect(OutputStream& s, std::int32_t n) {
  Collected c;
  c.tokens.resize(static_cast<std::size_t>(n));
  c.text.resize(static_cast<std::size_t>(n));
  c.finish.resize(static_cast<std::size_t>(n));
  while (auto d = s.next()) {
    const auto i = static_cast<std::size_t>(d->index);
    c.tokens[i].insert(c.tokens[i].end(), d->token_ids.begin(), d->token_ids.end());
    c.text[i] += d->text;
    if (d->finish_reason != FinishReason::kNone) c.finish[i] = finish_reason_name(d->finish_reason);
    if (!d->error.empty()) c.error = d->error;
  }
  return c;
}

Result<Prompt> prompt_from_flags(const Args& args) {
  if (args.has("prompt") && args.has("prompt-ids")) return invalid_argument("give --prompt or --prompt-ids, not both");
  if (args.has("prompt")) return Prompt{args.get("prompt")};
  if (args.has("prompt-ids")) {
    FERRITE_ASSIGN_OR_RETURN(std::vector<long long> ids, args.get_int_list("prompt-ids"));
    std::vector<std::int32_t> out;
    for (long long id : ids) {
      if (id < 0 || id > INT32_MAX) return invalid_argument("--prompt-ids: token id " + std::to_string(id) + " is out of range");
      out.push_back(static_cast<std::int32_t>(id));
    }
    return Prompt{out};
  }
  return invalid_argument("no prompt given (--prompt TEXT, --prompt-ids 1,2,3 or --input FILE.jsonl)");
}

Status run_single(Engine& engine, const Args& args) {
  FERRITE_ASSIGN_OR_RETURN(Prompt prompt, prompt_from_flags(args));
  GenerateRequest req;
  req.prompt = std::move(prompt);
  FERRITE_ASSIGN_OR_RETURN(long long max_tokens, args.get_int("max-tokens"));
  if (max_tokens < 1) return invalid_argument("--max-tokens must be >= 1");
  req.sampling.max_tokens = max_tokens;
  req.sampling.given.max_tokens = true;
  // `generate` is greedy unless asked otherwise.
  FERRITE_ASSIGN_OR_RETURN(req.sampling.temperature, args.get_double("temperature"));
  req.sampling.given.temperature = true;
  FERRITE_ASSIGN_OR_RETURN(req.sampling.top_p, args.get_double("top-p"));
  FERRITE_ASSIGN_OR_RETURN(long long top_k, args.get_int("top-k"));
  req.sampling.top_k = static_cast<std::int32_t>(top_k);
  req.sampling.given.top_p = req.sampling.given.top_k = true;
  req.sampling.ignore_eos = args.get_bool("ignore-eos");
  req.sampling.stop = args.get_all("stop");
  FERRITE_ASSIGN_OR_RETURN(auto stream, engine.submit(std::move(req)));
  const Collected c = collect(*stream, 1);
  if (!c.error.empty()) return internal_error(c.error);
  if (args.get_bool("json")) {
    json j;
    j["token_ids"] = c.tokens[0];
    j["text"] = c.text[0];
    j["finish_reason"] = c.finish[0];
    std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    const bool has_text = !c.text[0].empty() || c.tokens[0].empty();
    if (has_text) {
      std::printf("%s\n", c.text[0].c_str());
    } else {
      for (std::size_t i = 0; i < c.tokens[0].size(); ++i) std::printf("%s%d", i ? "," : "", c.tokens[0][i]);
      std::printf("\n");
    }
  }
  return ok_status();
}

// One input line -> a request (or the error that line gets).
Result<GenerateRequest> request_from_line(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) return invalid_argument("not valid JSON");
  if (!j.is_object()) return invalid_argument("each line must be a JSON object");
  GenerateRequest req;
  FERRITE_ASSIGN_OR_RETURN(req.sampling, engine::sampling_params_from_json(j));
  if (j.contains("messages")) {
    ChatPrompt cp;
    cp.messages = nlohmann::ordered_json::parse(j.at("messages").dump());
    if (!cp.messages.is_array()) return invalid_argument("'messages' must be a list");
    req.prompt = cp;
  } else if (j.contains("prompt") && j.at("prompt").is_string()) {
    req.prompt = j.at("prompt").get<std::string>();
  } else if (j.contains("prompt") && j.at("prompt").is_array()) {
    std::vector<std::int32_t> ids;
    for (const auto& v : j.at("prompt")) {
      if (!v.is_number_integer()) return invalid_argument("'prompt' must be a string or a list of token ids");
      const auto id = v.get<std::int64_t>();
      if (id < 0 || id > INT32_MAX) return invalid_argument("prompt token id " + std::to_string(id) + " is out of range");
      ids.push_back(static_cast<std::int32_t>(id));
    }
    req.prompt = ids;
  } else {
    return invalid_argument("each line needs 'prompt' (text or token ids) or 'messages'");
  }
  return req;
}

Status run_batch(Engine& engine, const Args& args) {
  std::ifstream in(args.get("input"));
  if (!in) return not_found("--input: cannot open " + args.get("input"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  const std::string out_path = args.get("output");
  std::ofstream out_file;
  if (!out_path.empty()) {
    out_file.open(out_path);
    if (!out_file) return invalid_argument("--output: cannot write " + out_path);
  }

  const auto t0 = std::chrono::steady_clock::now();
  struct Item {
    std::string id;
    std::shared_ptr<OutputStream> stream;
    std::int32_t n = 1;
    std::string error;
  };
  std::vector<Item> items(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    items[i].id = (j.is_object() && j.contains("id") && j.at("id").is_string()) ? j.at("id").get<std::string>()
                                                                                : std::to_string(i);
    auto req = request_from_line(lines[i]);
    if (!req.ok()) {
      items[i].error = "line " + std::to_string(i + 1) + ": " + req.status().message();
      continue;
    }
    req->request_id = "line-" + std::to_string(i);
    items[i].n = req->sampling.n;
    auto stream = engine.submit(std::move(req).value());
    if (!stream.ok()) {
      items[i].error = "line " + std::to_string(i + 1) + ": " + stream.status().message();
      continue;
    }
    items[i].stream = *stream;
  }

  base::ProgressBar bar("generating", lines.size(), "requests");
  std::int64_t prompt_tokens = 0, gen_tokens = 0, failed = 0;
  for (auto& it : items) {
    json o;
    o["id"] = it.id;
    if (it.stream) {
      const Collected c = collect(*it.stream, it.n);
      const Usage u = it.stream->usage();
      prompt_tokens += u.prompt_tokens;
      gen_tokens += u.completion_tokens;
      o["token_ids"] = c.tokens[0];
      o["text"] = c.text[0];
      o["finish_reason"] = c.finish[0];
      if (it.n > 1) {
        json outs = json::array();
        for (std::int32_t k = 0; k < it.n; ++k)
          outs.push_back({{"token_ids", c.tokens[static_cast<std::size_t>(k)]}, {"text", c.text[static_cast<std::size_t>(k)]},
                          {"finish_reason", c.finish[static_cast<std::size_t>(k)]}});
        o["outputs"] = outs;
      }
      if (!c.error.empty()) {
        o["error"] = c.error;
        ++failed;
      }
    } else {
      o["error"] = it.error;
      o["finish_reason"] = "error";
      ++failed;
    }
    const std::string s = o.dump(-1, ' ', false, json::error_handler_t::replace);
    if (out_file.is_open()) out_file << s << '\n';
    else std::printf("%s\n", s.c_str());
    bar.advance();
  }
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "ferrite generate: %zu requests (%lld failed), %lld prompt tokens, %lld generated tokens in %.2f s: "
               "%.1f generated tokens/s, %.1f total tokens/s\n",
               lines.size(), static_cast<long long>(failed), static_cast<long long>(prompt_tokens),
               static_cast<long long>(gen_tokens), secs, static_cast<double>(gen_tokens) / secs,
               static_cast<double>(prompt_tokens + gen_tokens) / secs);
  if (failed > 0) return invalid_argument(std::to_string(failed) + " of " + std::to_string(lines.size()) + " requests failed (see their output lines)");
  return ok_status();
}

}  // namespace

int run_generate(const std::vector<std::string>& argv) {
  Args args("generate",
            "Generate from one prompt (greedy by default), or run a JSONL file of requests as one\n"
            "continuous-batching workload (--input; lines: {\"prompt\": text or ids} or {\"messages\": [...]},\n"
            "plus sampling fields with the OpenAI/vLLM names).");
  add_engine_flags(args);
  args.flag("prompt", "TEXT", "a text prompt (tokenized with the model's tokenizer)")
      .flag("prompt-ids", "IDS", "comma-separated prompt token ids, e.g. 1,2,3")
      .flag("max-tokens", "N", "tokens to generate", "16")
      .flag("temperature", "T", "sampling temperature (0: greedy)", "0")
      .flag("top-p", "P", "nucleus sampling", "1")
      .flag("top-k", "K", "top-k sampling (0: off)", "0")
      .multi("stop", "STRING", "stop string(s)")
      .boolean("ignore-eos", "keep generating past the end-of-sequence token")
      .boolean("json", "print {\"token_ids\": [...], \"text\": ..., \"finish_reason\": ...}")
      .flag("input", "FILE.jsonl", "offline mode: one request per line")
      .flag("output", "FILE.jsonl", "offline mode: where results go, in input order (default: stdout)");
  if (auto code = args.parse_or_exit(argv)) return *code;
  auto config = engine_config_from(args);
  if (!config.ok()) return report_error("generate", config.status());
  if (auto code = run_if_engine_worker("generate", *config)) return *code;
  if (!args.has("input") && !args.has("prompt") && !args.has("prompt-ids"))
    return report_error("generate", invalid_argument("no prompt given (--prompt TEXT, --prompt-ids 1,2,3 or --input FILE.jsonl)"));
  auto engine = Engine::create(*config);
  if (!engine.ok()) return report_error("generate", engine.status());
  const Status st = args.has("input") ? run_batch(**engine, args) : run_single(**engine, args);
  (*engine)->shutdown();
  if (!st.ok()) return report_error("generate", st);
  return 0;
}

}  // namespace ferrite::cli
