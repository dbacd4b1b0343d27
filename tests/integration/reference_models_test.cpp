// Every reference model in tests/data/models (made by tools/make_reference_models.py with
// Hugging Face transformers) through ferrite's forward pass: greedy continuations identical,
// last-prompt-position logits within a bound relative to the largest logit. Then the same
// prompts batched together and with chunked prefill must give identical greedy output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "backend/backend.h"
#include "model/greedy_decode.h"
#include "model/model.h"
#include "test_util.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::vector<std::int32_t> prompt;
  std::vector<std::int32_t> greedy;
  std::vector<float> logits;
};

struct Reference {
  std::string dir;
  std::string dtype;
  std::int64_t max_tokens = 0;
  std::vector<Case> cases;
};

std::vector<std::string> reference_dirs() {
  std::vector<std::string> dirs;
  const fs::path root = fs::path(testing::source_dir()) / "tests/data/models";
  if (!fs::exists(root)) return dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "reference.json")) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

Reference load_reference(const std::string& dir) {
  const auto j = nlohmann::json::parse(testing::read_text(dir + "/reference.json"));
  Reference r;
  r.dir = dir;
  r.dtype = j.value("dtype", "float32");
  r.max_tokens = j.at("max_tokens").get<std::int64_t>();
  for (const auto& c : j.at("cases"))
    r.cases.push_back({c.at("prompt_ids").get<std::vector<std::int32_t>>(), c.at("greedy_ids").get<std::vector<std::int32_t>>(),
                       c.at("last_logits").get<std::vector<float>>()});
  return r;
}

// Relative bound on the last-position logits: fp32 weights 1e-4 of max |logit| (the issue's
// bound). bf16 checkpoints are computed by transformers in fp32 on the same bf16 values that
// ferrite keeps, so only summation order differs; 1e-3 leaves room for that.
double logit_tolerance(const std::string& dtype) { return dtype == "bfloat16" ? 1e-3 : 1e-4; }

class ReferenceModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceModelTest, MatchesTransformers) {
  const Reference ref = load_reference(GetParam());
  auto backend = backend::make_cpu_backend(2);
  model::LoadOptions opts;
  opts.model_dir = ref.dir;
  opts.show_progress = false;
  auto loaded = model::load_model(opts, *backend);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  auto& m = **loaded;

  model::GreedyOptions g;
  g.max_tokens = ref.max_tokens;
  g.stop_at_eos = false;
  std::vector<std::vector<std::int32_t>> prompts;
  std::vector<std::vector<std::int32_t>> alone;
  for (std::size_t ci = 0; ci < ref.cases.size(); ++ci) {
    const Case& c = ref.cases[ci];
    prompts.push_back(c.prompt);
    auto r = model::greedy_decode(m, {c.prompt}, g);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->tokens[0], c.greedy) << "case " << ci << " of " << ref.dir;
    alone.push_back(r->tokens[0]);
    const auto& got = r->last_prompt_logits[0];
    ASSERT_EQ(got.size(), c.logits.size());
    double max_abs = 0, max_err = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(c.logits[i])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - c.logits[i]));
    }
    EXPECT_LE(max_err, logit_tolerance(ref.dtype) * max_abs)
        << "case " << ci << ": max |logit error| " << max_err << " vs max |logit| " << max_abs;
  }

  // All cases in one flat batch: each sequence's greedy output unchanged.
  auto batched = model::greedy_decode(m, prompts, g);
  ASSERT_TRUE(batched.ok()) << batched.status().to_string();
  for (std::size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(batched->tokens[i], alone[i]) << "batched case " << i;

  // Chunked prefill (3 tokens a step). Dynamic NTK rope depends on the sequence length seen by
  // each forward, as in transformers, so chunking legitimately changes that model's numbers.
  if (m.config().rope_scaling.type != model::RopeType::kDynamic) {
    g.prefill_chunk = 3;
    auto chunked = model::greedy_decode(m, prompts, g);
    ASSERT_TRUE(chunked.ok()) << chunked.status().to_string();
    for (std::size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(chunked->tokens[i], alone[i]) << "chunked case " << i;
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  return fs::path(info.param).filename().string();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceModelTest, ::testing::ValuesIn(reference_dirs()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ReferenceModelTest);

TEST(ReferenceModels, FixturesArePresent) {
  EXPECT_GE(reference_dirs().size(), 8u) << "tests/data/models should hold the reference fixtures";
}

}  // namespace
}  // namespace ferrite
