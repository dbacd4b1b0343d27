// Tokenizer: finds the files, applies tokenizer_config.json on top of the backend, and offers
// the transformers-level conveniences (special tokens, clean-up on decode).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tokenizer/backend.h"
#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

namespace fs = std::filesystem;

Result<std::string> read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found(path.string() + ": no such file");
  if (fs::is_directory(path, ec)) return invalid_argument(path.string() + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return data_loss(path.string() + ": read error");
  return ss.str();
}

// Reads `dir/name` if it exists; an empty string otherwise.
Result<std::string> read_optional(const fs::path& dir, const char* name) {
  std::error_code ec;
  const fs::path p = dir / name;
  if (!fs::exists(p, ec)) return std::string();
  FERRITE_ASSIGN_OR_RETURN(std::string text, read_file(p));
  // An empty file is as good as none; parsing would call it malformed.
  return text;
}

// transformers classes whose constructor rebuilds the post-processor from add_bos_token and
// add_eos_token (update_post_processor), with their defaults.
bool rebuilds_template(const std::string& cls, bool* default_bos) {
  static const char* kBosByDefault[] = {"LlamaTokenizer",         "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                        "CodeLlamaTokenizerFast", "GemmaTokenizer",     "GemmaTokenizerFast",
                                        "CohereTokenizerFast"};
  for (const char* c : kBosByDefault)
    if (cls == c) {
      *default_bos = true;
      return true;
    }
  if (cls == "GPTNeoXTokenizerFast") {
    *default_bos = false;
    return true;
  }
  return false;
}

// transformers' PreTrainedTokenizerBase.clean_up_tokenization, the same chain of replaces.
std::string clean_up_tokenization(std::string s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    std::string out;
    std::size_t pos = 0;
    bool changed = false;
    for (std::size_t hit = s.find(from); hit != std::string::npos; hit = s.find(from, pos)) {
      out.append(s, pos, hit - pos);
      out.append(to);
      pos = hit + from.size();
      changed = true;
    }
    if (!changed) continue;
    out.append(s, pos, std::string::npos);
    s.swap(out);
  }
  return s;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::shared_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (path.empty()) return invalid_argument("no tokenizer path given");
  if (!fs::exists(p, ec)) return not_found(path + ": no such file or directory");
  fs::path dir = p, tokenizer_json, sp_model;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "tokenizer.json", ec))
      tokenizer_json = p / "tokenizer.json";
    else if (fs::exists(p / "tokenizer.model", ec))
      sp_model = p / "tokenizer.model";
    else
      return not_found(path + ": no tokenizer.json or tokenizer.model in this directory");
  } else {
    dir = p.parent_path();
    if (dir.empty()) dir = ".";
    if (p.extension() == ".model")
      sp_model = p;
    else
      tokenizer_json = p;
  }
  FERRITE_ASSIGN_OR_RETURN(std::string config_text, read_optional(dir, "tokenizer_config.json"));
  FERRITE_ASSIGN_OR_RETURN(std::string generation_text, read_optional(dir, "generation_config.json"));
  auto config = detail::parse_tokenizer_config(config_text, generation_text);
  if (!config.ok()) return config.status().with_context(dir.string());
  if (!sp_model.empty()) {
    auto backend = detail::load_sentencepiece(sp_model.string(), *config);
    if (!backend.ok()) return backend.status().with_context(sp_model.string());
    return finish_load(std::move(backend).value(), std::move(config).value());
  }
  FERRITE_ASSIGN_OR_RETURN(std::string json_text, read_file(tokenizer_json));
  auto backend = detail::load_hf_pipeline(json_text, config->added_tokens_decoder);
  if (!backend.ok()) {
    Status st = backend.status();
    // Keep "tokenizer.json: ..." messages readable: name the file once.
    return Status(st.code(),
                  tokenizer_json.string() + ": " +
                      (st.message().rfind("tokenizer.json: ", 0) == 0 ? st.message().substr(16) : st.message()));
  }
  return finish_load(std::move(backend).value(), std::move(config).value());
}

Result<std::shared_ptr<Tokenizer>> Tokenizer::from_json(std::string_view tokenizer_json,
                                                        std::string_view tokenizer_config_json,
                                                        std::string_view generation_config_json) {
  FERRITE_ASSIGN_OR_RETURN(auto config, detail::parse_tokenizer_config(tokenizer_config_json, generation_config_json));
  auto backend = detail::load_hf_pipeline(tokenizer_json, config.added_tokens_decoder);
  if (!backend.ok()) {
    const Status& st = backend.status();
    if (st.message().rfind("tokenizer.json", 0) == 0) return st;
    return Status(st.code(), "tokenizer.json: " + st.message());
  }
  return finish_load(std::move(backend).value(), std::move(config));
}

