// Speculative decoding end to end (n-gram prompt lookup and a draft model) on the reference
// fixtures: greedy output identical to decoding without speculation for every fixture and for
// mixed batches under chunking, preemption and prefix caching; sampled tokens distributed as the
// target's softmax (chi-square, fixed seeds); no block leaks under random arrivals and aborts;
// stop tokens, max_tokens and logprobs inside accepted runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <thread>

#include "engine_test_util.h"
#include "ferrite/engine.h"
#include "test_util.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;

const char* const kFixtures[] = {"llama",   "qwen3",     "qwen2_swa", "mistral_swa", "llama_bf16",
                                 "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"};

SpeculativeConfig ngram(std::int32_t k = 4, std::int32_t lo = 1, std::int32_t hi = 3) {
  SpeculativeConfig s;
  s.method = SpeculativeConfig::Method::kNgram;
  s.num_speculative_tokens = k;
  s.prompt_lookup_min = lo;
  s.prompt_lookup_max = hi;
  return s;
}

// A draft of the same vocabulary: another fixture (every fixture has 512 ids), so its guesses
// are mostly wrong and both the accept and the reject paths run.
SpeculativeConfig draft_for(const std::string& target, std::int32_t k = 3) {
  SpeculativeConfig s;
  s.method = SpeculativeConfig::Method::kDraftModel;
  s.num_speculative_tokens = k;
  s.model = fixture(target == "qwen3" ? "llama" : "qwen3");
  return s;
}

struct Method {
  const char* name;
  SpeculativeConfig (*make)(const std::string& target);
  bool self = false;  // the target drafts for itself: (nearly) every greedy draft is accepted
};
// The target as its own draft: nearly every draft is accepted, so bonus tokens and long
// accepted runs are exercised (up to float differences between batch shapes in the draft pass).
SpeculativeConfig self_draft(const std::string& target) {
  SpeculativeConfig s = draft_for(target);
  s.model = fixture(target);
  return s;
}

const Method kMethods[] = {
    {"ngram", [](const std::string&) { return ngram(); }},
    {"draft_model", [](const std::string& t) { return draft_for(t); }},
    {"draft_model(self)", [](const std::string& t) { return self_draft(t); }, true},
};

std::vector<std::vector<std::int32_t>> run_all(Engine& engine, const std::vector<GenerateRequest>& reqs) {
  std::vector<std::shared_ptr<OutputStream>> streams;
  for (const auto& r : reqs) {
    auto s = engine.submit(r);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    if (s.ok()) streams.push_back(*s);
  }
  std::vector<std::vector<std::int32_t>> out;
  for (auto& s : streams) out.push_back(drain(*s).tokens[0]);
  return out;
}

TEST(Speculative, GreedyMatchesTransformersOnEveryFixture) {
  for (const Method& m : kMethods) {
    std::int64_t drafts = 0, accepted = 0, draft_tokens = 0;
    for (const std::string name : kFixtures) {
      const std::string dir = fixture(name);
      const auto ref = nlohmann::json::parse(testing::read_text(dir + "/reference.json"));
      EngineConfig c = base_config(dir);
      c.speculative = m.make(name);
      auto engine = make_engine(c);
      ASSERT_TRUE(engine) << m.name << " " << name;
      std::vector<GenerateRequest> reqs;
      const auto max_tokens = ref.at("max_tokens").get<std::int64_t>();
      for (const auto& cs : ref.at("cases")) reqs.push_back(greedy(cs.at("prompt_ids").get<std::vector<std::int32_t>>(), max_tokens));
      const auto got = run_all(*engine, reqs);
      for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], ref.at("cases").at(i).at("greedy_ids").get<std::vector<std::int32_t>>())
            << m.name << " " << name << " case " << i;
      const EngineStats st = engine->stats();
      EXPECT_GT(st.spec_num_drafts, 0) << m.name << " " << name << ": nothing was speculated";
      EXPECT_EQ(st.num_free_kv_blocks, st.num_kv_blocks) << m.name << " " << name;
      drafts += st.spec_num_drafts;
      draft_tokens += st.spec_num_draft_tokens;
      accepted += st.spec_num_accepted_tokens;
    }
    // Both paths ran: some drafts accepted, some rejected (a self-draft is accepted throughout).
    EXPECT_GT(accepted, 0) << m.name;
    if (m.self) {
      EXPECT_GT(accepted, draft_tokens * 9 / 10) << m.name;
    } else {
      EXPECT_LT(accepted, draft_tokens) << m.name;
    }
    std::printf("[ %s ] %lld verifications, %lld drafts, %lld accepted\n", m.name, static_cast<long long>(drafts),
                static_cast<long long>(draft_tokens), static_cast<long long>(accepted));
  }
}

