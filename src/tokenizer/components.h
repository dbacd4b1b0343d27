// The stages of a tokenizer.json pipeline (normalizer, pre-tokenizer, post-processor, decoder)
// as small interfaces, and the string pieces that flow between them. Internal to the module.
//
// Pieces live in one arena string per stage instead of one std::string each: a pre-tokenizer
// that only splits copies the arena once and writes (begin, end) pairs, so encoding a long text
// allocates nothing per word once the scratch buffers have grown.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ferrite/status.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"

namespace ferrite::tokenizer {

struct Piece {
  std::uint32_t begin = 0, end = 0;  // bytes of the arena
  std::int32_t token_id = -1;        // >= 0: an added token, already resolved; the bytes are unused
  bool at_origin = false;            // starts at offset 0 of the original input (Metaspace "first")
};

struct PieceList {
  std::string arena;
  std::vector<Piece> pieces;

  void clear() {
    arena.clear();
    pieces.clear();
  }
  std::string_view view(const Piece& p) const { return std::string_view(arena).substr(p.begin, p.end - p.begin); }
  // Appends `s` to the arena as a new piece.
  void push(std::string_view s, bool at_origin) {
    const auto begin = static_cast<std::uint32_t>(arena.size());
    arena.append(s);
    pieces.push_back({begin, static_cast<std::uint32_t>(arena.size()), -1, at_origin});
  }
  void push_token(std::int32_t id) { pieces.push_back({0, 0, id, false}); }
};

// How a split keeps the matched delimiters (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `s` (valid UTF-8) in place. `scratch` is a buffer the caller keeps for reuse.
  virtual void normalize(std::string& s, std::string& scratch) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits or rewrites every piece of `in` without a token id into `out` (cleared first);
  // pieces with a token id pass through unchanged and in order.
  virtual void pre_tokenize(const PieceList& in, PieceList& out) const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens of a single sequence around `ids` when add_special_tokens.
  virtual void process(std::vector<std::int32_t>& ids, bool add_special_tokens) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // tokenizers' decode_chain: token strings in, token strings out; the caller joins them.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Factories: `j` is the component's JSON, `path` its location for error messages. A JSON null
// gives a null pointer (no stage).
Result<std::unique_ptr<Normalizer>> parse_normalizer(const json_util::Json& j, const std::string& path);
Result<std::unique_ptr<PreTokenizer>> parse_pre_tokenizer(const json_util::Json& j, const std::string& path);
Result<std::unique_ptr<PostProcessor>> parse_post_processor(const json_util::Json& j, const std::string& path);
Result<std::unique_ptr<Decoder>> parse_decoder(const json_util::Json& j, const std::string& path);

// {"String": "..."} or {"Regex": "..."} (Replace, Split).
Result<std::shared_ptr<const Regex>> parse_pattern(const json_util::Json& j, const std::string& path);

// The 256 printable characters ByteLevel maps bytes to (GPT-2's bytes_to_unicode), as UTF-8,
// and the inverse (-1 for a code point that is no byte's image).
const std::string& byte_level_char(unsigned char byte);
int byte_level_byte(char32_t c);

// Splits `text` into the [begin, end) pieces of `behavior` given the sorted `matches` (the
// delimiters); with `invert` the non-matching stretches are the delimiters. Empty pieces are
// dropped. Offsets are relative to `text`.
void split_by_matches(std::string_view text, const std::vector<Span>& matches, SplitBehavior behavior, bool invert,
                      std::vector<Span>& out);

}  // namespace ferrite::tokenizer
