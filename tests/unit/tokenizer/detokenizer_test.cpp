// IncrementalDetokenizer corner cases: byte-fallback runs, incomplete UTF-8, the SentencePiece
// leading-space rule, skip_special_tokens and spaces_between_special_tokens. Expected texts are
// the tokenizer's own full decode (itself checked against Python in tokenizer_vectors_test).
#include <gtest/gtest.h>

#include "tests/unit/tokenizer/test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {
namespace {

std::vector<std::string> stream(const std::shared_ptr<Tokenizer>& tok, const std::vector<std::int32_t>& ids,
                                IncrementalDetokenizer::Options options, std::string* all) {
  IncrementalDetokenizer detok(tok, options);
  std::vector<std::string> deltas;
  for (std::int32_t id : ids) deltas.push_back(detok.step(id));
  deltas.push_back(detok.finish());
  *all = detok.text();
  return deltas;
}

std::int32_t id_of(const std::shared_ptr<Tokenizer>& tok, const std::string& token) {
  auto id = tok->token_to_id(token);
  EXPECT_TRUE(id.has_value()) << token;
  return id.value_or(-1);
}

TEST(IncrementalDetokenizer, ByteFallbackRunIsHeldUntilComplete) {
  FERRITE_REQUIRE_SHARED();
  auto tok = shared_tokenizer("mistral_v01");
  const std::vector<std::int32_t> ids = {id_of(tok, "▁price"), id_of(tok, "<0xE2>"), id_of(tok, "<0x82>"),
                                         id_of(tok, "<0xAC>"), id_of(tok, "▁ok")};
  std::string all;
  const auto deltas = stream(tok, ids, {.skip_special_tokens = false}, &all);
  EXPECT_EQ(all, tok->decode(ids, false));
  EXPECT_EQ(deltas[0], "price");  // the first token's leading space is stripped, as in a full decode
  EXPECT_EQ(deltas[1], "");
  EXPECT_EQ(deltas[2], "");
  EXPECT_EQ(deltas[3], "");  // a run of byte tokens may still change: held until it ends
  EXPECT_EQ(deltas[4], "€ ok");
  EXPECT_EQ(deltas[5], "");
}

TEST(IncrementalDetokenizer, IncompleteBytesAtTheEndBecomeReplacementCharacters) {
  FERRITE_REQUIRE_SHARED();
  auto tok = shared_tokenizer("mistral_v01");
  for (const std::vector<std::string>& tokens :
       std::vector<std::vector<std::string>>{{"▁a", "<0xE2>", "<0x82>"},
                                             {"<0x41>", "<0xE2>"},
                                             {"<0xFF>"},
                                             {"▁x", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"}}) {
    std::vector<std::int32_t> ids;
    for (const auto& t : tokens) ids.push_back(id_of(tok, t));
    std::string all;
    stream(tok, ids, {.skip_special_tokens = false}, &all);
    EXPECT_EQ(all, tok->decode(ids, false)) << json(tokens).dump();
  }
  // Byte-level BPE: "é" is two byte tokens in Qwen's vocabulary; nothing is sent between them.
  auto qwen = shared_tokenizer("qwen3");
  const auto ids = *qwen->encode("é€😀", false);
  std::string all;
  const auto deltas = stream(qwen, ids, {.skip_special_tokens = false}, &all);
  EXPECT_EQ(all, "é€😀");
  for (const auto& d : deltas) EXPECT_TRUE(qwen->encode(d, false).ok()) << "split character";
}

TEST(IncrementalDetokenizer, LeadingSpaceKeptAfterPrompt) {
  FERRITE_REQUIRE_SHARED();
  auto tok = shared_tokenizer("mistral_v01");
  const auto prompt = *tok->encode("The capital of France is", true);
  const auto answer = *tok->encode(" Paris.", false);  // ["▁", "▁Paris", "."]-like ids
  std::vector<std::int32_t> all_ids = prompt;
  all_ids.insert(all_ids.end(), answer.begin(), answer.end());
  const std::string full = tok->decode(all_ids, true), head = tok->decode(prompt, true);
  ASSERT_EQ(full.compare(0, head.size(), head), 0);
  IncrementalDetokenizer detok(tok, {.skip_special_tokens = true}, prompt);
  std::string streamed;
  for (std::int32_t id : answer) streamed += detok.step(id);
  streamed += detok.finish();
  EXPECT_EQ(streamed, full.substr(head.size()));
  EXPECT_EQ(streamed.front(), ' ');
}

TEST(IncrementalDetokenizer, SkipSpecialTokens) {
  FERRITE_REQUIRE_SHARED();
  auto tok = shared_tokenizer("qwen3");
  const auto ids = *tok->encode("<|im_start|>assistant\nHi there!<|im_end|>\n", false);
  for (bool skip : {false, true}) {
    std::string all;
    stream(tok, ids, {.skip_special_tokens = skip}, &all);
    EXPECT_EQ(all, tok->decode(ids, skip));
  }
}

TEST(IncrementalDetokenizer, SpacesBetweenSpecialTokensFalseEmitsRawContent) {
  FERRITE_REQUIRE_SHARED();
  auto tok = shared_tokenizer("qwen3");
  const std::vector<std::int32_t> ids = {id_of(tok, "<|im_start|>"), id_of(tok, "<|im_end|>"), id_of(tok, "Hi")};
  std::string all;
  const auto deltas = stream(tok, ids, {.skip_special_tokens = false, .spaces_between_special_tokens = false}, &all);
  EXPECT_EQ(deltas[0], "<|im_start|>");
  EXPECT_EQ(deltas[1], "<|im_end|>");
  EXPECT_EQ(deltas[2], "Hi");
}

}  // namespace
}  // namespace ferrite::tokenizer::testing
