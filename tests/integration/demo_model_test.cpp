// The shipped demo models (models/demo, models/demo-draft) against Hugging Face transformers:
// tests/data/demo/reference.json (tools/make_demo_reference.py) holds transformers' prompt ids
// (tokenizer and chat template) and greedy continuations; ferrite's engine must reproduce both
// from the same directories.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ferrite/engine.h"
#include "test_util.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;

std::string reference_path() { return testing::source_dir() + "/tests/data/demo/reference.json"; }

std::vector<std::int32_t> generate(Engine& engine, Prompt prompt, std::int64_t n, std::vector<std::int32_t>* prompt_ids) {
  static int counter = 0;
  GenerateRequest r;
  // A fresh id per request, so a failure names the case.
  r.request_id = "demo-" + std::to_string(counter++);
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.given.temperature = true;
  r.sampling.max_tokens = n;
  r.sampling.given.max_tokens = true;
  r.sampling.ignore_eos = true;
  auto stream = engine.submit(std::move(r));
  EXPECT_TRUE(stream.ok()) << stream.status().to_string();
  if (!stream.ok()) return {};
  std::vector<std::int32_t> ids;
  while (auto d = (*stream)->next()) ids.insert(ids.end(), d->token_ids.begin(), d->token_ids.end());
  *prompt_ids = (*stream)->prompt_info().prompt_token_ids;
  return ids;
}

TEST(DemoModel, MatchesTransformersTokenizationTemplateAndGreedy) {
  if (!fs::exists(reference_path())) GTEST_SKIP() << "no " << reference_path();
  const auto ref = nlohmann::ordered_json::parse(testing::read_text(reference_path()));
  const auto n = ref.at("max_new_tokens").get<std::int64_t>();
  ASSERT_GE(ref.at("models").size(), 2u);
  for (const auto& [rel, model] : ref.at("models").items()) {
    SCOPED_TRACE(rel);
    EngineConfig c;
    c.model_dir = testing::source_dir() + "/" + rel;
    c.num_threads = 2;
    c.show_progress = false;
    c.use_generation_config = false;  // plain greedy: generation_config.json's repetition penalty off
    auto engine = Engine::create(c);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    for (const auto& cs : model.at("cases")) {
      Prompt prompt;
      if (cs.contains("text")) {
        // transformers' ids for the text, without special tokens (the demo tokenizer adds none).
        prompt = cs.at("text").get<std::string>();
      } else {
        ChatPrompt chat;
        chat.messages = cs.at("messages");
        chat.add_generation_prompt = true;
        prompt = chat;
      }
      SCOPED_TRACE(cs.dump());
      std::vector<std::int32_t> prompt_ids;
      const auto got = generate(**engine, prompt, n, &prompt_ids);
      EXPECT_EQ(prompt_ids, cs.at("prompt_ids").get<std::vector<std::int32_t>>());
      EXPECT_EQ(got, cs.at("greedy_ids").get<std::vector<std::int32_t>>());
    }
    (*engine)->shutdown();
  }
}

}  // namespace
}  // namespace ferrite
