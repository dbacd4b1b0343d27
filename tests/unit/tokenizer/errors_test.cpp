// Bad input of every kind gives a clear Status, never a crash; long inputs tokenize in linear
// time; loading options (config files, added tokens) behave as documented.
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/unit/tokenizer/test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {
namespace {

// A tiny byte-level BPE: enough to load; its outputs are not compared with Python here.
json tiny_tokenizer() {
  return json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 5, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
              "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4}, "merges": ["a b", "Ġ ab"]}})");
}

Status load_error(const json& j, std::string_view config = {}) {
  auto t = Tokenizer::from_json(j.dump(), config);
  return t.ok() ? ok_status() : t.status();
}

TEST(TokenizerErrors, MissingFiles) {
  auto t = Tokenizer::load("/nonexistent/model/dir");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("/nonexistent/model/dir"), std::string::npos);
  const auto dir = std::filesystem::temp_directory_path() / "ferrite_tok_empty_dir";
  std::filesystem::create_directories(dir);
  t = Tokenizer::load(dir.string());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("no tokenizer.json or tokenizer.model"), std::string::npos);
  EXPECT_FALSE(Tokenizer::load("").ok());
}

TEST(TokenizerErrors, MalformedJson) {
  for (std::string_view text : {"", "{", "{\"model\": ", "[1, 2]", "null", "{\"model\": {\"type\": \"BPE\"}}"}) {
    auto t = Tokenizer::from_json(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_NE(t.status().message().find("tokenizer.json"), std::string::npos) << t.status().message();
  }
  auto t = Tokenizer::from_json("{\"model\": ");
  EXPECT_NE(t.status().message().find("malformed JSON"), std::string::npos);
}

TEST(TokenizerErrors, UnsupportedModelTypes) {
  for (const char* type : {"WordPiece", "Unigram", "WordLevel"}) {
    json j = tiny_tokenizer();
    j["model"]["type"] = type;
    const Status st = load_error(j);
    EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
    EXPECT_NE(st.message().find(std::string("unsupported tokenizer model type '") + type + "' (supported: BPE)"),
              std::string::npos)
        << st.message();
  }
}

TEST(TokenizerErrors, UnknownComponentsNameTypeAndPath) {
  struct Case {
    const char* key;
    json value;
    const char* expect;
  };
  const Case cases[] = {
      {"normalizer", json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Foo"}]})"),
       "normalizer.normalizers[1].type: unsupported normalizer type 'Foo'"},
      {"pre_tokenizer", json::parse(R"({"type": "Sequence", "pretokenizers": [{"type": "Bar"}]})"),
       "pre_tokenizer.pretokenizers[0].type: unsupported pre-tokenizer type 'Bar'"},
      {"decoder", json::parse(R"({"type": "CTC"})"), "decoder.type: unsupported decoder type 'CTC'"},
      {"post_processor", json::parse(R"({"type": "Baz"})"),
       "post_processor.type: unsupported post-processor type 'Baz'"},
      {"pre_tokenizer",
       json::parse(R"({"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false})"),
       "pre_tokenizer.pattern: invalid regex '(unclosed'"},
      {"pre_tokenizer",
       json::parse(R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways", "invert": false})"),
       "pre_tokenizer.behavior: unknown split behavior 'Sideways'"},
      {"normalizer", json::parse(R"({"type": "Replace", "pattern": {"Glob": "*"}, "content": ""})"),
       "normalizer.pattern"},
      {"normalizer", json::parse(R"({"type": "Prepend"})"), "normalizer.prepend: missing required field"},
      {"normalizer", json::parse(R"({"kind": "NFC"})"), "normalizer.type: missing required field"},
      {"decoder", json::parse(R"({"type": "Strip", "content": "ab", "start": 1, "stop": 0})"),
       "decoder.content: expected a single character"},
      {"post_processor",
       json::parse(
           R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}})"),
       "special token '<x>' is missing"},
  };
  for (const Case& c : cases) {
    json j = tiny_tokenizer();
    j[c.key] = c.value;
    const Status st = load_error(j);
    ASSERT_FALSE(st.ok()) << c.expect;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
  }
}