// The invariance contract with speculation on: every request's greedy output equals the one it
// gets alone without speculation, in batches, chunked, preempted, with and without prefix caching.
void check_invariance(const std::string& name, const Method& m) {
  const std::string dir = fixture(name);
  auto prompts = workload(42, 24);
  // Some prompts that repeat themselves, so n-gram lookup has something to find.
  for (std::size_t i = 0; i < prompts.size(); i += 4) {
    if (prompts[i].size() > 60) continue;  // the fixtures' context is 128
    const auto half = std::vector<std::int32_t>(prompts[i].begin(), prompts[i].begin() + static_cast<std::ptrdiff_t>(prompts[i].size() / 2));
    prompts[i].insert(prompts[i].end(), half.begin(), half.end());
  }
  const auto max_tokens = max_tokens_for(prompts.size());
  std::vector<GenerateRequest> reqs;
  for (std::size_t i = 0; i < prompts.size(); ++i) reqs.push_back(greedy(prompts[i], max_tokens[i]));

  EngineConfig plain = base_config(dir);
  plain.enable_prefix_caching = false;
  std::vector<std::vector<std::int32_t>> want;
  {
    auto engine = make_engine(plain);
    for (const auto& r : reqs) want.push_back(run_all(*engine, {r})[0]);
  }
  struct Variant {
    const char* name;
    EngineConfig cfg;
  };
  std::vector<Variant> variants;
  EngineConfig batched = base_config(dir);
  batched.speculative = m.make(name);
  variants.push_back({"batched", batched});
  EngineConfig chunked = batched;
  chunked.max_num_batched_tokens = 7;  // also cuts draft slots short
  variants.push_back({"chunked", chunked});
  EngineConfig tight = batched;
  tight.num_kv_blocks = 12;
  variants.push_back({"preempting", tight});
  EngineConfig no_prefix = batched;
  no_prefix.enable_prefix_caching = false;
  variants.push_back({"no prefix caching", no_prefix});
  EngineConfig k1 = batched;
  k1.speculative.num_speculative_tokens = 1;
  variants.push_back({"k=1", k1});
  for (auto& v : variants) {
    auto engine = make_engine(v.cfg);
    ASSERT_TRUE(engine);
    std::vector<std::shared_ptr<OutputStream>> streams;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      if (i == reqs.size() / 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      streams.push_back(*engine->submit(reqs[i]));
    }
    for (std::size_t i = 0; i < streams.size(); ++i)
      EXPECT_EQ(drain(*streams[i]).tokens[0], want[i]) << name << " " << m.name << " " << v.name << ": request " << i;
    const EngineStats st = engine->stats();
    EXPECT_GT(st.spec_num_drafts, 0) << v.name;
    if (std::string(v.name) == "preempting") {
      EXPECT_GT(st.num_preemptions, 0) << "the tight KV budget should preempt";
    }
    if (std::string(v.name) == "batched") {
      EXPECT_GT(st.prefix_cache_hits, 0) << "shared prefixes should hit the cache";
    }
    EXPECT_EQ(st.num_free_kv_blocks, st.num_kv_blocks) << m.name << " " << v.name;
  }
}

TEST(Speculative, GreedyOutputIndependentOfBatchChunkingPreemptionAndPrefixCache) {
  for (const Method& m : kMethods) check_invariance("qwen3", m);
}

TEST(Speculative, MoeGreedyOutputIndependentOfBatchChunkingPreemptionAndPrefixCache) {
  for (const Method& m : kMethods) check_invariance("qwen3_moe", m);
}

