// The three shared tokenizers against the Python vectors (tools/make_tokenizer_vectors.py) and
// against the shared reference_ids.jsonl: exact ids, exact decodes, streaming == full decode.
#include <gtest/gtest.h>

#include "tests/unit/tokenizer/test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {
namespace {

class SharedTokenizerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    FERRITE_REQUIRE_SHARED();
    tok_ = shared_tokenizer(GetParam());
    ASSERT_NE(tok_, nullptr);
    rows_ = read_jsonl(data_dir() + "/" + GetParam() + ".jsonl");
    ASSERT_GT(rows_.size(), 200u) << "missing vectors; run tools/make_tokenizer_vectors.py";
  }
  std::shared_ptr<Tokenizer> tok_;
  std::vector<json> rows_;
};

TEST_P(SharedTokenizerTest, EncodeMatchesPython) {
  std::size_t passed = 0, failed = 0;
  for (const json& row : rows_) {
    const std::string text = row["text"];
    auto plain = tok_->encode(text, false);
    auto with_special = tok_->encode(text, true);
    ASSERT_TRUE(plain.ok() && with_special.ok()) << plain.status().message();
    const bool ok = *plain == to_ids(row["ids"]) && *with_special == to_ids(row["ids_with_special"]);
    ok ? ++passed : ++failed;
    EXPECT_EQ(*plain, to_ids(row["ids"])) << shorten(text);
    EXPECT_EQ(*with_special, to_ids(row["ids_with_special"])) << shorten(text);
    if (failed > 5) break;
  }
  std::printf("[ %s ] encode: %zu/%zu vectors exact\n", GetParam().c_str(), passed, rows_.size());
}

TEST_P(SharedTokenizerTest, DecodeMatchesPython) {
  std::size_t failed = 0;
  for (const json& row : rows_) {
    const auto ids = to_ids(row["ids"]);
    const auto ids_ws = to_ids(row["ids_with_special"]);
    const std::string text = row["text"];
    EXPECT_EQ(tok_->decode(ids, false), row["decoded"].get<std::string>()) << shorten(text);
    EXPECT_EQ(tok_->decode(ids_ws, false), row["decoded_ws"].get<std::string>()) << shorten(text);
    EXPECT_EQ(tok_->decode(ids_ws, true), row["decoded_ws_skip"].get<std::string>()) << shorten(text);
    // transformers' decode: the same plus clean_up_tokenization_spaces from the config.
    DecodeOptions tf{.skip_special_tokens = false, .clean_up_tokenization_spaces = std::nullopt};
    EXPECT_EQ(tok_->decode(ids_ws, tf), row["tf_decoded_ws"].get<std::string>()) << shorten(text);
    tf.skip_special_tokens = true;
    EXPECT_EQ(tok_->decode(ids_ws, tf), row["tf_decoded_ws_skip"].get<std::string>()) << shorten(text);
    if (::testing::Test::HasFailure() && ++failed > 5) break;
  }
}

TEST_P(SharedTokenizerTest, StreamingEqualsFullDecode) {
  for (const bool skip : {false, true}) {
    for (const json& row : rows_) {
      const auto ids = to_ids(row["ids_with_special"]);
      IncrementalDetokenizer detok(tok_, {.skip_special_tokens = skip});
      std::string streamed;
      for (std::int32_t id : ids) {
        const std::string delta = detok.step(id);
        // Never half a character: every delta is valid UTF-8 on its own.
        ASSERT_TRUE(tok_->encode(delta, false).ok()) << "delta splits a UTF-8 sequence in " << shorten(row["text"]);
        streamed += delta;
      }
      streamed += detok.finish();
      ASSERT_EQ(streamed, row[skip ? "decoded_ws_skip" : "decoded_ws"].get<std::string>())
          << "skip=" << skip << " " << shorten(row["text"]);
      ASSERT_EQ(detok.text(), streamed);
    }
  }
}

TEST_P(SharedTokenizerTest, StreamingAfterPromptKeepsLeadingSpace) {
  for (const json& row : rows_) {
    const auto ids = to_ids(row["ids"]);
    if (ids.size() < 6) continue;
    const std::size_t half = ids.size() / 2;
    const std::string all = tok_->decode(ids, false);
    const std::string prompt = tok_->decode(std::span(ids).first(half), false);
    if (all.compare(0, prompt.size(), prompt) != 0 || prompt.find("\xEF\xBF\xBD") != std::string::npos) continue;
    IncrementalDetokenizer detok(tok_, {.skip_special_tokens = false}, std::span(ids).first(half));
    std::string streamed;
    for (std::size_t i = half; i < ids.size(); ++i) streamed += detok.step(ids[i]);
    streamed += detok.finish();
    EXPECT_EQ(streamed, all.substr(prompt.size())) << shorten(row["text"]);
  }
}

