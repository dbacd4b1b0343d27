// The engine end to end on the reference fixtures: transformers' greedy output through the
// engine, and the determinism contract (DESIGN.md): a request's greedy output does not depend
// on what else runs, on arrival time, chunking, preemption or prefix-cache hits; seeded sampling
// is reproducible; aborts and bad requests touch nothing else.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "ferrite/engine.h"
#include "tokenizer/tokenizer.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;

TEST(Engine, MatchesTransformersGreedyOnFixtures) {
  for (const std::string name :
       {"llama", "qwen3", "qwen2_swa", "mistral_swa", "llama_bf16", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2",
        "deepseek_v3"}) {
    const std::string dir = fixture(name);
    const auto ref = nlohmann::json::parse(testing::read_text(dir + "/reference.json"));
    auto engine = make_engine(base_config(dir));
    ASSERT_TRUE(engine);
    std::vector<std::shared_ptr<OutputStream>> streams;
    for (const auto& c : ref.at("cases")) {
      auto s = engine->submit(greedy(c.at("prompt_ids").get<std::vector<std::int32_t>>(), ref.at("max_tokens").get<std::int64_t>()));
      ASSERT_TRUE(s.ok()) << s.status().to_string();
      streams.push_back(*s);
    }
    for (std::size_t i = 0; i < streams.size(); ++i) {
      const Output o = drain(*streams[i]);
      EXPECT_EQ(o.tokens[0], ref.at("cases").at(i).at("greedy_ids").get<std::vector<std::int32_t>>()) << name << " case " << i;
      EXPECT_EQ(o.finish[0], FinishReason::kLength);
      EXPECT_EQ(o.usage.completion_tokens, ref.at("max_tokens").get<std::int64_t>());
    }
  }
}

std::vector<std::vector<std::int32_t>> run_alone(const EngineConfig& c, const std::vector<std::vector<std::int32_t>>& prompts,
                                                 const std::vector<std::int64_t>& max_tokens) {
  auto engine = make_engine(c);
  std::vector<std::vector<std::int32_t>> out;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    auto s = engine->submit(greedy(prompts[i], max_tokens[i]));
    EXPECT_TRUE(s.ok());
    out.push_back(drain(**s).tokens[0]);
  }
  return out;
}

// Submits half, waits until the engine is busy, then the rest: arrivals land on different steps.
std::vector<std::vector<std::int32_t>> run_together(Engine& engine, const std::vector<std::vector<std::int32_t>>& prompts,
                                                    const std::vector<std::int64_t>& max_tokens) {
  std::vector<std::shared_ptr<OutputStream>> streams;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (i == prompts.size() / 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto s = engine.submit(greedy(prompts[i], max_tokens[i]));
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    streams.push_back(*s);
  }
  std::vector<std::vector<std::int32_t>> out;
  for (auto& s : streams) out.push_back(drain(*s).tokens[0]);
  return out;
}

void check_greedy_invariance(const std::string& dir) {
  const auto prompts = workload(42, 24);
  const auto max_tokens = max_tokens_for(prompts.size());
  EngineConfig alone_cfg = base_config(dir);
  alone_cfg.enable_prefix_caching = false;
  const auto want = run_alone(alone_cfg, prompts, max_tokens);

  struct Variant {
    const char* name;
    EngineConfig cfg;
  };
  std::vector<Variant> variants;
  variants.push_back({"batched", base_config(dir)});
  EngineConfig chunked = base_config(dir);
  chunked.max_num_batched_tokens = 7;
  variants.push_back({"chunked", chunked});
  EngineConfig tight = base_config(dir);
  tight.num_kv_blocks = 12;  // 128-token max length needs 8: preemption is certain with 24 requests
  variants.push_back({"preempting", tight});
  EngineConfig few_seqs = base_config(dir);
  few_seqs.max_num_seqs = 3;
  variants.push_back({"max_num_seqs=3", few_seqs});
  EngineConfig no_prefix = base_config(dir);
  no_prefix.enable_prefix_caching = false;
  variants.push_back({"no prefix caching", no_prefix});

  for (auto& v : variants) {
    auto engine = make_engine(v.cfg);
    ASSERT_TRUE(engine);
    const auto got = run_together(*engine, prompts, max_tokens);
    for (std::size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], want[i]) << v.name << ": request " << i;
    const EngineStats st = engine->stats();
    if (std::string(v.name) == "preempting") {
      EXPECT_GT(st.num_preemptions, 0) << "the tight KV budget should preempt";
    }
    if (std::string(v.name) == "batched") {
      EXPECT_GT(st.prefix_cache_hits, 0) << "shared prefixes should hit the cache";
    }
    // Every block is back: free or cached, none leaked.
    EXPECT_EQ(st.num_free_kv_blocks, st.num_kv_blocks) << v.name;
  }
}

