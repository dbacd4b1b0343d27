// Each normalizer, pre-tokenizer and decoder on small inputs, and whole tokenizers with swapped
// components and model options, against outputs produced by Python `tokenizers`
// (tests/data/tokenizer/components.jsonl, written by tools/make_tokenizer_vectors.py).
#include "tokenizer/components.h"

#include <gtest/gtest.h>

#include "tests/unit/tokenizer/test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {
namespace {

const std::vector<json>& component_rows() {
  static const std::vector<json> rows = read_jsonl(data_dir() + "/components.jsonl");
  return rows;
}

std::vector<const json*> rows_of(const std::string& kind) {
  std::vector<const json*> out;
  for (const json& r : component_rows())
    if (r["kind"] == kind) out.push_back(&r);
  return out;
}

TEST(TokenizerComponents, VectorsPresent) {
  EXPECT_GE(rows_of("normalizer").size(), 10u);
  EXPECT_GE(rows_of("pre_tokenizer").size(), 20u);
  EXPECT_GE(rows_of("decoder").size(), 8u);
  EXPECT_GE(rows_of("tokenizer").size(), 10u);
}

TEST(TokenizerComponents, Normalizers) {
  for (const json* row : rows_of("normalizer")) {
    auto n = parse_normalizer((*row)["json"], "normalizer");
    ASSERT_TRUE(n.ok()) << (*row)["name"] << ": " << n.status().message();
    std::string scratch;
    for (const json& c : (*row)["cases"]) {
      std::string s = c["input"];
      (*n)->normalize(s, scratch);
      EXPECT_EQ(s, c["output"].get<std::string>()) << (*row)["name"] << " on " << shorten(c["input"]);
    }
  }
}

TEST(TokenizerComponents, PreTokenizers) {
  for (const json* row : rows_of("pre_tokenizer")) {
    auto p = parse_pre_tokenizer((*row)["json"], "pre_tokenizer");
    ASSERT_TRUE(p.ok()) << (*row)["name"] << ": " << p.status().message();
    for (const json& c : (*row)["cases"]) {
      PieceList in, out;
      const std::string input = c["input"];
      if (!input.empty()) in.push(input, /*at_origin=*/true);
      (*p)->pre_tokenize(in, out);
      std::vector<std::string> pieces;
      for (const Piece& piece : out.pieces) pieces.emplace_back(out.view(piece));
      EXPECT_EQ(pieces, c["output"].get<std::vector<std::string>>()) << (*row)["name"] << " on " << shorten(input);
    }
  }
}

TEST(TokenizerComponents, Decoders) {
  for (const json* row : rows_of("decoder")) {
    auto d = parse_decoder((*row)["json"], "decoder");
    ASSERT_TRUE(d.ok()) << (*row)["name"] << ": " << d.status().message();
    for (const json& c : (*row)["cases"]) {
      auto tokens = c["tokens"].get<std::vector<std::string>>();
      (*d)->decode_chain(tokens);
      std::string joined;
      for (const auto& t : tokens) joined += t;
      EXPECT_EQ(joined, c["output"].get<std::string>()) << (*row)["name"] << " on " << c["tokens"].dump();
    }
  }
}

// Whole tokenizers: either a full JSON in the row, or a shared file with overrides applied.
TEST(TokenizerComponents, TokenizerVariants) {
  for (const json* row : rows_of("tokenizer")) {
    json full;
    if (row->contains("json")) {
      full = (*row)["json"];
    } else {
      if (!shared_available()) {
        std::printf("[ %s ] skipped: shared fixtures not found at %s\n", (*row)["name"].get<std::string>().c_str(),
                    FERRITE_SHARED_DIR);
        continue;
      }
      full = json::parse(read_text(shared_tokenizer_dir((*row)["base"]) + "/tokenizer.json"));
      const json& o = (*row)["overrides"];
      if (o.contains("replace"))
        for (const auto& [k, v] : o["replace"].items()) full[k] = v;
      if (o.contains("model"))
        for (const auto& [k, v] : o["model"].items()) full["model"][k] = v;
      if (o.contains("added_tokens"))
        for (const json& t : o["added_tokens"]) full["added_tokens"].push_back(t);
    }
    auto tok = Tokenizer::from_json(full.dump());
    ASSERT_TRUE(tok.ok()) << (*row)["name"] << ": " << tok.status().message();
    std::size_t passed = 0;
    for (const json& c : (*row)["cases"]) {
      const std::string text = c["text"];
      auto ids = (*tok)->encode(text, false);
      auto ids_ws = (*tok)->encode(text, true);
      ASSERT_TRUE(ids.ok() && ids_ws.ok());
      EXPECT_EQ(*ids, to_ids(c["ids"])) << (*row)["name"] << " on " << shorten(text);
      EXPECT_EQ(*ids_ws, to_ids(c["ids_with_special"])) << (*row)["name"] << " on " << shorten(text);
      EXPECT_EQ((*tok)->decode(to_ids(c["ids"]), false), c["decoded"].get<std::string>())
          << (*row)["name"] << " on " << shorten(text);
      EXPECT_EQ((*tok)->decode(to_ids(c["ids_with_special"]), true), c["decoded_ws_skip"].get<std::string>())
          << (*row)["name"] << " on " << shorten(text);
      if (*ids == to_ids(c["ids"]) && *ids_ws == to_ids(c["ids_with_special"])) ++passed;
    }
    std::printf("[ %s ] %zu/%zu exact\n", (*row)["name"].get<std::string>().c_str(), passed, (*row)["cases"].size());
  }
}

}  // namespace
}  // namespace ferrite::tokenizer::testing
