// Every small template of tests/data/chat/features.jsonl, rendered by jinja2 with HF's
// environment (tools/make_chat_vectors.py), must render byte for byte the same here, or fail
// where Python fails.
#include <gtest/gtest.h>

#include <cstdio>

#include "chat/chat_template.h"
#include "unit/chat/chat_test_util.h"

namespace ferrite::chat {
namespace {

using testing::data_path;
using testing::read_jsonl;

std::string render_or_error(const nlohmann::ordered_json& rec, bool* ok) {
  auto tmpl = ChatTemplate::compile(rec["template"].get<std::string>());
  if (!tmpl.ok()) {
    *ok = false;
    return tmpl.status().message();
  }
  auto out = tmpl->render(rec["context"]);
  *ok = out.ok();
  return out.ok() ? *out : out.status().message();
}

TEST(ChatFeatures, RendersMatchJinja2) {
  const auto recs = read_jsonl(data_path("features.jsonl"));
  ASSERT_FALSE(recs.empty()) << "missing " << data_path("features.jsonl");
  int total = 0, matched = 0;
  for (const auto& rec : recs) {
    if (!rec.contains("expected")) continue;
    ++total;
    bool ok = false;
    const std::string got = render_or_error(rec, &ok);
    const std::string want = rec["expected"].get<std::string>();
    if (ok && got == want) {
      ++matched;
      continue;
    }
    ADD_FAILURE() << rec["name"].get<std::string>() << "\n  template: " << rec["template"].get<std::string>()
                  << "\n  want: " << nlohmann::json(want).dump() << "\n  got:  " << (ok ? "" : "ERROR ")
                  << nlohmann::json(got).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::printf("[chat] features: %d/%d renders match jinja2\n", matched, total);
}

TEST(ChatFeatures, ErrorsMatchJinja2) {
  const auto recs = read_jsonl(data_path("features.jsonl"));
  int total = 0, same_message = 0;
  for (const auto& rec : recs) {
    if (!rec.contains("error")) continue;
    ++total;
    const std::string name = rec["name"].get<std::string>();
    const auto& err = rec["error"];
    const std::string type = err["type"].get<std::string>();
    bool ok = false;
    const std::string got = render_or_error(rec, &ok);
    if (ok) {
      ADD_FAILURE() << name << ": Python fails (" << type << ": " << err["message"].get<std::string>()
                    << ") but this rendered " << nlohmann::json(got).dump();
      continue;
    }
    if (err["line"].is_number()) {
      // Syntax errors: same line as Jinja, plus a column.
      const std::string where = "line " + std::to_string(err["line"].get<int>()) + ", column ";
      EXPECT_NE(got.find("syntax error at " + where), std::string::npos) << name << ": " << got;
    }
    if (type == "TemplateError") {  // raise_exception: the template's own message comes through
      EXPECT_NE(got.find(err["message"].get<std::string>()), std::string::npos) << name << ": " << got;
    }
    if (got.find(err["message"].get<std::string>()) != std::string::npos) ++same_message;
  }
  std::printf("[chat] errors: %d/%d fail as in jinja2 (%d with jinja2's exact message)\n", total, total, same_message);
}

}  // namespace
}  // namespace ferrite::chat
