// ferrite::tokenizer: text <-> token ids, matching Hugging Face `tokenizers` (and the
// `transformers` fast tokenizers built on it) byte for byte.
//
//   auto tok = Tokenizer::load("/models/llama");          // a directory or a tokenizer.json
//   if (!tok.ok()) ...                                     // a Status naming the file and field
//   auto ids = (*tok)->encode("Hello", /*add_special_tokens=*/true);   // Result<vector<int32_t>>
//   std::string text = (*tok)->decode(*ids, /*skip_special_tokens=*/false);
//
//   IncrementalDetokenizer detok(*tok, {.skip_special_tokens = true});
//   for (int32_t id : generated) send(detok.step(id));    // text deltas, never half a character
//   send(detok.finish());
//
// What is loaded:
//  - tokenizer.json: BPE model (byte-level or SentencePiece-style with byte_fallback), the
//    normalizers, pre-tokenizers, post-processors, decoders and added tokens it names. Other
//    model types (WordPiece, Unigram, WordLevel) and unknown components fail at load with the
//    JSON path of the offending value.
//  - tokenizer_config.json (optional): bos/eos/unk/pad tokens, add_bos_token/add_eos_token,
//    clean_up_tokenization_spaces, model_max_length, added_tokens_decoder.
//  - generation_config.json (optional): eos_token_id (an int or a list) for stop conditions.
//  - tokenizer.model (SentencePiece), used through libsentencepiece when a directory has no
//    tokenizer.json.
//
// Semantics:
//  - encode(text, add_special_tokens) == transformers' tokenizer.encode(text,
//    add_special_tokens=...), which for these files equals tokenizers' Tokenizer.encode. Added
//    tokens that appear in the text are always matched (special or not). `text` must be valid
//    UTF-8; anything else is an InvalidArgument error.
//  - decode(ids, skip_special_tokens) == tokenizers' Tokenizer.decode: the decoder pipeline,
//    without transformers' clean_up_tokenization. decode(ids, DecodeOptions) adds it; with
//    clean_up_tokenization_spaces unset it follows tokenizer_config.json and then equals
//    transformers' tokenizer.decode. Ids outside the vocabulary are skipped. Invalid UTF-8
//    produced by byte tokens becomes U+FFFD, as in Python.
//  - All methods are const and safe to call from several threads at once.
//
// Known limits: tokenizer.json's truncation and padding are ignored (callers truncate ids);
// BPE dropout is refused. Regex classes (\p{L}, \s) come from PCRE2 and normalization and case
// mapping from ICU, whose Unicode versions can differ from the Rust crates' on code points
// assigned in the newest Unicode releases.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferrite/status.h"

namespace ferrite::tokenizer {

// A token matched in the text before the model runs (tokenizers' AddedToken).
struct AddedToken {
  std::int32_t id = -1;
  std::string content;
  bool single_word = false;  // only as a whole word
  bool lstrip = false;       // swallows the whitespace on its left
  bool rstrip = false;       // swallows the whitespace on its right
  bool normalized = true;    // matched in the normalized text (else in the raw text)
  bool special = false;      // dropped by skip_special_tokens
};

struct DecodeOptions {
  bool skip_special_tokens = false;
  // transformers' clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...). nullopt: use
  // tokenizer_config.json's clean_up_tokenization_spaces.
  std::optional<bool> clean_up_tokenization_spaces = false;
};

namespace detail {
class Backend;
struct TokenizerConfig;
}  // namespace detail

class Tokenizer {
 public:
  // `path`: a model directory (tokenizer.json, else tokenizer.model; plus the optional
  // tokenizer_config.json and generation_config.json) or a tokenizer.json file (the configs are
  // then looked for beside it).
  static Result<std::shared_ptr<Tokenizer>> load(const std::string& path);
  // From file contents; an empty config string means the file is absent.
  static Result<std::shared_ptr<Tokenizer>> from_json(std::string_view tokenizer_json,
                                                      std::string_view tokenizer_config_json = {},
                                                      std::string_view generation_config_json = {});
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  Result<std::vector<std::int32_t>> encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const;
  std::string decode(std::span<const std::int32_t> ids, const DecodeOptions& options) const;

