// The module's API around rendering: loading templates from a model directory the way
// transformers does, template selection, the --chat-template override, special tokens, the
// render limits that keep hostile templates from hanging or exhausting a server, and errors.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "chat/chat_template.h"
#include "unit/chat/chat_test_util.h"

namespace ferrite::chat {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

class TempDir {
 public:
  TempDir() {
    path_ =
        fs::temp_directory_path() / ("ferrite_chat_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((path_ / name).parent_path());
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

Result<std::string> render(const std::string& source, const Json& ctx = Json::object(), RenderLimits limits = {}) {
  auto t = ChatTemplate::compile(source);
  if (!t.ok()) return t.status();
  return t->render(ctx, limits);
}

ChatRequest one_message(const std::string& text) {
  ChatRequest r;
  r.messages = Json::array({{{"role", "user"}, {"content", text}}});
  return r;
}

TEST(ChatLoader, NamedTemplatesAndSpecialTokens) {
  TempDir dir;
  Json config = {
      {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}, {"lstrip", false}}},
      {"eos_token", "</s>"},
      {"unk_token", nullptr},
      {"chat_template",
       Json::array({{{"name", "default"}, {"template", "D{{ bos_token }}{{ eos_token }}{{ unk_token is defined }}"}},
                    {{"name", "tool_use"}, {"template", "T{{ tools|length }}"}},
                    {{"name", "rag"}, {"template", "R{{ documents[0].title }}"}}})}};
  dir.write("tokenizer_config.json", config.dump());
  auto set = load_chat_templates(dir.str());
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_EQ(set->names(), (std::vector<std::string>{"default", "tool_use", "rag"}));
  EXPECT_EQ(*set->apply(one_message("x")), "D<s></s>False");

  ChatRequest with_tools = one_message("x");
  with_tools.tools = Json::array({{{"type", "function"}}});
  EXPECT_EQ(*set->apply(with_tools), "T1");  // HF picks tool_use when tools are given

  ChatRequest rag = one_message("x");
  rag.template_name = "rag";
  rag.documents = Json::array({{{"title", "Doc"}, {"text", "body"}}});
  EXPECT_EQ(*set->apply(rag), "RDoc");

  ChatRequest missing = one_message("x");
  missing.template_name = "nope";
  EXPECT_FALSE(set->apply(missing).ok());
}

TEST(ChatLoader, JinjaFileWinsOverConfig) {
  TempDir dir;
  dir.write("tokenizer_config.json", Json({{"chat_template", "from config"}, {"eos_token", "E"}}).dump());
  dir.write("chat_template.jinja", "from file {{ eos_token }}\n");
  auto set = load_chat_templates(dir.str());
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_EQ(*set->apply(one_message("x")), "from file E");
}

TEST(ChatLoader, ChatTemplateJsonFallback) {
  TempDir dir;
  dir.write("chat_template.json", Json({{"chat_template", "{{ messages[0].content }}!"}}).dump());
  auto set = load_chat_templates(dir.str());
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_EQ(*set->apply(one_message("hi")), "hi!");
}

TEST(ChatLoader, OverrideFileOrText) {
  TempDir dir;
  dir.write("tokenizer_config.json", Json({{"chat_template", "model"}}).dump());
  dir.write("custom.jinja", "file:{{ messages|length }}");
  auto from_text = load_chat_templates(dir.str(), "inline:{{ messages[0].content }}");
  ASSERT_TRUE(from_text.ok()) << from_text.status().to_string();
  EXPECT_EQ(*from_text->apply(one_message("a")), "inline:a");
  auto from_file = load_chat_templates(dir.str(), dir.str() + "/custom.jinja");
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(*from_file->apply(one_message("a")), "file:1");
  EXPECT_FALSE(load_chat_templates(dir.str(), "/no/such/file").ok());
}

TEST(ChatLoader, ClearErrors) {
  TempDir dir;
  EXPECT_EQ(load_chat_templates(dir.str() + "/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(load_chat_templates(dir.str()).status().code(), StatusCode::kFailedPrecondition);
  dir.write("tokenizer_config.json", "{not json");
  EXPECT_EQ(load_chat_templates(dir.str()).status().code(), StatusCode::kDataLoss);
  dir.write("tokenizer_config.json", Json({{"chat_template", "{% if %}"}}).dump());
  auto bad = load_chat_templates(dir.str());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tokenizer_config.json"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("line 1, column"), std::string::npos) << bad.status().message();
}

TEST(ChatApply, RequestValidationAndHfNormalisation) {
  ChatTemplateSet set;
  set.add("default", *ChatTemplate::compile("{{ messages[0]|tojson }}"), false);
  ChatRequest empty;
  EXPECT_FALSE(set.apply(empty).ok());
  ChatRequest bad_kwargs = one_message("x");
  bad_kwargs.kwargs = {{"messages", 1}};
  EXPECT_FALSE(set.apply(bad_kwargs).ok());
  ChatRequest bad_message;
  bad_message.messages = Json::array({"not an object"});
  EXPECT_FALSE(set.apply(bad_message).ok());
  // None-valued keys are dropped and reasoning is aliased, as transformers does before rendering.
  ChatRequest r;
  r.messages = Json::array({{{"role", "assistant"}, {"content", nullptr}, {"reasoning", "why"}}});
  EXPECT_EQ(*set.apply(r),
            R"({"thinking": "why", "role": "assistant", "reasoning": "why", "reasoning_content": "why"})");
}

TEST(ChatErrors, SyntaxErrorsCarryLineAndColumn) {
  auto r = render("line one\nline two {{ 1 + }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("line 2, column 17"), std::string::npos) << r.status().message();
  auto unclosed = render("{% for x in y %}\n  {% if x %}\n");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_NE(unclosed.status().message().find("'endif'"), std::string::npos) << unclosed.status().message();
}

TEST(ChatErrors, RuntimeErrorsAreClear) {
  auto raised = render("a\n{{ raise_exception('roles must alternate') }}");
  ASSERT_FALSE(raised.ok());
  EXPECT_NE(raised.status().message().find("roles must alternate"), std::string::npos);
  EXPECT_NE(raised.status().message().find("line 2"), std::string::npos) << raised.status().message();
  auto undefined_call = render("{{ nope() }}");
  ASSERT_FALSE(undefined_call.ok());
  EXPECT_NE(undefined_call.status().message().find("'nope' is undefined"), std::string::npos);
  auto type = render("{{ 'a' + 1 }}");
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("can only concatenate str"), std::string::npos);
  EXPECT_FALSE(ChatTemplate::compile("{{ x }}")->render(Json::array()).ok());  // context must be an object
}

// Hostile templates end quickly with kResourceExhausted instead of hanging or eating memory.
TEST(ChatLimits, HostileTemplatesStop) {
  const auto start = std::chrono::steady_clock::now();
  const char* hostile[] = {
      "{% for i in range(10**9) %}x{% endfor %}",
      "{{ 'x' * 10**9 }}",
      "{{ [1] * 10**9 }}",
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
      "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
      // Shared children make a small value print enormous (sets in a loop body are local: use a namespace).
      "{% set ns = namespace(a=['x' * 1000]) %}{% for i in range(40) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ "
      "ns.a }}",
      "{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a|tojson "
      "}}",
      "{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ "
      "ns.a|string|length }}",
      "{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ [ns.a]|join "
      "}}",
      "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
  };
  RenderLimits limits;
  limits.max_output_bytes = 8 << 20;
  for (const char* t : hostile) {
    auto r = render(t, Json::object(), limits);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_TRUE(r.status().code() == StatusCode::kResourceExhausted) << t << ": " << r.status().to_string();
  }
  EXPECT_EQ(render("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(ChatGlobals, StrftimeNow) {
  auto r = render("{{ strftime_now('%Y') }}");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  EXPECT_EQ(*r, std::to_string(1900 + tm.tm_year));
}

TEST(ChatConcurrency, OneTemplateRendersOnManyThreads) {
  auto t = ChatTemplate::compile(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content }}{% endfor %}{{ ns.n "
      "}}");
  ASSERT_TRUE(t.ok());
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      Json ctx = {{"messages", Json::array()}};
      for (int i = 0; i < 5; ++i) ctx["messages"].push_back({{"content", std::to_string(k)}});
      for (int i = 0; i < 200; ++i) good[k] += *t->render(ctx) == std::string(5, static_cast<char>('0' + k)) + "5";
    });
  }
  for (auto& th : threads) th.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(good[k], 200);
}

}  // namespace
}  // namespace ferrite::chat