// Stop tokens, max_tokens and logprobs inside an accepted run: the same tokens, finish reasons
// and logprobs as without speculation.
TEST(Speculative, StopTokensMaxTokensAndLogprobsAsWithout) {
  const std::string dir = fixture("llama");
  std::vector<std::int32_t> prompt;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 12; ++i) prompt.push_back(30 + i * 7);
  auto plain = make_engine(base_config(dir));
  GenerateRequest g = greedy(prompt, 30);
  g.sampling.logprobs = 3;
  const Output base = drain(**plain->submit(g));
  ASSERT_EQ(base.tokens[0].size(), 30u);
  // A stop token from the middle of the output (its first occurrence ends the request).
  GenerateRequest stopped = g;
  stopped.sampling.stop_token_ids = {base.tokens[0][17]};
  const Output base_stopped = drain(**plain->submit(stopped));
  ASSERT_EQ(base_stopped.finish[0], FinishReason::kStop);

  for (const Method& m : kMethods) {
    EngineConfig c = base_config(dir);
    c.speculative = m.make("llama");
    auto engine = make_engine(c);
    for (std::int64_t n : {1, 2, 5, 13, 30}) {
      GenerateRequest gn = g;
      gn.sampling.max_tokens = n;
      const Output o = drain(**engine->submit(gn));
      ASSERT_EQ(o.tokens[0].size(), static_cast<std::size_t>(n)) << m.name;
      EXPECT_TRUE(std::equal(o.tokens[0].begin(), o.tokens[0].end(), base.tokens[0].begin())) << m.name << " n=" << n;
      EXPECT_EQ(o.finish[0], FinishReason::kLength);
      EXPECT_EQ(o.usage.completion_tokens, n);
      ASSERT_EQ(o.logprobs[0].size(), static_cast<std::size_t>(n)) << m.name;
      for (std::size_t i = 0; i < o.logprobs[0].size(); ++i) {
        EXPECT_EQ(o.logprobs[0][i].token_id, base.logprobs[0][i].token_id);
        EXPECT_NEAR(o.logprobs[0][i].logprob, base.logprobs[0][i].logprob, 1e-4) << m.name << " token " << i;
        EXPECT_EQ(o.logprobs[0][i].rank, base.logprobs[0][i].rank);
        ASSERT_EQ(o.logprobs[0][i].top.size(), 3u);
      }
    }
    const Output s = drain(**engine->submit(stopped));
    EXPECT_EQ(s.tokens[0], base_stopped.tokens[0]) << m.name;
    EXPECT_EQ(s.finish[0], FinishReason::kStop) << m.name;
    EXPECT_EQ(s.stop_reason[0], base_stopped.stop_reason[0]) << m.name;
    EXPECT_GT(engine->stats().spec_num_drafts, 0) << m.name;
    if (m.self) {
      EXPECT_GT(engine->stats().spec_num_accepted_tokens, 0) << m.name << ": stops and limits inside accepted runs";
    }
    EXPECT_EQ(engine->stats().num_free_kv_blocks, engine->stats().num_kv_blocks);
  }
}

// Stop strings inside an accepted run, with the demo pair (it has a tokenizer): the text, tokens
// and stop reason are those of decoding one token at a time; the drafts accepted past the stop
// string are dropped.
TEST(Speculative, StopStringsInsideAcceptedRuns) {
  const std::string demo = testing::source_dir() + "/models/demo";
  if (!fs::exists(demo + "/model.safetensors")) GTEST_SKIP() << "models/demo is absent";
  EngineConfig plain_cfg = base_config(demo);
  plain_cfg.num_kv_blocks = 64;
  auto plain = make_engine(plain_cfg);
  GenerateRequest g;
  g.prompt = std::string("Elizabeth said to her sister that Mr. Darcy was the proudest man. Elizabeth said");
  g.sampling.temperature = 0;
  g.sampling.given.temperature = true;
  g.sampling.max_tokens = 48;
  g.sampling.ignore_eos = true;
  const Output base = drain(**plain->submit(g));
  ASSERT_GT(base.text[0].size(), 40u);
  // Stop strings that end in the middle of the output, one of them inside a word.
  const std::vector<std::string> stops = {base.text[0].substr(20, 6), base.text[0].substr(base.text[0].size() / 2, 3)};
  for (const Method& m : {kMethods[0], kMethods[2]}) {
    EngineConfig c = plain_cfg;
    c.speculative = m.make("demo");
    if (m.self) c.speculative.model = demo;
    auto engine = make_engine(c);
    for (const std::string& stop : stops) {
      for (bool include : {false, true}) {
        GenerateRequest r = g;
        r.sampling.stop = {stop};
        r.sampling.include_stop_str_in_output = include;
        const Output want = drain(**plain->submit(r));
        const Output got = drain(**engine->submit(r));
        ASSERT_EQ(want.finish[0], FinishReason::kStop) << stop;
        EXPECT_EQ(got.text[0], want.text[0]) << m.name << " stop '" << stop << "'";
        EXPECT_EQ(got.tokens[0], want.tokens[0]) << m.name;
        EXPECT_EQ(got.finish[0], FinishReason::kStop) << m.name;
        EXPECT_EQ(got.stop_reason[0], want.stop_reason[0]) << m.name;
        EXPECT_EQ(got.usage.completion_tokens, want.usage.completion_tokens) << m.name;
      }
    }
    EXPECT_GT(engine->stats().spec_num_drafts, 0) << m.name;
    if (m.self) {
      EXPECT_GT(engine->stats().spec_num_accepted_tokens, 0) << m.name << ": runs accepted past the stop string";
    }
    EXPECT_EQ(engine->stats().num_free_kv_blocks, engine->stats().num_kv_blocks) << m.name;
  }
}