TEST(Engine, GreedyOutputIndependentOfBatchChunkingPreemptionAndPrefixCache) {
  check_greedy_invariance(fixture("qwen3"));
}

// Mixture of experts: the experts a token is routed to, and its output, must not depend on which
// other tokens share the step (the expert pass groups all of a step's tokens by expert).
TEST(Engine, MoeGreedyOutputIndependentOfBatchChunkingPreemptionAndPrefixCache) {
  for (const char* name : {"qwen2_moe", "qwen3_moe"}) {
    SCOPED_TRACE(name);
    check_greedy_invariance(fixture(name));
  }
}

// DeepSeek: the latent KV cache (MLA) under batching, chunking, preemption and prefix caching, and
// the grouped router with a score-correction bias.
TEST(Engine, DeepseekGreedyOutputIndependentOfBatchChunkingPreemptionAndPrefixCache) {
  for (const char* name : {"deepseek_v2", "deepseek_v3"}) {
    SCOPED_TRACE(name);
    check_greedy_invariance(fixture(name));
  }
}

// The KV budget buys blocks by the model's bytes per token: an MLA model stores its latent and rope
// key per layer, not per-head K and V.
TEST(Engine, MlaKvCacheIsSizedByTheLatent) {
  const std::string dir = fixture("deepseek_v3");
  const auto cfg = nlohmann::json::parse(testing::read_text(dir + "/config.json"));
  const std::int64_t latent_bytes = cfg.at("num_hidden_layers").get<std::int64_t>() *
                                    (cfg.at("kv_lora_rank").get<std::int64_t>() + cfg.at("qk_rope_head_dim").get<std::int64_t>()) * 4;
  const std::int64_t expanded_bytes = cfg.at("num_hidden_layers").get<std::int64_t>() *
                                      cfg.at("num_attention_heads").get<std::int64_t>() *
                                      (cfg.at("qk_nope_head_dim").get<std::int64_t>() + cfg.at("qk_rope_head_dim").get<std::int64_t>() +
                                       cfg.at("v_head_dim").get<std::int64_t>()) * 4;
  EngineConfig c = base_config(dir);
  c.num_kv_blocks = 0;
  c.kv_cache_memory_bytes = 4 << 20;
  auto engine = make_engine(c);
  ASSERT_TRUE(engine);
  const std::int64_t block = engine->model_info().block_size;
  EXPECT_EQ(engine->model_info().num_kv_blocks, c.kv_cache_memory_bytes / (block * latent_bytes));
  EXPECT_GT(engine->model_info().num_kv_blocks, 4 * (c.kv_cache_memory_bytes / (block * expanded_bytes)));
  const Output o = drain(**engine->submit(greedy({5, 6, 7}, 4)));
  EXPECT_EQ(o.tokens[0].size(), 4u);
}

