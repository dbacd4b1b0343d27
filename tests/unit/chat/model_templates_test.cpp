// The real templates of tests' shared tokenizer fixtures (Qwen3, Llama 3.1), loaded from their
// tokenizer_config.json, against transformers' apply_chat_template (tests/data/chat/<model>.jsonl)
// and against the shared reference_chat.jsonl (made with @huggingface/jinja; Python wins where
// the two disagree, and the disagreements are printed).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "chat/chat_template.h"
#include "unit/chat/chat_test_util.h"

namespace ferrite::chat {
namespace {

using Json = nlohmann::ordered_json;
using testing::data_path;
using testing::read_jsonl;
using testing::shared_fixtures_present;
using testing::tokenizer_dir;

ChatRequest request_of(const Json& rec) {
  ChatRequest req;
  req.messages = rec["messages"];
  if (rec.contains("tools") && !rec["tools"].is_null()) req.tools = rec["tools"];
  if (rec.contains("documents") && !rec["documents"].is_null()) req.documents = rec["documents"];
  req.add_generation_prompt = rec["add_generation_prompt"].get<bool>();
  if (rec.contains("kwargs")) req.kwargs = rec["kwargs"];
  return req;
}

std::string key_of(const Json& messages, const Json& tools, bool agp) {
  return messages.dump() + "|" + (tools.is_null() ? "null" : tools.dump()) + "|" + (agp ? "1" : "0");
}

class ModelTemplates : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelTemplates, MatchTransformers) {
  const std::string model = GetParam();
  if (!shared_fixtures_present(model)) GTEST_SKIP() << "shared fixtures absent: " << tokenizer_dir(model);
  auto set = load_chat_templates(tokenizer_dir(model));
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  const auto recs = read_jsonl(data_path(model + ".jsonl"));
  ASSERT_FALSE(recs.empty());
  int matched = 0, total = 0;
  for (const auto& rec : recs) {
    ++total;
    const std::string name = rec["name"].get<std::string>();
    auto got = set->apply(request_of(rec));
    if (rec.contains("error")) {
      EXPECT_FALSE(got.ok()) << name << ": Python fails with " << rec["error"] << " but this rendered";
      if (!got.ok()) ++matched;
      continue;
    }
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().to_string();
    const std::string want = rec["prompt"].get<std::string>();
    EXPECT_EQ(*got, want) << name;
    if (*got == want) ++matched;
  }
  std::printf("[chat] %s: %d/%d renders match transformers %s\n", model.c_str(), matched, total, "apply_chat_template");
}

TEST_P(ModelTemplates, SharedReferenceChat) {
  const std::string model = GetParam();
  const std::string ref_path = tokenizer_dir(model) + "/reference_chat.jsonl";
  if (!shared_fixtures_present(model)) GTEST_SKIP() << "shared fixtures absent: " << tokenizer_dir(model);
  auto set = load_chat_templates(tokenizer_dir(model));
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  std::map<std::string, std::string> python;
  for (const auto& rec : read_jsonl(data_path(model + ".jsonl")))
    if (rec.contains("prompt") && rec["kwargs"].empty())
      python[key_of(rec["messages"], rec["tools"], rec["add_generation_prompt"].get<bool>())] = rec["prompt"];
  int agree = 0, disagree = 0, n = 0;
  for (const auto& ref : read_jsonl(ref_path)) {
    ++n;
    const bool agp = ref["add_generation_prompt"].get<bool>();
    const Json tools = ref.contains("tools") ? ref["tools"] : Json();
    auto it = python.find(key_of(ref["messages"], tools, agp));
    ASSERT_NE(it, python.end()) << "reference line " << n << " has no Python vector; rerun tools/make_chat_vectors.py";
    auto got = set->apply(request_of(ref));
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_EQ(*got, it->second) << "reference line " << n << ": differs from Python";
    if (ref["rendered"].get<std::string>() == it->second) {
      ++agree;
    } else {
      ++disagree;
      std::printf("[chat] %s reference line %d: @huggingface/jinja and transformers disagree (Python wins)\n",
                  model.c_str(), n);
    }
  }
  std::printf("[chat] %s: %d/%d shared reference renders agree with Python, %d disagree\n", model.c_str(), agree, n,
              disagree);
}

INSTANTIATE_TEST_SUITE_P(Chat, ModelTemplates, ::testing::Values("qwen3", "llama3_1"));

}  // namespace
}  // namespace ferrite::chat
