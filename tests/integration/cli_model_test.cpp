// The `ferrite generate` and `ferrite info` commands as a user runs them: the real binary on
// real model directories, good and broken.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "test_util.h"
#include "unit/model/bad_model_dirs.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;

std::string join_ids(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(ids[i]));
  }
  return s;
}

TEST(GenerateCli, MatchesReferenceGreedyIds) {
  const std::string dir = testing::source_dir() + "/tests/data/models/llama";
  if (!fs::exists(dir + "/reference.json")) GTEST_SKIP() << "reference fixture " << dir << " is absent";
  const auto ref = nlohmann::json::parse(testing::read_text(dir + "/reference.json"));
  const auto& c = ref.at("cases").at(1);
  const auto prompt = c.at("prompt_ids").get<std::vector<std::int32_t>>();
  const auto want = c.at("greedy_ids").get<std::vector<std::int32_t>>();
  const auto r = testing::run_command(testing::ferrite_binary() + " generate --model " + dir + " --prompt-ids " +
                                      join_ids(prompt) + " --max-tokens " + std::to_string(want.size()) +
                                      " --ignore-eos --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out.at("token_ids").get<std::vector<std::int32_t>>(), want);
}

TEST(GenerateCli, OfflineJsonlKeepsInputOrderAndReportsBadLines) {
  const std::string dir = testing::source_dir() + "/tests/data/models/llama";
  if (!fs::exists(dir + "/reference.json")) GTEST_SKIP() << "reference fixture " << dir << " is absent";
  const auto ref = nlohmann::json::parse(testing::read_text(dir + "/reference.json"));
  const std::string tmp = testing::make_temp_dir("offline");
  {
    std::ofstream in(tmp + "/in.jsonl");
    for (const auto& c : ref.at("cases"))
      in << nlohmann::json{{"prompt", c.at("prompt_ids")}, {"max_tokens", 32}, {"temperature", 0}, {"ignore_eos", true}}.dump()
         << "\n";
    in << "{not json\n";
    in << R"({"prompt": [1, 2], "temperature": -3})" << "\n";
  }
  const auto r = testing::run_command(testing::ferrite_binary() + " generate --model " + dir + " --input " + tmp +
                                      "/in.jsonl --output " + tmp + "/out.jsonl");
  EXPECT_FALSE(r.signaled);
  EXPECT_NE(r.exit_code, 0) << "two lines failed";
  EXPECT_NE(r.err.find("generated tokens/s"), std::string::npos) << r.err;
  std::ifstream out(tmp + "/out.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string l; std::getline(out, l);) lines.push_back(nlohmann::json::parse(l));
  const std::size_t n = ref.at("cases").size();
  ASSERT_EQ(lines.size(), n + 2);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(lines[i].at("id"), std::to_string(i));
    EXPECT_EQ(lines[i].at("token_ids"), ref.at("cases").at(i).at("greedy_ids"));
    EXPECT_EQ(lines[i].at("finish_reason"), "length");
  }
  EXPECT_NE(lines[n].at("error").get<std::string>().find("not valid JSON"), std::string::npos);
  EXPECT_NE(lines[n + 1].at("error").get<std::string>().find("temperature"), std::string::npos);
  fs::remove_all(tmp);
}

TEST(GenerateCli, TinyModelRunsAndStopsAtMaxTokens) {
  const std::string dir = testing::make_temp_dir("tiny");
  test::write_tiny_model_dir(dir);
  const auto r = testing::run_command(testing::ferrite_binary() + " generate " + dir +
                                      " --prompt-ids 1,5,9 --max-tokens 7 --ignore-eos --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("token_ids").size(), 7u);
  fs::remove_all(dir);
}

TEST(GenerateCli, EveryBadModelDirectoryGivesItsClearError) {
  for (const auto& bc : test::bad_model_cases()) {
    const std::string dir = testing::make_temp_dir(bc.name);
    test::write_bad_model_dir(dir, bc.c);
    const auto r = testing::run_command(testing::ferrite_binary() + " generate --model " + dir +
                                        " --prompt-ids 1,2 --max-tokens 2");
    EXPECT_FALSE(r.signaled) << bc.name << " crashed: " << r.err;
    EXPECT_NE(r.exit_code, 0) << bc.name;
    EXPECT_NE(r.err.find(bc.expected), std::string::npos) << bc.name << ": stderr was: " << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << bc.name;
    fs::remove_all(dir);
  }
}

TEST(GenerateCli, BadFlagsAndPromptsAreRejected) {
  const std::string dir = testing::make_temp_dir("tinyflags");
  test::write_tiny_model_dir(dir);
  const std::string bin = testing::ferrite_binary();
  struct Bad {
    std::string args;
    std::string expected;
  };
  const Bad cases[] = {
      {"generate " + dir + " --prompt-ids 1,2 --bogus", "unknown flag --bogus"},
      {"generate " + dir + " --prompt-ids 1,x", "expected comma-separated integers"},
      {"generate " + dir + " --prompt-ids 1,64", "outside the vocabulary"},
      {"generate " + dir + " --prompt-ids -3", "out of range"},
      {"generate " + dir + " --prompt-ids 1 --max-tokens -1", "--max-tokens"},
      {"generate " + dir + " --prompt-ids 1 --dtype int8", "--dtype"},
      {"generate " + dir + " --prompt-ids 1 --load-format pickle", "unknown load format"},
      {"generate " + dir, "no prompt given"},
      {"generate --prompt-ids 1", "no model given"},
      {"frobnicate", "unknown command"},
  };
  for (const auto& c : cases) {
    const auto r = testing::run_command(bin + " " + c.args);
    EXPECT_FALSE(r.signaled) << c.args;
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.args << ": " << r.err;
  }
  for (const std::string cmd : {"generate", "info", "tokenize", "detokenize", "render-chat"}) {
    const auto r = testing::run_command(bin + " " + cmd + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("usage: ferrite " + cmd), std::string::npos) << cmd;
  }
  fs::remove_all(dir);
}

TEST(InfoCli, DescribesModel) {
  const std::string dir = testing::make_temp_dir("tinyinfo");
  test::write_tiny_model_dir(dir);
  const auto r = testing::run_command(testing::ferrite_binary() + " info --model " + dir + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("architecture"), "LlamaForCausalLM");
  // Count the parameters the fixture writer actually wrote, independently of ferrite's formula.
  std::int64_t written = 0;
  for (const auto& [name, shape] : test::tiny_llama_weight_shapes()) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    written += n;
  }
  EXPECT_EQ(j.at("parameters").get<std::int64_t>(), written);
  EXPECT_EQ(j.at("dtype"), "float32");
  fs::remove_all(dir);
}

// DeepSeek: the parameter count is every tensor in the fixture's checkpoint (transformers wrote it),
// and the KV cache per token is the MLA latent and rope key per layer, not per-head K and V.
TEST(InfoCli, DescribesMlaModel) {
  const std::string dir = testing::source_dir() + "/tests/data/models/deepseek_v3";
  const auto r = testing::run_command(testing::ferrite_binary() + " info --model " + dir + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("architecture"), "DeepseekV3ForCausalLM");
  auto store = model::WeightStore::open(dir);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  std::int64_t written = 0;
  for (const auto& name : store->names()) written += store->info(name)->shape.numel();
  EXPECT_EQ(j.at("parameters").get<std::int64_t>(), written);
  const auto cfg = nlohmann::json::parse(testing::read_text(dir + "/config.json"));
  EXPECT_EQ(j.at("kv_cache_bytes_per_token").get<double>(),
            static_cast<double>(cfg.at("num_hidden_layers").get<std::int64_t>() *
                                (cfg.at("kv_lora_rank").get<std::int64_t>() + cfg.at("qk_rope_head_dim").get<std::int64_t>()) * 4));
}

TEST(GenerateCli, DummyWeightsAreDeterministic) {
  const std::string dir = testing::make_temp_dir("dummy");
  std::ofstream(dir + "/config.json") << test::tiny_llama_config_json();
  const std::string cmd = testing::ferrite_binary() + " generate " + dir +
                          " --load-format dummy --prompt-ids 3,4,5 --max-tokens 6 --ignore-eos --json";
  const auto a = testing::run_command(cmd), b = testing::run_command(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  const auto c = testing::run_command(cmd + " --seed 7");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ferrite
