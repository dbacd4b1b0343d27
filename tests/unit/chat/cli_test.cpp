// `ferrite render-chat`, run as a real process (FERRITE_BINARY).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "unit/chat/chat_test_util.h"

namespace ferrite::chat {
namespace {

using Json = nlohmann::ordered_json;

struct ProcessResult {
  int code = -1;
  std::string out;
};

ProcessResult run(const std::string& args) {
  const std::string cmd = std::string(FERRITE_BINARY) + " render-chat " + args + " 2>&1";
  ProcessResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("ferrite_cli_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

TEST(RenderChatCli, MatchesTransformersVector) {
  if (!testing::shared_fixtures_present("qwen3")) GTEST_SKIP() << "shared fixtures absent";
  for (const auto& rec : testing::read_jsonl(testing::data_path("qwen3.jsonl"))) {
    const std::string name = rec["name"].get<std::string>();
    if (name != "tool_calls/agp=1" && name != "enable_thinking_false/agp=1" && name != "unicode/agp=0") continue;
    std::string args = "--tokenizer " + testing::tokenizer_dir("qwen3") + " --messages " +
                       write_temp("messages.json", rec["messages"].dump());
    if (!rec["tools"].is_null()) args += " --tools " + write_temp("tools.json", rec["tools"].dump());
    if (rec["add_generation_prompt"].get<bool>()) args += " --add-generation-prompt";
    if (!rec["kwargs"].empty()) args += " --kwargs '" + rec["kwargs"].dump() + "'";
    const ProcessResult r = run(args);
    ASSERT_EQ(r.code, 0) << name << ": " << r.out;
    const Json out = Json::parse(r.out);
    EXPECT_EQ(out["prompt"], rec["prompt"]) << name;
    EXPECT_EQ(r.out.find("\\u"), std::string::npos) << "UTF-8 must not be escaped: " << r.out;
  }
}

TEST(RenderChatCli, InlineTemplateOverride) {
  const std::string msgs = write_temp("m.json", R"([{"role": "user", "content": "héllo"}])");
  const ProcessResult r = run("--messages " + msgs +
                              " --chat-template '{{ messages[0].content|upper }}{{ flag }}' --kwargs '{\"flag\": 1}'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "{\"prompt\":\"HÉLLO1\"}\n");
}

TEST(RenderChatCli, HelpAndErrors) {
  const ProcessResult help = run("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--chat-template"), std::string::npos);
  const std::string msgs = write_temp("m2.json", R"([{"role": "user", "content": "x"}])");
  EXPECT_NE(run("--bogus").code, 0);
  EXPECT_NE(run("--messages " + msgs).code, 0);  // no template
  const ProcessResult missing = run("--messages /no/such.json --chat-template '{{ 1 }}'");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("/no/such.json"), std::string::npos) << missing.out;
  const std::string bad = write_temp("bad.json", "[{");
  EXPECT_NE(run("--messages " + bad + " --chat-template '{{ 1 }}'").code, 0);
  const ProcessResult syntax = run("--messages " + msgs + " --chat-template '{% if %}'");
  EXPECT_NE(syntax.code, 0);
  EXPECT_NE(syntax.out.find("line 1, column"), std::string::npos) << syntax.out;
  const ProcessResult raised = run("--messages " + msgs + " --chat-template \"{{ raise_exception('nope!') }}\"");
  EXPECT_NE(raised.code, 0);
  EXPECT_NE(raised.out.find("nope!"), std::string::npos) << raised.out;
  if (testing::shared_fixtures_present("mistral_v01")) {
    const ProcessResult none = run("--tokenizer " + testing::tokenizer_dir("mistral_v01") + " --messages " + msgs);
    EXPECT_NE(none.code, 0);
    EXPECT_NE(none.out.find("no chat template"), std::string::npos) << none.out;
  }
}

}  // namespace
}  // namespace ferrite::chat