// The JS-made shared references. Python's vectors above are the authority; this checks that the
// two agree where tools/make_tokenizer_vectors.py found them to (reference_check.json).
TEST_P(SharedTokenizerTest, MatchesSharedReferenceIds) {
  const auto refs = read_jsonl(shared_tokenizer_dir(GetParam()) + "/reference_ids.jsonl");
  const auto corpus = read_jsonl(std::string(FERRITE_SHARED_DIR) + "/fixtures/corpus.jsonl");
  ASSERT_EQ(refs.size(), corpus.size());
  std::size_t exact = 0;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    const std::string text = corpus[i]["text"];
    auto plain = tok_->encode(text, false);
    auto with_special = tok_->encode(text, true);
    ASSERT_TRUE(plain.ok() && with_special.ok());
    EXPECT_EQ(*plain, to_ids(refs[i]["ids"])) << "line " << i;
    EXPECT_EQ(*with_special, to_ids(refs[i]["ids_with_special"])) << "line " << i;
    // The JS port decodes as transformers does, clean-up included.
    const std::string decoded =
        tok_->decode(to_ids(refs[i]["ids"]), DecodeOptions{.clean_up_tokenization_spaces = std::nullopt});
    EXPECT_EQ(decoded, refs[i]["decoded"].get<std::string>()) << "line " << i;
    if (*plain == to_ids(refs[i]["ids"]) && *with_special == to_ids(refs[i]["ids_with_special"]) &&
        decoded == refs[i]["decoded"].get<std::string>())
      ++exact;
  }
  std::printf("[ %s ] shared reference: %zu/%zu lines exact\n", GetParam().c_str(), exact, refs.size());
}

TEST_P(SharedTokenizerTest, ConfigAndVocabulary) {
  const std::string name = GetParam();
  EXPECT_FALSE(tok_->is_sentencepiece());
  if (name == "qwen3") {
    EXPECT_EQ(tok_->vocab_size(), 151669u);
    EXPECT_EQ(tok_->eos_token(), "<|im_end|>");
    EXPECT_EQ(tok_->eos_id(), 151645);
    EXPECT_FALSE(tok_->bos_id().has_value());
    EXPECT_EQ(tok_->pad_id(), 151643);
    EXPECT_FALSE(tok_->add_bos_token());
    EXPECT_EQ(tok_->model_max_length(), 131072);
    EXPECT_TRUE(tok_->is_special(151644));
    EXPECT_FALSE(tok_->is_special(151665));  // <tool_response>: added, not special
    EXPECT_TRUE(tok_->is_added(151665));
  } else if (name == "llama3_1") {
    EXPECT_EQ(tok_->vocab_size(), 128256u);
    EXPECT_EQ(tok_->bos_id(), 128000);
    EXPECT_EQ(tok_->eos_id(), 128009);
    EXPECT_TRUE(tok_->add_bos_token());
    EXPECT_TRUE(tok_->clean_up_tokenization_spaces());
    EXPECT_EQ(tok_->model_max_length(), INT64_MAX);
  } else {
    EXPECT_EQ(tok_->vocab_size(), 32000u);
    EXPECT_EQ(tok_->bos_id(), 1);
    EXPECT_EQ(tok_->eos_id(), 2);
    EXPECT_EQ(tok_->unk_id(), 0);
    EXPECT_TRUE(tok_->add_bos_token());
    EXPECT_FALSE(tok_->add_eos_token());
    EXPECT_TRUE(tok_->is_byte_fallback_token(*tok_->token_to_id("<0xE2>")));
  }
  EXPECT_EQ(tok_->stop_ids().front(), *tok_->eos_id());
  for (std::int32_t id : {0, 1, 100, 1000}) {
    auto token = tok_->id_to_token(id);
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(tok_->token_to_id(*token), id);
  }
  EXPECT_FALSE(tok_->id_to_token(-1).has_value());
  EXPECT_FALSE(tok_->id_to_token(static_cast<std::int32_t>(tok_->vocab_size()) + 10).has_value());
}

INSTANTIATE_TEST_SUITE_P(Shared, SharedTokenizerTest, ::testing::Values("qwen3", "llama3_1", "mistral_v01"));

}  // namespace
}  // namespace ferrite::tokenizer::testing
