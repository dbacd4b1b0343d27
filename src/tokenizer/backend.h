// What a Tokenizer delegates to: the tokenizer.json pipeline or libsentencepiece. Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferrite/status.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::detail {

class Backend {
 public:
  virtual ~Backend() = default;
  // `text` is valid UTF-8.
  virtual Result<std::vector<std::int32_t>> encode(std::string_view text, bool add_special_tokens) const = 0;
  // The decoder pipeline, without transformers' clean-up.
  virtual std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const = 0;
  virtual std::size_t vocab_size() const = 0;
  virtual std::optional<std::string> id_to_token(std::int32_t id) const = 0;
  virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::vector<AddedToken>& added_tokens() const = 0;
  virtual const AddedToken* added_token(std::int32_t id) const = 0;
  virtual bool is_byte_fallback_token(std::int32_t id) const = 0;
  virtual bool is_sentencepiece() const { return false; }
};

// tokenizer_config.json and generation_config.json, as far as ferrite uses them.
struct TokenizerConfig {
  bool present = false;
  std::string tokenizer_class;
  std::optional<std::string> bos_token, eos_token, unk_token, pad_token;
  std::optional<bool> add_bos_token, add_eos_token;
  bool clean_up_tokenization_spaces = false;
  std::int64_t model_max_length = INT64_MAX;
  std::vector<AddedToken> added_tokens_decoder;  // sorted by id
  std::vector<std::int32_t> generation_eos_ids;
};

// Both files are optional: empty text means absent. Errors name the file and the field.
Result<TokenizerConfig> parse_tokenizer_config(std::string_view tokenizer_config_json,
                                               std::string_view generation_config_json);

// tokenizer.json. `extra_added` (from added_tokens_decoder) adds tokens the file lacks.
Result<std::unique_ptr<Backend>> load_hf_pipeline(std::string_view tokenizer_json,
                                                  const std::vector<AddedToken>& extra_added);

// tokenizer.model through libsentencepiece; `config` supplies the special tokens to split on.
// Fills the special tokens the config lacks from the model (<s>, </s>, <unk>).
Result<std::unique_ptr<Backend>> load_sentencepiece(const std::string& model_path, TokenizerConfig& config);

}  // namespace ferrite::tokenizer::detail
