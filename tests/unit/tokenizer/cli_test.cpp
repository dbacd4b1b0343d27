// `ferrite tokenize` / `ferrite detokenize` run as a real process: output format, exit codes,
// and the bad-input cases. Expected ids and texts come from the library (checked against Python
// in tokenizer_vectors_test).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/unit/tokenizer/test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {
namespace {

struct RunResult {
  int code;
  std::string out;  // stdout and stderr together
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

RunResult run(const std::string& args, const std::string& stdin_path = "/dev/null") {
  const std::string cmd = quote(FERRITE_BINARY) + " " + args + " <" + quote(stdin_path) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string temp_file(const std::string& name, const std::string& contents) {
  const auto path = std::filesystem::temp_directory_path() / ("ferrite_cli_test_" + name);
  std::ofstream(path, std::ios::binary) << contents;
  return path.string();
}

std::string ids_line(const std::vector<std::int32_t>& ids) { return json{{"ids", ids}}.dump() + "\n"; }

TEST(TokenizeCli, Help) {
  for (const char* cmd : {"tokenize --help", "detokenize --help"}) {
    const RunResult r = run(cmd);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("usage: ferrite"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--tokenizer"), std::string::npos);
  }
}

TEST(TokenizeCli, UsageErrors) {
  RunResult r = run("tokenize --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown flag --bogus"), std::string::npos) << r.out;
  r = run("tokenize --text hi");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--tokenizer is required"), std::string::npos) << r.out;
  r = run("detokenize --tokenizer /nonexistent --ids 1,x");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("comma-separated integers"), std::string::npos) << r.out;
  r = run("tokenize --tokenizer /nonexistent/dir --text hi");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("/nonexistent/dir"), std::string::npos) << r.out;
  const std::string bad = temp_file("bad_tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
  r = run("tokenize --tokenizer " + quote(bad) + " --text hi");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("malformed JSON"), std::string::npos) << r.out;
  const std::string wordpiece = temp_file("wordpiece.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  r = run("tokenize --tokenizer " + quote(wordpiece) + " --text hi");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("unsupported tokenizer model type 'WordPiece' (supported: BPE)"), std::string::npos) << r.out;
}

class TokenizeCliShared : public ::testing::Test {
 protected:
  void SetUp() override { FERRITE_REQUIRE_SHARED(); }
};

TEST_F(TokenizeCliShared, TextStdinAndSpecialTokens) {
  auto tok = shared_tokenizer("llama3_1");
  const std::string dir = shared_tokenizer_dir("llama3_1");
  const std::string text = "Hello wörld — 你好 <|eot_id|> 12345";
  RunResult r = run("tokenize --tokenizer " + quote(dir) + " --text " + quote(text));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, ids_line(*tok->encode(text, false)));
  r = run("tokenize --tokenizer " + quote(dir) + " --add-special-tokens", temp_file("stdin.txt", text + "\n"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, ids_line(*tok->encode(text + "\n", true)));
  // A tokenizer.json path works as well as the directory.
  r = run("tokenize --tokenizer " + quote(dir + "/tokenizer.json") + " --text " + quote(text));
  EXPECT_EQ(r.out, ids_line(*tok->encode(text, false)));
}

TEST_F(TokenizeCliShared, Jsonl) {
  auto tok = shared_tokenizer("qwen3");
  const std::vector<std::string> texts = {"first line", "  spaces\tand\nnewlines ", "", "<|im_start|>x"};
  std::string input;
  for (const auto& t : texts) input += json{{"text", t}}.dump() + "\n";
  const RunResult r = run("tokenize --tokenizer " + quote(shared_tokenizer_dir("qwen3")) +
                          " --add-special-tokens --jsonl " + quote(temp_file("in.jsonl", input)));
  EXPECT_EQ(r.code, 0) << r.out;
  std::string expected;
  for (const auto& t : texts) expected += ids_line(*tok->encode(t, true));
  EXPECT_EQ(r.out, expected);
  const RunResult bad = run("tokenize --tokenizer " + quote(shared_tokenizer_dir("qwen3")) + " --jsonl " +
                            quote(temp_file("bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 1}\n")));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("bad.jsonl:2"), std::string::npos) << bad.out;
}

TEST_F(TokenizeCliShared, InvalidUtf8IsAnError) {
  const RunResult r =
      run("tokenize --tokenizer " + quote(shared_tokenizer_dir("qwen3")), temp_file("bad_utf8.txt", "ab\xFF\xFE"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("not valid UTF-8"), std::string::npos) << r.out;
}

TEST_F(TokenizeCliShared, Detokenize) {
  auto tok = shared_tokenizer("llama3_1");
  const auto ids = *tok->encode("Hello , world ! It 's <|eot_id|>", true);
  std::string list;
  for (std::int32_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  const std::string dir = quote(shared_tokenizer_dir("llama3_1"));
  // transformers' decode: Llama 3's config asks for the clean-up.
  RunResult r = run("detokenize --tokenizer " + dir + " --ids " + list);
  EXPECT_EQ(r.code, 0) << r.out;
  DecodeOptions tf;
  tf.clean_up_tokenization_spaces = true;
  const std::string cleaned = json{{"text", tok->decode(ids, tf)}}.dump() + "\n";
  EXPECT_EQ(r.out, cleaned);
  r = run("detokenize --tokenizer " + dir + " --skip-special-tokens --no-clean-up-tokenization-spaces --ids " + list);
  const std::string skipped = json{{"text", tok->decode(ids, true)}}.dump() + "\n";
  EXPECT_EQ(r.out, skipped);
  r = run("detokenize --tokenizer " + dir + " --ids 1,999999999");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("not in the vocabulary"), std::string::npos) << r.out;
  // A lone byte token decodes to U+FFFD, printed as raw UTF-8.
  auto mistral = shared_tokenizer("mistral_v01");
  r = run("detokenize --tokenizer " + quote(shared_tokenizer_dir("mistral_v01")) + " --ids " +
          std::to_string(*mistral->token_to_id("<0xFF>")));
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "{\"text\":\"\xEF\xBF\xBD\"}\n");
}

}  // namespace
}  // namespace ferrite::tokenizer::testing