Result<std::shared_ptr<Tokenizer>> Tokenizer::finish_load(std::unique_ptr<detail::Backend> backend,
                                                          detail::TokenizerConfig config) {
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  t->backend_ = std::move(backend);
  t->config_ = std::make_unique<detail::TokenizerConfig>(std::move(config));
  detail::TokenizerConfig& c = *t->config_;
  const auto id_of = [&](const std::optional<std::string>& s) -> std::optional<std::int32_t> {
    if (!s) return std::nullopt;
    return t->backend_->token_to_id(*s);
  };
  t->bos_id_ = id_of(c.bos_token);
  t->eos_id_ = id_of(c.eos_token);
  t->pad_id_ = id_of(c.pad_token);
  t->unk_id_ = id_of(c.unk_token);
  bool default_bos = false;
  if (t->backend_->is_sentencepiece()) {
    t->wrap_with_config_ = true;
    default_bos = true;
  } else {
    t->wrap_with_config_ = rebuilds_template(c.tokenizer_class, &default_bos);
  }
  if (t->wrap_with_config_) {
    if (!c.add_bos_token) c.add_bos_token = default_bos;
    if (!c.add_eos_token) c.add_eos_token = false;
    if (*c.add_bos_token && !t->bos_id_)
      return invalid_argument("tokenizer_config.json: add_bos_token is set but bos_token is missing or unknown");
    if (*c.add_eos_token && !t->eos_id_)
      return invalid_argument("tokenizer_config.json: add_eos_token is set but eos_token is missing or unknown");
  }
  return t;
}

Result<std::vector<std::int32_t>> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::size_t bad = 0;
  if (!unicode::is_valid_utf8(text, &bad))
    return invalid_argument("input is not valid UTF-8 (bad byte sequence at offset " + std::to_string(bad) + ")");
  if (!wrap_with_config_) return backend_->encode(text, add_special_tokens);
  FERRITE_ASSIGN_OR_RETURN(std::vector<std::int32_t> ids, backend_->encode(text, false));
  if (add_special_tokens) {
    if (config_->add_bos_token.value_or(false)) ids.insert(ids.begin(), *bos_id_);
    if (config_->add_eos_token.value_or(false)) ids.push_back(*eos_id_);
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  return backend_->decode(ids, skip_special_tokens);
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, const DecodeOptions& options) const {
  std::string text = backend_->decode(ids, options.skip_special_tokens);
  if (options.clean_up_tokenization_spaces.value_or(config_->clean_up_tokenization_spaces))
    text = clean_up_tokenization(std::move(text));
  return text;
}

std::size_t Tokenizer::vocab_size() const { return backend_->vocab_size(); }
std::optional<std::string> Tokenizer::id_to_token(std::int32_t id) const { return backend_->id_to_token(id); }
std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  return backend_->token_to_id(token);
}
bool Tokenizer::is_special(std::int32_t id) const {
  const AddedToken* t = backend_->added_token(id);
  return t != nullptr && t->special;
}
bool Tokenizer::is_added(std::int32_t id) const { return backend_->added_token(id) != nullptr; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return backend_->added_tokens(); }
const std::optional<std::string>& Tokenizer::bos_token() const { return config_->bos_token; }
const std::optional<std::string>& Tokenizer::eos_token() const { return config_->eos_token; }
const std::optional<std::string>& Tokenizer::pad_token() const { return config_->pad_token; }
const std::optional<std::string>& Tokenizer::unk_token() const { return config_->unk_token; }
std::optional<std::int32_t> Tokenizer::bos_id() const { return bos_id_; }
std::optional<std::int32_t> Tokenizer::eos_id() const { return eos_id_; }
std::optional<std::int32_t> Tokenizer::pad_id() const { return pad_id_; }
std::optional<std::int32_t> Tokenizer::unk_id() const { return unk_id_; }
const std::vector<std::int32_t>& Tokenizer::generation_eos_ids() const { return config_->generation_eos_ids; }

std::vector<std::int32_t> Tokenizer::stop_ids() const {
  std::vector<std::int32_t> ids;
  if (eos_id_) ids.push_back(*eos_id_);
  for (std::int32_t id : config_->generation_eos_ids)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

bool Tokenizer::add_bos_token() const {
  if (wrap_with_config_) return config_->add_bos_token.value_or(false);
  // Informational for tokenizer.json files: does the post-processor put bos first?
  if (!bos_id_) return false;
  auto ids = backend_->encode("", true);
  return ids.ok() && !ids->empty() && ids->front() == *bos_id_;
}

bool Tokenizer::add_eos_token() const {
  if (wrap_with_config_) return config_->add_eos_token.value_or(false);
  if (!eos_id_) return false;
  auto ids = backend_->encode("", true);
  return ids.ok() && !ids->empty() && ids->back() == *eos_id_;
}

bool Tokenizer::clean_up_tokenization_spaces() const { return config_->clean_up_tokenization_spaces; }
std::int64_t Tokenizer::model_max_length() const { return config_->model_max_length; }
bool Tokenizer::is_sentencepiece() const { return backend_->is_sentencepiece(); }
bool Tokenizer::is_byte_fallback_token(std::int32_t id) const { return backend_->is_byte_fallback_token(id); }

}  // namespace ferrite::tokenizer
