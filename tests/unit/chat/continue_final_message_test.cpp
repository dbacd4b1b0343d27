// continue_final_message against transformers' apply_chat_template
// (tests/data/chat/continue_final_message.json, made by tools/make_continue_vectors.py): the render
// ends inside the final message, trailing whitespace kept only where the template kept it, and
// the inputs transformers refuses are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat_test_util.h"

namespace ferrite::chat {
namespace {

std::string template_dir(const std::string& model) {
  if (model == "demo") return std::string(FERRITE_SOURCE_DIR) + "/models/demo";
  return testing::tokenizer_dir(model);
}

TEST(ContinueFinalMessage, MatchesTransformers) {
  std::ifstream in(testing::data_path("continue_final_message.json"));
  ASSERT_TRUE(in) << "no " << testing::data_path("continue_final_message.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto ref = nlohmann::ordered_json::parse(ss.str());
  int checked = 0;
  for (const auto& c : ref.at("cases")) {
    const std::string model = c.at("model").get<std::string>();
    if (!std::filesystem::exists(template_dir(model) + "/tokenizer_config.json")) continue;  // shared fixture absent
    SCOPED_TRACE(c.dump());
    auto set = load_chat_templates(template_dir(model));
    ASSERT_TRUE(set.ok()) << set.status().to_string();
    ChatRequest req;
    req.messages = c.at("messages");
    req.continue_final_message = true;
    req.add_generation_prompt = c.value("add_generation_prompt", false);
    auto got = set->apply(req);
    if (c.contains("rendered")) {
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, c.at("rendered").get<std::string>());
    } else {
      EXPECT_FALSE(got.ok()) << "transformers refused this: " << c.at("error");
    }
    ++checked;
  }
  EXPECT_GE(checked, 4);  // the demo model's cases at least
}

TEST(ContinueFinalMessage, RefusesAFinalMessageTheTemplateDoesNotEcho) {
  ChatTemplateSet set;
  auto t = ChatTemplate::compile("{% for m in messages %}[{{ m.content | upper }}]{% endfor %}");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  set.add("default", std::move(*t), false);
  ChatRequest req;
  req.messages = nlohmann::ordered_json::parse(R"([{"role": "assistant", "content": "lower case"}])");
  req.continue_final_message = true;
  auto got = set.apply(req);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("does not appear"), std::string::npos) << got.status().message();
  req.messages = nlohmann::ordered_json::array();
  EXPECT_FALSE(set.apply(req).ok());
}

}  // namespace
}  // namespace ferrite::chat