// Random arrivals, random lengths, random aborts mid-stream, sampled and greedy requests: every
// step checks the block accounting (check_invariants), and every block is back at the end.
TEST(Speculative, NoBlockLeaksUnderArrivalsAndAborts) {
  for (const Method& m : kMethods) {
    EngineConfig c = base_config(fixture("qwen3"));
    c.speculative = m.make("qwen3");
    c.num_kv_blocks = 40;  // tight: preemption happens too
    auto engine = make_engine(c);
    std::mt19937 rng(7);
    const auto prompts = workload(11, 60);
    std::vector<std::shared_ptr<OutputStream>> streams;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      GenerateRequest r = greedy(prompts[i], 5 + static_cast<std::int64_t>(rng() % 40));
      if (i % 3 == 1) {
        r.sampling.temperature = 0.8;
        r.sampling.seed = i;
      }
      r.request_id = "r" + std::to_string(i);
      streams.push_back(*engine->submit(r));
      ids.push_back(r.request_id);
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 5));
      if (i >= 3 && rng() % 3 == 0) engine->abort(ids[rng() % ids.size()]);
    }
    std::int64_t aborted = 0;
    for (auto& s : streams) {
      const Output o = drain(*s);
      if (o.finish[0] == FinishReason::kAbort) ++aborted;
      EXPECT_NE(o.finish[0], FinishReason::kError);
    }
    const EngineStats st = engine->stats();
    EXPECT_GT(aborted, 0) << m.name;
    EXPECT_GT(st.spec_num_drafts, 0) << m.name;
    EXPECT_EQ(st.num_free_kv_blocks, st.num_kv_blocks) << m.name;
    EXPECT_EQ(st.num_running + st.num_waiting, 0) << m.name;
  }
}

// Seeded sampled requests are reproducible with speculation, and independent of the batch.
TEST(Speculative, SeededSamplingIsReproducible) {
  for (const Method& m : kMethods) {
    EngineConfig c = base_config(fixture("llama"));
    c.speculative = m.make("llama");
    auto engine = make_engine(c);
    GenerateRequest r = greedy({5, 17, 99, 200, 3, 5, 17, 99}, 24);
    r.sampling.temperature = 0.9;
    r.sampling.seed = 1234;
    const Output a = drain(**engine->submit(r));
    std::vector<std::shared_ptr<OutputStream>> noise;
    for (const auto& p : workload(3, 8)) noise.push_back(*engine->submit(greedy(p, 20)));
    const Output b = drain(**engine->submit(r));
    for (auto& s : noise) drain(*s);
    EXPECT_EQ(a.tokens, b.tokens) << m.name;
  }
}

