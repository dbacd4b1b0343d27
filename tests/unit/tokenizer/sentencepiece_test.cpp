// A model that ships only tokenizer.model: a tiny SentencePiece BPE trained on the corpus by
// tools/make_tokenizer_vectors.py, against transformers' slow LlamaTokenizer (ids) and the
// sentencepiece package (decodes).
#include <gtest/gtest.h>

#include "tests/unit/tokenizer/test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {
namespace {

TEST(SentencePieceModel, MatchesPython) {
  auto tok = Tokenizer::load(data_dir() + "/sp_tiny");
  if (!tok.ok() && tok.status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << tok.status().message();
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_TRUE((*tok)->is_sentencepiece());
  EXPECT_EQ((*tok)->bos_token(), "<s>");
  EXPECT_TRUE((*tok)->add_bos_token());
  const auto rows = read_jsonl(data_dir() + "/sp_tiny.jsonl");
  ASSERT_GT(rows.size(), 200u);
  std::size_t exact = 0, decodes = 0;
  for (const json& row : rows) {
    const std::string text = row["text"];
    auto ids = (*tok)->encode(text, false);
    auto ids_ws = (*tok)->encode(text, true);
    ASSERT_TRUE(ids.ok() && ids_ws.ok());
    EXPECT_EQ(*ids, to_ids(row["ids"])) << shorten(text);
    EXPECT_EQ(*ids_ws, to_ids(row["ids_with_special"])) << shorten(text);
    if (*ids == to_ids(row["ids"]) && *ids_ws == to_ids(row["ids_with_special"])) ++exact;
    if (!row["decoded"].is_null()) {
      ++decodes;
      EXPECT_EQ((*tok)->decode(to_ids(row["ids"]), false), row["decoded"].get<std::string>()) << shorten(text);
      IncrementalDetokenizer detok(*tok, {.skip_special_tokens = false});
      std::string streamed;
      for (std::int32_t id : to_ids(row["ids"])) streamed += detok.step(id);
      streamed += detok.finish();
      EXPECT_EQ(streamed, row["decoded"].get<std::string>()) << shorten(text);
    }
  }
  std::printf("[ sp_tiny ] %zu/%zu ids exact, %zu decodes checked\n", exact, rows.size(), decodes);
}

}  // namespace
}  // namespace ferrite::tokenizer::testing