TEST(Engine, PrefixCacheHitIsReportedInUsage) {
  auto engine = make_engine(base_config(fixture("llama")));
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(10 + i);
  const Output first = drain(**engine->submit(greedy(prompt, 5)));
  const Output second = drain(**engine->submit(greedy(prompt, 5)));
  EXPECT_EQ(first.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(second.usage.cached_prompt_tokens, 32);  // two full 16-token blocks; the last token is recomputed
  EXPECT_EQ(first.tokens, second.tokens);
}

GenerateRequest sampled(std::vector<std::int32_t> prompt, std::optional<std::uint64_t> seed, int n = 1) {
  GenerateRequest r = greedy(std::move(prompt), 20);
  r.sampling.temperature = 0.9;
  r.sampling.top_p = 0.95;
  r.sampling.top_k = 50;
  r.sampling.seed = seed;
  r.sampling.n = n;
  return r;
}

TEST(Engine, SeededSamplingIsReproducibleAcrossBatchCompositions) {
  const std::string dir = fixture("llama");
  const std::vector<std::int32_t> prompt = {5, 17, 99, 200, 3};
  auto alone_engine = make_engine(base_config(dir));
  const Output alone = drain(**alone_engine->submit(sampled(prompt, 1234)));
  const Output again = drain(**alone_engine->submit(sampled(prompt, 1234)));
  EXPECT_EQ(alone.tokens, again.tokens);
  const Output other_seed = drain(**alone_engine->submit(sampled(prompt, 99)));
  EXPECT_NE(alone.tokens, other_seed.tokens);

  auto busy = make_engine(base_config(dir));
  std::vector<std::shared_ptr<OutputStream>> noise;
  for (const auto& p : workload(7, 10)) noise.push_back(*busy->submit(sampled(p, std::nullopt)));
  const Output among = drain(**busy->submit(sampled(prompt, 1234)));
  for (auto& s : noise) drain(*s);
  EXPECT_EQ(among.tokens, alone.tokens);
}

// A request id is free again as soon as its stream has ended: reusing it at once is accepted.
TEST(Engine, RequestIdIsFreeOnceTheStreamEnds) {
  auto engine = make_engine(base_config(fixture("llama")));
  const std::vector<std::int32_t> prompt = {5, 6, 7, 8};
  std::vector<std::int32_t> first;
  for (int i = 0; i < 50; ++i) {
    GenerateRequest g = greedy(prompt, 3);
    g.request_id = "same-id";
    auto stream = engine->submit(g);
    ASSERT_TRUE(stream.ok()) << "iteration " << i << ": " << stream.status().to_string();
    const Output out = drain(**stream);
    if (i == 0) first = out.tokens[0];
    EXPECT_EQ(out.tokens[0], first);
  }
  EXPECT_EQ(engine->stats().requests_finished, 50);
}

TEST(Engine, NGreaterThanOne) {
  const std::string dir = fixture("llama");
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 37; ++i) prompt.push_back(40 + i);
  auto engine = make_engine(base_config(dir));
  GenerateRequest g = greedy(prompt, 12);
  g.sampling.n = 3;
  const Output greedy3 = drain(**engine->submit(g), 3);
  const Output one = drain(**engine->submit(greedy(prompt, 12)));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(greedy3.tokens[static_cast<std::size_t>(i)], one.tokens[0]);
  EXPECT_EQ(greedy3.usage.completion_tokens, 36);
  EXPECT_EQ(greedy3.usage.prompt_tokens, 37);

  const Output s3 = drain(**engine->submit(sampled(prompt, 77, 3)), 3);
  const Output s3_again = drain(**engine->submit(sampled(prompt, 77, 3)), 3);
  EXPECT_EQ(s3.tokens, s3_again.tokens);
  EXPECT_NE(s3.tokens[0], s3.tokens[1]);
  EXPECT_EQ(engine->stats().num_free_kv_blocks, engine->stats().num_kv_blocks);
}