TEST(TokenizerErrors, BadModelFields) {
  json j = tiny_tokenizer();
  j["model"]["merges"] = json::array({"a c"});
  EXPECT_NE(load_error(j).message().find("model.merges[0]"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["merges"] = json::array({"a b c"});
  EXPECT_NE(load_error(j).message().find("model.merges[0]"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["vocab"] = json::array({"a"});
  EXPECT_NE(load_error(j).message().find("model.vocab"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["vocab"]["x"] = "seven";
  EXPECT_NE(load_error(j).message().find("model.vocab.x"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["unk_token"] = "<unk>";
  EXPECT_NE(load_error(j).message().find("unk token '<unk>' is not in the vocabulary"), std::string::npos);
  j = tiny_tokenizer();
  j["added_tokens"][0]["content"] = 7;
  EXPECT_NE(load_error(j).message().find("added_tokens[0].content"), std::string::npos);
}

TEST(TokenizerErrors, BadConfigFiles) {
  const std::string tok = tiny_tokenizer().dump();
  auto t = Tokenizer::from_json(tok, "{not json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("tokenizer_config.json"), std::string::npos);
  t = Tokenizer::from_json(tok, R"({"bos_token": 5})");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("bos_token"), std::string::npos);
  t = Tokenizer::from_json(tok, {}, R"({"eos_token_id": "x"})");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("generation_config.json: eos_token_id"), std::string::npos);
}

TEST(TokenizerErrors, InvalidUtf8Input) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump());
  ASSERT_TRUE(t.ok()) << t.status().message();
  for (std::string_view bad : {std::string_view("ab\xFF"), std::string_view("\xC3"), std::string_view("\xED\xA0\x80"),
                               std::string_view("\xC0\xAF"), std::string_view("a\xF4\x90\x80\x80")}) {
    auto ids = (*t)->encode(bad, false);
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find("not valid UTF-8"), std::string::npos);
  }
  EXPECT_TRUE((*t)->encode(std::string_view("\0a", 2), false).ok());
}

TEST(TokenizerConfig, SpecialTokensAndGenerationConfig) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump(),
                                R"({"eos_token": {"content": "<eos>", "__type": "AddedToken"}, "bos_token": null,
                                    "model_max_length": 1e30, "clean_up_tokenization_spaces": true})",
                                R"({"eos_token_id": [7, 5, 7], "bos_token_id": 1})");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->eos_token(), "<eos>");
  EXPECT_EQ((*t)->eos_id(), 5);
  EXPECT_FALSE((*t)->bos_id().has_value());
  EXPECT_EQ((*t)->generation_eos_ids(), (std::vector<std::int32_t>{7, 5}));
  EXPECT_EQ((*t)->stop_ids(), (std::vector<std::int32_t>{5, 7}));
  EXPECT_EQ((*t)->model_max_length(), INT64_MAX);
  EXPECT_TRUE((*t)->clean_up_tokenization_spaces());
  EXPECT_TRUE((*t)->is_special(5));
  auto single = Tokenizer::from_json(tiny_tokenizer().dump(), {}, R"({"eos_token_id": 9})");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ((*single)->generation_eos_ids(), (std::vector<std::int32_t>{9}));
}

TEST(TokenizerConfig, LlamaClassRebuildsTemplateFromAddBosEos) {
  auto t = Tokenizer::from_json(tiny_tokenizer().dump(), R"({"tokenizer_class": "LlamaTokenizerFast",
      "bos_token": "a", "eos_token": "<eos>", "add_bos_token": true, "add_eos_token": true})");
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto ids = (*t)->encode("ab", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::int32_t>{0, 2, 5}));
  EXPECT_EQ(*(*t)->encode("ab", false), (std::vector<std::int32_t>{2}));
  auto missing = Tokenizer::from_json(tiny_tokenizer().dump(), R"({"tokenizer_class": "LlamaTokenizer"})");
  EXPECT_FALSE(missing.ok());  // add_bos_token defaults to true, and there is no bos token
}

TEST(TokenizerBasics, EmptyTextUnknownIdsAndThreads) {
  FERRITE_REQUIRE_SHARED();
  auto tok = shared_tokenizer("llama3_1");
  ASSERT_NE(tok, nullptr);
  EXPECT_TRUE(tok->encode("", false)->empty());
  EXPECT_EQ(*tok->encode("", true), (std::vector<std::int32_t>{128000}));
  const std::vector<std::int32_t> with_unknown = {9906, -5, 99999999, 1917};
  EXPECT_EQ(tok->decode(with_unknown, false), "Hello world");
  // Concurrent encodes share the word caches safely and agree with a serial encode.
  const auto rows = read_jsonl(data_dir() + "/llama3_1.jsonl");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (const json& row : rows)
        if (*tok->encode(row["text"].get<std::string>(), false) != to_ids(row["ids"])) ++mismatches;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// 1 MB of one repeated character, of spaces and of digits must not hit regex backtracking or a
// quadratic merge: the 1 MB encode takes less than 8x the 256 KB one (linear is 4x) and finishes
// within a generous bound. Thread CPU time keeps other processes on the machine out of it.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(TokenizerBasics, LongInputsTakeLinearTime) {
  FERRITE_REQUIRE_SHARED();
  for (const char* name : {"qwen3", "llama3_1", "mistral_v01"}) {
    auto tok = shared_tokenizer(name);
    ASSERT_NE(tok, nullptr);
    for (const char unit : {'a', ' ', '7'}) {
      const auto time_of = [&](std::size_t bytes) {
        const std::string text(bytes, unit);
        const double start = thread_seconds();
        auto ids = tok->encode(text, false);
        EXPECT_TRUE(ids.ok() && !ids->empty());
        return thread_seconds() - start;
      };
      const double small = std::min(time_of(256 * 1024), time_of(256 * 1024));
      const double large = time_of(1024 * 1024);
      const std::string what = std::string(name) + " x" + json(std::string(1, unit)).dump();
      EXPECT_LT(large, 30.0) << what;
      EXPECT_LT(large / std::max(small, 2e-3), 8.0) << what << ": " << small << "s vs " << large << "s";
    }
  }
}

}  // namespace
}  // namespace ferrite::tokenizer::testing
