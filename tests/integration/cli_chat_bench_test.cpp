// `ferrite chat` and `ferrite bench` as a user runs them: the real binary, chat with piped input,
// bench in-process on a dummy-weight model and against a real `ferrite serve` on loopback.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string llama_dir() { return testing::source_dir() + "/tests/data/models/llama"; }
std::string qwen3_tokenizer() { return testing::shared_dir() + "/fixtures/tokenizers/qwen3"; }

// The fixture model's vocabulary is 512 ids: the template writes plain text only (Qwen3's own
// writes <|im_start|>, id 151644), and only the user turns, since a random model's reply
// re-tokenizes into merges outside those 512 ids.
const char* kUserTurnsTemplate =
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %} and{% endif %}";

// A dummy-weight model: the fixture's config.json alone.
std::string dummy_model_dir() {
  const std::string d = testing::make_temp_dir("bench-dummy");
  fs::copy_file(llama_dir() + "/config.json", d + "/config.json");
  return d;
}

void expect_bench_fields(const json& j) {
  for (const char* k : {"duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
                        "request_throughput", "output_throughput", "total_token_throughput"})
    EXPECT_TRUE(j.contains(k)) << k << " in " << j.dump();
  for (const char* m : {"ttft", "tpot", "itl", "e2el"})
    for (const char* s : {"mean_", "median_", "p90_", "p99_"}) {
      const std::string key = std::string(s) + m + "_ms";
      ASSERT_TRUE(j.contains(key)) << key;
      EXPECT_TRUE(j.at(key).is_number()) << key;
      EXPECT_GE(j.at(key).get<double>(), 0.0) << key;
    }
}

TEST(ChatCli, InProcessTwoTurnsFromPipedInput) {
  if (!fs::exists(qwen3_tokenizer() + "/tokenizer.json"))
    GTEST_SKIP() << "../shared fixtures are absent (the Qwen3 tokenizer)";
  const std::string tmp = testing::make_temp_dir("chat");
  std::ofstream(tmp + "/template.jinja") << kUserTurnsTemplate;
  const auto r =
      testing::run_command("printf 'in the\\n/reset\\nand the\\n/exit\\nnever sent\\n' | " + testing::ferrite_binary() +
                           " chat " + llama_dir() + " --tokenizer " + qwen3_tokenizer() + " --chat-template " + tmp +
                           "/template.jinja --max-tokens 6 --temperature 0 --system 'in'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("history cleared"), std::string::npos) << r.err;
  fs::remove_all(tmp);
}

// Without a model argument `ferrite chat` (and `serve`) use the shipped demo model; its greedy
// reply is transformers' (tests/data/demo/reference.json) up to the end of the turn.
TEST(ChatCli, DefaultsToTheDemoModel) {
  const std::string ref_path = testing::source_dir() + "/tests/data/demo/reference.json";
  if (!fs::exists(ref_path)) GTEST_SKIP() << "no " << ref_path;
  const json ref = json::parse(testing::read_text(ref_path));
  std::string expected;
  for (const auto& c : ref.at("models").at("models/demo").at("cases"))
    if (c.contains("messages") && c.at("messages").size() == 1 &&
        c.at("messages")[0].at("content") == "Hello! How are you today?")
      expected = c.at("greedy_text").get<std::string>();
  ASSERT_FALSE(expected.empty());
  expected = expected.substr(0, expected.find("<|im_end|>"));
  const auto r = testing::run_command("printf 'Hello! How are you today?\\n' | env -u FERRITE_DEMO_MODEL " +
                                      testing::ferrite_binary() + " chat --temperature 0 --generation-config vllm");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(expected), std::string::npos) << "expected '" << expected << "' in: " << r.out;
  const auto bad = testing::run_command("FERRITE_DEMO_MODEL=/nonexistent/demo " + testing::ferrite_binary() +
                                        " serve --port 0");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("no demo model found"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("/nonexistent/demo"), std::string::npos) << bad.err;
}