TEST(Engine, AbortFreesBlocksAndEndsTheStream) {
  // A request with a lot left to do (2000 tokens of a 6-layer dummy model), so the abort sent
  // after its first delta lands while it runs: hundreds of steps of margin.
  EngineConfig c = base_config(testing::slow_dummy_model_dir());
  c.load_format = "dummy";
  auto engine = make_engine(c);
  GenerateRequest r = greedy({1, 2, 3, 4, 5}, 2000);
  r.request_id = "to-abort";
  auto s = *engine->submit(r);
  auto first = s->next();
  ASSERT_TRUE(first.has_value());
  engine->abort("to-abort");
  FinishReason last = FinishReason::kNone;
  std::size_t n = first->token_ids.size();
  while (auto d = s->next()) {
    n += d->token_ids.size();
    if (d->finish_reason != FinishReason::kNone) last = d->finish_reason;
  }
  EXPECT_EQ(last, FinishReason::kAbort);
  EXPECT_LT(n, 2000u);
  // The blocks were back before the stream closed.
  EXPECT_EQ(engine->stats().num_free_kv_blocks, engine->stats().num_kv_blocks);
  // The engine still serves.
  EXPECT_EQ(drain(**engine->submit(greedy({1, 2}, 3))).tokens[0].size(), 3u);
}

TEST(Engine, BadRequestsAreRejectedAndChangeNothing) {
  auto engine = make_engine(base_config(fixture("llama")));
  const std::vector<std::int32_t> prompt = {1, 2, 3};
  const Output before = drain(**engine->submit(greedy(prompt, 8)));
  struct Bad {
    GenerateRequest req;
    std::string expected;
  };
  std::vector<Bad> bad;
  bad.push_back({greedy(std::vector<std::int32_t>(128, 5), 1), "maximum context length is 128"});
  bad.push_back({greedy(prompt, 200), "maximum context length is 128"});
  bad.push_back({greedy({1, 512}, 3), "outside the vocabulary"});
  bad.push_back({greedy({}, 3), "empty"});
  GenerateRequest lp = greedy(prompt, 3);
  lp.sampling.logprobs = 30;
  bad.push_back({lp, "20"});
  GenerateRequest temp = greedy(prompt, 3);
  temp.sampling.temperature = -1;
  bad.push_back({temp, "temperature"});
  GenerateRequest bias = greedy(prompt, 3);
  bias.sampling.logit_bias[9999] = 1;
  bad.push_back({bias, "logit_bias"});
  GenerateRequest text = greedy(prompt, 3);
  text.prompt = std::string("no tokenizer here");
  bad.push_back({text, "tokenizer"});
  for (auto& b : bad) {
    auto s = engine->submit(b.req);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find(b.expected), std::string::npos) << s.status().message();
  }
  const Output after = drain(**engine->submit(greedy(prompt, 8)));
  EXPECT_EQ(before.tokens, after.tokens);
  EXPECT_EQ(engine->stats().num_free_kv_blocks, engine->stats().num_kv_blocks);
}

TEST(Engine, LogprobsAndPromptLogprobs) {
  auto engine = make_engine(base_config(fixture("llama")));
  GenerateRequest r = greedy({7, 8, 9, 10}, 6);
  r.sampling.logprobs = 3;
  r.sampling.prompt_logprobs = 2;
  auto s = *engine->submit(r);
  const Output o = drain(*s);
  ASSERT_EQ(o.logprobs[0].size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    const auto& lp = o.logprobs[0][i];
    EXPECT_EQ(lp.token_id, o.tokens[0][i]);
    EXPECT_EQ(lp.rank, 1);  // greedy picks the top token
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, lp.token_id);
    EXPECT_LE(lp.logprob, 0.f);
  }
  const PromptInfo pi = s->prompt_info();
  ASSERT_EQ(pi.prompt_logprobs.size(), 4u);
  EXPECT_FALSE(pi.prompt_logprobs[0].has_value());
  for (std::size_t i = 1; i < 4; ++i) {
    ASSERT_TRUE(pi.prompt_logprobs[i].has_value());
    EXPECT_EQ(pi.prompt_logprobs[i]->token_id, pi.prompt_token_ids[i]);
    EXPECT_EQ(pi.prompt_logprobs[i]->top.size(), 2u);
  }
}