  // Number of distinct ids, added tokens included (len(tokenizer) in transformers).
  std::size_t vocab_size() const;
  std::optional<std::string> id_to_token(std::int32_t id) const;
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  bool is_special(std::int32_t id) const;  // a special added token
  bool is_added(std::int32_t id) const;    // any added token
  const std::vector<AddedToken>& added_tokens() const;

  // Special tokens named by tokenizer_config.json (else the ids the model's vocabulary gives
  // to the strings), nullopt where none.
  const std::optional<std::string>& bos_token() const;
  const std::optional<std::string>& eos_token() const;
  const std::optional<std::string>& pad_token() const;
  const std::optional<std::string>& unk_token() const;
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;
  std::optional<std::int32_t> pad_id() const;
  std::optional<std::int32_t> unk_id() const;
  // generation_config.json's eos_token_id (empty when absent).
  const std::vector<std::int32_t>& generation_eos_ids() const;
  // Every id that ends generation: eos_id() then generation_eos_ids(), without duplicates.
  std::vector<std::int32_t> stop_ids() const;

  bool add_bos_token() const;  // what encode(.., true) puts first / last (informational)
  bool add_eos_token() const;
  bool clean_up_tokenization_spaces() const;
  std::int64_t model_max_length() const;  // clamped to int64; "unlimited" is INT64_MAX
  bool is_sentencepiece() const;          // loaded from tokenizer.model

  // For IncrementalDetokenizer: a "<0xAB>" byte token that the decoder fuses with its
  // neighbours (its text is not final until a non-byte token follows).
  bool is_byte_fallback_token(std::int32_t id) const;

 private:
  Tokenizer();
  static Result<std::shared_ptr<Tokenizer>> finish_load(std::unique_ptr<detail::Backend> backend,
                                                        detail::TokenizerConfig config);
  std::unique_ptr<detail::Backend> backend_;
  std::unique_ptr<detail::TokenizerConfig> config_;
  std::optional<std::int32_t> bos_id_, eos_id_, pad_id_, unk_id_;
  bool wrap_with_config_ = false;  // add_bos/add_eos replace the post-processor
};

// Streams the text of generated ids, as vLLM's detokenizer does: each step returns the new
// text, holding back bytes that do not yet form a whole UTF-8 character and byte-fallback runs
// that may still change. With spaces_between_special_tokens (the default), the concatenation
// of every step() and finish() equals tokenizer.decode(all ids, skip_special_tokens).
//
// `prompt_ids` (optional) primes the state with the end of the prompt so that the first
// generated token keeps its leading space (the SentencePiece rule strips it only at the very
// start of a text); the prompt's own text is not returned.
class IncrementalDetokenizer {
 public:
  struct Options {
    bool skip_special_tokens = true;
    // false: between two consecutive added tokens, emit the second one's raw content (vLLM).
    bool spaces_between_special_tokens = true;
  };

  IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer, Options options,
                         std::span<const std::int32_t> prompt_ids = {});

  std::string step(std::int32_t id);
  // Emits what is still held back (an incomplete character decodes to U+FFFD).
  std::string finish();

  const std::string& text() const { return text_; }  // everything returned so far

 private:
  std::string emit(bool final);

  std::shared_ptr<const Tokenizer> tokenizer_;
  Options options_;
  std::vector<std::int32_t> ids_;  // the ids from prefix_offset_ on (older ones are dropped)
  std::size_t prefix_offset_ = 0;  // ids_[prefix_offset_, read_offset_) decode to already-sent text
  std::size_t read_offset_ = 0;
  std::string text_;
  bool last_added_ = false;
};

}  // namespace ferrite::tokenizer