TEST(ChatCli, ARequestErrorIsReportedAndTheChatGoesOn) {
  if (!fs::exists(qwen3_tokenizer() + "/tokenizer.json"))
    GTEST_SKIP() << "../shared fixtures are absent (the Qwen3 tokenizer)";
  const std::string tmp = testing::make_temp_dir("chat-err");
  std::ofstream(tmp + "/template.jinja") << kUserTurnsTemplate;
  // "Hello" tokenizes outside the fixture's 512-id vocabulary: that turn fails, the next one works.
  const auto r = testing::run_command("printf 'Hello\\nin the\\n' | " + testing::ferrite_binary() + " chat " +
                                      llama_dir() + " --tokenizer " + qwen3_tokenizer() + " --chat-template " + tmp +
                                      "/template.jinja --max-tokens 4");
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("outside the vocabulary"), std::string::npos) << r.err;
  fs::remove_all(tmp);
}

TEST(BenchCli, InProcessDummyWeights) {
  const std::string dir = dummy_model_dir();
  const auto r =
      testing::run_command(testing::ferrite_binary() + " bench throughput --model " + dir +
                           " --load-format dummy --num-prompts 6 --input-len 8 --output-len 5 --max-concurrency 3"
                           " --request-rate 200 --seed 3 --json " +
                           dir + "/out.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  expect_bench_fields(j);
  EXPECT_EQ(j.at("completed"), 6);
  EXPECT_EQ(j.at("failed"), 0);
  EXPECT_EQ(j.at("total_input_tokens"), 6 * 8);
  EXPECT_EQ(j.at("total_output_tokens"), 6 * 5);
  EXPECT_EQ(json::parse(testing::read_text(dir + "/out.json")), j);
  fs::remove_all(dir);
}

TEST(BenchCli, LatencyTimesFixedBatches) {
  const std::string dir = dummy_model_dir();
  const auto r = testing::run_command(testing::ferrite_binary() + " bench latency --model " + dir +
                                      " --load-format dummy --batch-size 3 --input-len 8 --output-len 4"
                                      " --num-iters-warmup 1 --num-iters 4 --json " + dir + "/lat.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("mode"), "latency");
  EXPECT_EQ(j.at("batch_size"), 3);
  ASSERT_EQ(j.at("latencies").size(), 4u);
  double sum = 0, lo = 1e9, hi = 0;
  for (const auto& v : j.at("latencies")) {
    EXPECT_GT(v.get<double>(), 0);
    sum += v.get<double>();
    lo = std::min(lo, v.get<double>());
    hi = std::max(hi, v.get<double>());
  }
  EXPECT_NEAR(j.at("avg_latency").get<double>(), sum / 4, 1e-9);
  for (const char* q : {"10", "50", "99"}) {
    EXPECT_GE(j.at("percentiles").at(q).get<double>(), lo);
    EXPECT_LE(j.at("percentiles").at(q).get<double>(), hi);
  }
  EXPECT_NEAR(j.at("output_throughput").get<double>(), 3 * 4 / j.at("avg_latency").get<double>(), 1e-6);
  EXPECT_EQ(json::parse(testing::read_text(dir + "/lat.json")), j);
  auto bad = testing::run_command(testing::ferrite_binary() + " bench latency --model " + dir +
                                  " --load-format dummy --batch-size 0");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--batch-size"), std::string::npos) << bad.err;
  bad = testing::run_command(testing::ferrite_binary() + " bench latency --url http://127.0.0.1:1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("in-process"), std::string::npos) << bad.err;
  fs::remove_all(dir);
}

TEST(BenchCli, DatasetPromptsInTurn) {
  const std::string dir = dummy_model_dir();
  std::ofstream(dir + "/set.jsonl") << "{\"prompt\": [1, 2, 3]}\n\n{\"prompt\": [4, 5, 6, 7, 8]}\n";
  const auto r = testing::run_command(testing::ferrite_binary() + " bench throughput --model " + dir +
                                      " --load-format dummy --num-prompts 5 --output-len 4 --dataset-path " + dir +
                                      "/set.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("dataset_prompts"), 2);
  EXPECT_EQ(j.at("total_input_tokens"), 3 + 5 + 3 + 5 + 3);  // taken in turn
  EXPECT_EQ(j.at("total_output_tokens"), 5 * 4);
  std::ofstream(dir + "/bad.jsonl") << "{\"prompt\": [1]}\n{\"text\": \"x\"}\n";
  const auto bad = testing::run_command(testing::ferrite_binary() + " bench throughput --model " + dir +
                                        " --load-format dummy --dataset-path " + dir + "/bad.jsonl");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("line 2"), std::string::npos) << bad.err;
  fs::remove_all(dir);
}

TEST(BenchCli, RefusesBadFlagsAndRemoteUrls) {
  auto r = testing::run_command(testing::ferrite_binary() + " bench --url http://10.1.2.3:8000");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loopback"), std::string::npos) << r.err;
  r = testing::run_command(testing::ferrite_binary() + " bench --model " + llama_dir() + " --request-rate -1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--request-rate"), std::string::npos) << r.err;
  r = testing::run_command(testing::ferrite_binary() + " bench --url http://127.0.0.1:1 --num-prompts 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no server"), std::string::npos) << r.err;
}

// Starts `ferrite serve` on a free loopback port (read back from its ready line).
struct ServeProcess {
  pid_t pid = -1;
  int port = 0;
  std::string log;
  std::string model = llama_dir();

  void start(const std::vector<std::string>& extra) {
    const std::string dir = testing::make_temp_dir("bench-serve");
    log = dir + "/log";
    std::vector<std::string> argv = {"ferrite", "serve", model, "--port", "0", "--served-model-name", "tiny"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 2);
      dup2(fd, 1);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(testing::ferrite_binary().c_str(), cargv.data());
      _exit(127);
    }
    std::string text;
    for (int i = 0; i < 300 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      text = testing::read_text(log);
      const auto p = text.find("on http://127.0.0.1:");
      if (p != std::string::npos) port = std::stoi(text.substr(p + 20));
    }
    ASSERT_GT(port, 0) << text;
  }
  ~ServeProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

TEST(BenchCli, AgainstFerriteServe) {
  ServeProcess s;
  ASSERT_NO_FATAL_FAILURE(s.start({}));
  const auto r =
      testing::run_command(testing::ferrite_binary() + " bench serve --url http://127.0.0.1:" + std::to_string(s.port) +
                           " --model tiny --num-prompts 12 --random-input-len 10 --random-output-len 6"
                           " --max-concurrency 4 --request-rate 400");
  ASSERT_EQ(r.exit_code, 0) << r.err << "\nserver log:\n" << testing::read_text(s.log);
  const json j = json::parse(r.out);
  expect_bench_fields(j);
  EXPECT_EQ(j.at("completed"), 12);
  EXPECT_EQ(j.at("failed"), 0);
  EXPECT_EQ(j.at("total_output_tokens"), 12 * 6);
  EXPECT_GT(j.at("mean_itl_ms").get<double>(), 0.0);
}

TEST(ChatCli, AgainstFerriteServe) {
  if (!fs::exists(qwen3_tokenizer() + "/tokenizer.json"))
    GTEST_SKIP() << "../shared fixtures are absent (the Qwen3 tokenizer)";
  const std::string tmp = testing::make_temp_dir("chat-url");
  std::ofstream(tmp + "/template.jinja") << kUserTurnsTemplate;
  ServeProcess s;
  ASSERT_NO_FATAL_FAILURE(s.start({"--tokenizer", qwen3_tokenizer(), "--chat-template", tmp + "/template.jinja"}));
  const auto r = testing::run_command("printf 'in the\\nand the\\n' | " + testing::ferrite_binary() +
                                      " chat --url http://127.0.0.1:" + std::to_string(s.port) +
                                      " --model tiny --max-tokens 5 --temperature 0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
  fs::remove_all(tmp);
}

// Speculative decoding through the real binary with the demo target/draft pair: `generate` and
// `serve` (answering `ferrite chat --url`) give the same greedy output as without it, both methods
// speculate (bench reports the acceptance), and a bad --speculative-config is refused.
TEST(SpeculativeCli, GenerateAndServeMatchPlainDecoding) {
  const std::string demo = testing::source_dir() + "/models/demo";
  const std::string draft = testing::source_dir() + "/models/demo-draft";
  if (!fs::exists(demo + "/model.safetensors")) GTEST_SKIP() << "models/demo is absent";
  const std::vector<std::pair<std::string, std::string>> configs = {
      {"plain", ""},
      {"ngram", R"({"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_min": 1, "prompt_lookup_max": 3})"},
      {"draft_model", R"({"method": "draft_model", "model": ")" + draft + R"(", "num_speculative_tokens": 3})"},
  };
  auto flag = [](const std::string& c) { return c.empty() ? std::string() : " --speculative-config '" + c + "'"; };
  const std::string prompt = "Elizabeth said to her sister that Mr. Darcy was the proudest man. Elizabeth said";
  json plain_gen;
  std::string plain_chat;
  for (const auto& [name, config] : configs) {
    const auto g = testing::run_command(testing::ferrite_binary() + " generate " + demo + " --prompt '" + prompt +
                                        "' --max-tokens 48 --json" + flag(config));
    ASSERT_EQ(g.exit_code, 0) << name << ": " << g.err;
    const json j = json::parse(g.out);
    ASSERT_EQ(j.at("token_ids").size(), 48u) << name;
    if (name == "plain") plain_gen = j;
    EXPECT_EQ(j.at("token_ids"), plain_gen.at("token_ids")) << name;
    EXPECT_EQ(j.at("text"), plain_gen.at("text")) << name;

    ServeProcess s;
    s.model = demo;
    std::vector<std::string> extra;
    if (!config.empty()) extra = {"--speculative-config", config};
    ASSERT_NO_FATAL_FAILURE(s.start(extra));
    const std::string url = " --url http://127.0.0.1:" + std::to_string(s.port) + " --model tiny";
    const auto chat = testing::run_command("printf 'Where is the book?\\n' | " + testing::ferrite_binary() + " chat" +
                                           url + " --max-tokens 24 --temperature 0");
    ASSERT_EQ(chat.exit_code, 0) << name << ": " << chat.err;
    if (name == "plain") plain_chat = chat.out;
    EXPECT_FALSE(plain_chat.empty());
    EXPECT_EQ(chat.out, plain_chat) << name;
    const auto b = testing::run_command(testing::ferrite_binary() + " bench serve" + url +
                                        " --num-prompts 4 --random-input-len 16 --random-output-len 16 --vocab-size 300");
    ASSERT_EQ(b.exit_code, 0) << name << ": " << b.err;
    const json bj = json::parse(b.out);
    EXPECT_EQ(bj.at("completed"), 4);
    if (name == "plain") {
      EXPECT_FALSE(bj.contains("spec_decode"));
    } else {
      ASSERT_TRUE(bj.contains("spec_decode")) << name << ": " << b.out;
      EXPECT_GT(bj["spec_decode"]["num_drafts"].get<std::int64_t>(), 0);
      EXPECT_GE(bj["spec_decode"]["mean_acceptance_length"].get<double>(), 1.0);
    }
  }
  const auto bad = testing::run_command(testing::ferrite_binary() + " generate " + demo +
                                        R"( --prompt hi --speculative-config '{"method": "eagle", "num_speculative_tokens": 2}')");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("unsupported method 'eagle'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ferrite