// A request for prompt logprobs computes its whole prompt even when the prefix cache holds it.
TEST(Engine, PromptLogprobsWithCachedPrefix) {
  auto engine = make_engine(base_config(fixture("llama")));
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(60 + i);
  drain(**engine->submit(greedy(prompt, 2)));  // fills the cache with the prompt's blocks
  GenerateRequest r = greedy(prompt, 2);
  r.sampling.prompt_logprobs = 1;
  auto s = *engine->submit(r);
  const Output o = drain(*s);
  const PromptInfo pi = s->prompt_info();
  ASSERT_EQ(pi.prompt_logprobs.size(), prompt.size());
  for (std::size_t i = 1; i < prompt.size(); ++i) EXPECT_TRUE(pi.prompt_logprobs[i].has_value()) << i;
  EXPECT_EQ(o.usage.cached_prompt_tokens, 0);
}

// Text, stop strings and EOS need a tokenizer: the fixture models' ids are all below 512, which
// the shared Qwen3 tokenizer decodes to byte-level pieces.
std::string shared_qwen3() { return testing::shared_dir() + "/fixtures/tokenizers/qwen3"; }

TEST(Engine, StopStringsStraddlingTokens) {
  if (!fs::exists(shared_qwen3() + "/tokenizer.json")) GTEST_SKIP() << "../shared fixtures are absent";
  EngineConfig c = base_config(fixture("llama"));
  c.tokenizer_dir = shared_qwen3();
  auto engine = make_engine(c);
  const std::vector<std::int32_t> prompt = {300, 301, 302};
  const Output full = drain(**engine->submit(greedy(prompt, 24)));
  const std::string text = full.text[0];
  ASSERT_GT(text.size(), 10u);
  // A stop string made of the end of one token's text and the start of the next one's.
  std::string piece_a, piece_b;
  std::size_t split = 0;
  {
    auto tok = *engine->submit(greedy(prompt, 6));
    const Output six = drain(*tok);
    split = six.text[0].size();
  }
  ASSERT_GT(split, 1u);
  ASSERT_LT(split + 2, text.size());
  const std::string stop = text.substr(split - 1, 3);
  const std::size_t first = text.find(stop);
  GenerateRequest r = greedy(prompt, 24);
  r.sampling.stop = {stop};
  const Output stopped = drain(**engine->submit(r));
  EXPECT_EQ(stopped.text[0], text.substr(0, first));
  EXPECT_EQ(stopped.finish[0], FinishReason::kStop);
  EXPECT_EQ(std::get<std::string>(stopped.stop_reason[0]), stop);
  r.sampling.include_stop_str_in_output = true;
  const Output included = drain(**engine->submit(r));
  EXPECT_EQ(included.text[0], text.substr(0, first + stop.size()));
}

TEST(Engine, StreamedTextEqualsFullDecodeAndStopTokens) {
  if (!fs::exists(shared_qwen3() + "/tokenizer.json")) GTEST_SKIP() << "../shared fixtures are absent";
  EngineConfig c = base_config(fixture("qwen3"));
  c.tokenizer_dir = shared_qwen3();
  auto engine = make_engine(c);
  const Output o = drain(**engine->submit(greedy({100, 200, 300, 400}, 30)));
  auto tok = tokenizer::Tokenizer::load(shared_qwen3());
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(o.text[0], (*tok)->decode(o.tokens[0], /*skip_special_tokens=*/true));
  // Stop token ids end a completion with that id as the stop reason.
  GenerateRequest r = greedy({100, 200, 300, 400}, 30);
  r.sampling.stop_token_ids = {o.tokens[0][5]};
  const Output st = drain(**engine->submit(r));
  EXPECT_EQ(st.finish[0], FinishReason::kStop);
  EXPECT_EQ(std::get<std::int32_t>(st.stop_reason[0]), o.tokens[0][5]);
  EXPECT_LE(st.tokens[0].size(), 6u);
  // min_tokens masks the stop id until enough tokens were produced.
  r.sampling.min_tokens = 10;
  const Output late = drain(**engine->submit(r));
  EXPECT_GE(late.tokens[0].size(), 10u);
}

}  // namespace
}  // namespace ferrite