// Chi-square: with speculation, the token after a fixed first token is distributed as the
// target's softmax at that position. Conditioning on the likeliest first token a (which the
// prompt contains, so n-gram lookup always proposes the token that followed it: a one-hot q; the
// draft model proposes from its own q), the second token went through verify_draft in every run.
// The reference distribution comes from the target without speculation: the full log-softmax
// (logprobs = vocab) of prompt + [a], at the request's temperature.
TEST(Speculative, SampledTokensFollowTheTargetDistribution) {
  const std::string dir = fixture("llama");
  const double temperature = 0.6;
  EngineConfig ref_cfg = base_config(dir);
  ref_cfg.max_logprobs = 512;
  auto ref_engine = make_engine(ref_cfg);
  auto probs_after = [&](const std::vector<std::int32_t>& ctx) {
    GenerateRequest g = greedy(ctx, 1);
    g.sampling.logprobs = 512;
    const Output o = drain(**ref_engine->submit(g));
    std::vector<double> p(512, 0.0);
    double z = 0;
    for (const auto& [id, lp] : o.logprobs[0].at(0).top) z += std::exp(lp / temperature);
    for (const auto& [id, lp] : o.logprobs[0].at(0).top) p[static_cast<std::size_t>(id)] = std::exp(lp / temperature) / z;
    return p;
  };
  // 100 distinct ids; put the likeliest next token inside until it is one of them.
  std::vector<std::int32_t> prompt(100);
  std::iota(prompt.begin(), prompt.end(), 200);
  std::int32_t a = -1;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto p = probs_after(prompt);
    const auto best = static_cast<std::int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
    if (std::find(prompt.begin(), prompt.end() - 1, best) != prompt.end() - 1) {
      a = best;
      break;
    }
    prompt[static_cast<std::size_t>(10 + attempt * 7)] = best;
  }
  ASSERT_GE(a, 0) << "no prompt found that contains its own likeliest continuation";
  {
    // After a, the prompt continues with the likeliest token after prompt + [a]: the n-gram draft
    // is then often right, so its accept path runs as well as its reject path.
    std::vector<std::int32_t> ctx = prompt;
    ctx.push_back(a);
    const auto p = probs_after(ctx);
    const auto j = static_cast<std::size_t>(std::find(prompt.begin(), prompt.end(), a) - prompt.begin());
    if (j + 2 < prompt.size()) prompt[j + 1] = static_cast<std::int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
  }

  const int kRuns = 3000;
  for (const Method& m : kMethods) {
    EngineConfig c = base_config(dir);
    c.num_kv_blocks = 1024;
    c.speculative = m.make("llama");
    c.speculative.num_speculative_tokens = 2;
    auto engine = make_engine(c);
    std::vector<std::shared_ptr<OutputStream>> streams;
    for (int i = 0; i < kRuns; ++i) {
      GenerateRequest r = greedy(prompt, 3);
      r.sampling.temperature = temperature;
      r.sampling.seed = static_cast<std::uint64_t>(i);
      streams.push_back(*engine->submit(r));
    }
    std::vector<std::vector<std::int32_t>> outs;
    for (auto& s : streams) outs.push_back(drain(*s).tokens[0]);
    const EngineStats st = engine->stats();
    ASSERT_GT(st.spec_num_drafts, 0) << m.name;
    EXPECT_GT(st.spec_num_accepted_tokens, 0) << m.name;
    // With p == q a self-draft is always accepted (min(1, p/q) = 1); the others also reject.
    if (!m.self) {
      EXPECT_LT(st.spec_num_accepted_tokens, st.spec_num_draft_tokens) << m.name;
    }
    EXPECT_EQ(st.num_free_kv_blocks, st.num_kv_blocks);

    std::vector<int> counts(512, 0);
    int n = 0;
    for (const auto& o : outs)
      if (o.at(0) == a) ++counts[static_cast<std::size_t>(o.at(1))], ++n;
    ASSERT_GT(n, 300) << m.name << ": too few runs began with " << a;
    std::vector<std::int32_t> ctx = prompt;
    ctx.push_back(a);
    const auto p = probs_after(ctx);
    // Cells with an expected count of at least 5; the rest pooled.
    double chi2 = 0, rest_expected = 0;
    int rest_observed = 0, cells = 0;
    for (std::size_t t = 0; t < 512; ++t) {
      const double e = p[t] * n;
      if (e >= 5) {
        chi2 += (counts[t] - e) * (counts[t] - e) / e;
        ++cells;
      } else {
        rest_expected += e;
        rest_observed += counts[t];
      }
    }
    if (rest_expected > 0) {
      chi2 += (rest_observed - rest_expected) * (rest_observed - rest_expected) / rest_expected;
      ++cells;
    }
    ASSERT_GE(cells, 3) << m.name << ": the distribution is too peaked to test";
    // The 99.9% quantile of chi-square with df = cells - 1, by Wilson-Hilferty.
    const double df = cells - 1;
    const double z = 3.090;
    const double crit = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
    EXPECT_LT(chi2, crit) << m.name << ": chi2 " << chi2 << " over " << cells << " cells, " << n << " samples";
    std::printf("[ %s ] token after %d: %d samples, %d cells, chi2 %.1f (99.9%% bound %.1f)\n", m.name, a, n, cells, chi2,
                crit);
  }
}

TEST(Speculative, BadConfigsFailClearly) {
  auto bad = [](EngineConfig c, const std::string& needle) {
    auto e = Engine::create(c);
    ASSERT_FALSE(e.ok()) << needle;
    EXPECT_NE(e.status().message().find(needle), std::string::npos) << e.status().message();
  };
  EngineConfig c = base_config(fixture("llama"));
  c.speculative = ngram(0);
  bad(c, "num_speculative_tokens");
  c.speculative = ngram(4, 3, 2);
  bad(c, "prompt_lookup_min");
  c.speculative = draft_for("llama");
  c.speculative.model = testing::source_dir() + "/no/such/dir";
  bad(c, "draft model");
  // A draft with another vocabulary: the demo draft has 8192 ids, the fixture 512.
  c.speculative.model = testing::source_dir() + "/models/demo-draft";
  bad(c, "vocab_size");
}

}  // namespace
}  // namespace ferrite
