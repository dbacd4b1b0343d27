// Reads tokenizer.json in one streaming pass. The vocabulary and merges (hundreds of thousands
// of entries) go straight into flat vectors; everything else becomes a small JSON tree. Building
// a full nlohmann DOM for them, with a std::map node per token, was most of the load time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferrite/status.h"
#include "tokenizer/json_util.h"

namespace ferrite::tokenizer {

struct TokenizerJson {
  json_util::Json root;  // the document without model.vocab (an object) and model.merges
  bool has_vocab = false, has_merges = false;
  std::vector<std::pair<std::string, std::int64_t>> vocab;  // in file order
  std::vector<std::pair<std::string, std::string>> merges;  // "a b" strings already split
};

// Errors name the file ("tokenizer.json: ...") and, for vocab/merges entries, the JSON path.
Result<TokenizerJson> read_tokenizer_json(std::string_view text);

}  // namespace ferrite::tokenizer
