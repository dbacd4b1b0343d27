#include "model/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "unit/model/safetensors_writer.h"

namespace ferrite::model {
namespace {

using json = nlohmann::json;

// Shaped like the config.json files transformers writes for each family.
json llama3() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": true,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "attention_bias": false, "mlp_bias": false, "hidden_act": "silu", "torch_dtype": "bfloat16",
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "pretraining_tp": 1, "use_cache": true
  })");
}

json mistral() {
  return json::parse(R"({
    "architectures": ["MistralForCausalLM"], "model_type": "mistral",
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "max_position_embeddings": 32768, "sliding_window": 4096, "tie_word_embeddings": false,
    "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2
  })");
}

json qwen2() {
  return json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "max_position_embeddings": 32768, "sliding_window": 32768, "use_sliding_window": false,
    "max_window_layers": 21, "tie_word_embeddings": true, "hidden_act": "silu", "torch_dtype": "bfloat16",
    "bos_token_id": 151643, "eos_token_id": 151645, "rope_scaling": null
  })");
}

json qwen3() {
  return json::parse(R"({
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
    "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000, "max_position_embeddings": 40960, "sliding_window": null,
    "use_sliding_window": false, "max_window_layers": 28, "attention_bias": false,
    "tie_word_embeddings": true, "hidden_act": "silu", "torch_dtype": "bfloat16",
    "bos_token_id": 151643, "eos_token_id": 151645, "rope_scaling": null
  })");
}

Result<ModelConfig> parse(const json& j) { return parse_model_config(j.dump(), "/models/x/config.json"); }

TEST(ConfigTest, Llama3) {
  auto c = parse(llama3());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->vocab_size, 128256);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->torch_dtype, backend::DType::kBF16);
  EXPECT_EQ(c->bos_token_ids, (std::vector<std::int64_t>{128000}));
  EXPECT_EQ(c->eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
  EXPECT_FALSE(c->attention_bias || c->o_proj_bias || c->mlp_bias || c->qk_norm);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_FALSE(c->layer_uses_sliding_window(0));
  EXPECT_EQ(c->rotary_dim(), 64);
}

TEST(ConfigTest, LlamaBiasesAndDerivedHeadDim) {
  json j = llama3();
  j.erase("head_dim");
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  j["rope_scaling"] = nullptr;
  j["sliding_window"] = 128;  // transformers' Llama ignores it
  auto c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->head_dim, 2048 / 32);
  EXPECT_TRUE(c->attention_bias && c->o_proj_bias && c->mlp_bias);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kDefault);
  EXPECT_FALSE(c->layer_uses_sliding_window(5));
  j["head_dim"] = nullptr;
  ASSERT_TRUE(parse(j).ok());
  EXPECT_EQ(parse(j)->head_dim, 64);
}

TEST(ConfigTest, Mistral) {
  auto c = parse(mistral());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->sliding_window, 4096);
  for (std::int64_t l : {0, 1, 31}) EXPECT_TRUE(c->layer_uses_sliding_window(l));
  EXPECT_FALSE(c->attention_bias || c->o_proj_bias || c->mlp_bias);
  EXPECT_EQ(c->eos_token_ids, (std::vector<std::int64_t>{2}));
  json j = mistral();
  j["sliding_window"] = nullptr;
  EXPECT_EQ(parse(j)->sliding_window, 0);
  EXPECT_FALSE(parse(j)->layer_uses_sliding_window(3));
  j.erase("sliding_window");  // MistralConfig's default
  EXPECT_EQ(parse(j)->sliding_window, 4096);
}

TEST(ConfigTest, Qwen2) {
  auto c = parse(qwen2());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kDefault);
  EXPECT_FALSE(c->use_sliding_window);
  for (std::int64_t l = 0; l < 24; ++l) EXPECT_FALSE(c->layer_uses_sliding_window(l));

  json j = qwen2();
  j["use_sliding_window"] = true;
  j["sliding_window"] = 1024;
  c = parse(j);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->sliding_window, 1024);
  EXPECT_FALSE(c->layer_uses_sliding_window(20));
  EXPECT_TRUE(c->layer_uses_sliding_window(21));
  EXPECT_TRUE(c->layer_uses_sliding_window(23));
}

TEST(ConfigTest, Qwen3) {
  auto c = parse(qwen3());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->head_dim, 128);  // not hidden / heads (64)
  EXPECT_TRUE(c->qk_norm);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  json j = qwen3();
  j.erase("head_dim");  // Qwen3Config's default
  EXPECT_EQ(parse(j)->head_dim, 128);
  j["attention_bias"] = true;
  EXPECT_TRUE(parse(j)->attention_bias && parse(j)->o_proj_bias);
}

TEST(ConfigTest, LayerTypesWin) {
  json j = qwen3();
  j["num_hidden_layers"] = 4;
  j["use_sliding_window"] = true;
  j["sliding_window"] = 512;
  j["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention"};
  auto c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->layer_uses_sliding_window(0));
  EXPECT_FALSE(c->layer_uses_sliding_window(1));
  EXPECT_TRUE(c->layer_uses_sliding_window(2));
  EXPECT_FALSE(c->layer_uses_sliding_window(3));
}

TEST(ConfigTest, RopeVariants) {
  json j = qwen2();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  auto c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->rope_scaling.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 4.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(c->rope_scaling.beta_fast, 32.0);
  EXPECT_FALSE(c->rope_scaling.mscale.has_value());

  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0},           {"beta_fast", 16},
                       {"mscale", 0.7},       {"attention_factor", 1.1}, {"truncate", false}};
  c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_DOUBLE_EQ(c->rope_scaling.beta_fast, 16.0);
  EXPECT_DOUBLE_EQ(*c->rope_scaling.mscale, 0.7);
  EXPECT_DOUBLE_EQ(*c->rope_scaling.attention_factor, 1.1);
  EXPECT_FALSE(c->rope_scaling.truncate);

  for (const char* t : {"linear", "dynamic"}) {
    j["rope_scaling"] = {{"type", t}, {"factor", 2.0}};
    c = parse(j);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ(c->rope_scaling.type, std::string(t) == "linear" ? RopeType::kLinear : RopeType::kDynamic);
  }
  j["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_EQ(parse(j)->rope_scaling.type, RopeType::kDefault);

  // transformers 5 style: rope_parameters carries theta and scaling.
  j = qwen2();
  j.erase("rope_theta");
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 123456.0}};
  c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_DOUBLE_EQ(c->rope_theta, 123456.0);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kDefault);
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 8.0}, {"rope_theta", 1e4}};
  EXPECT_EQ(parse(j)->rope_scaling.type, RopeType::kLinear);
  j["rope_parameters"] = {{"rope_theta", 5e5}};
  EXPECT_EQ(parse(j)->rope_scaling.type, RopeType::kDefault);
  EXPECT_DOUBLE_EQ(parse(j)->rope_theta, 5e5);

  j = llama3();
  j["partial_rotary_factor"] = 0.5;
  EXPECT_EQ(parse(j)->rotary_dim(), 32);
}

json deepseek_v3();

TEST(ConfigTest, ModelTypeWithoutArchitectures) {
  json j = mistral();
  j.erase("architectures");
  auto c = parse(j);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->architecture, "MistralForCausalLM");
  j = qwen3();
  j.erase("model_type");
  EXPECT_EQ(parse(j)->model_type, "qwen3");
  EXPECT_EQ(supported_architectures().size(), 9u);
  j = deepseek_v3();
  j.erase("architectures");
  EXPECT_EQ(parse(j)->architecture, "DeepseekV3ForCausalLM");
  j = mistral();
  j.erase("num_key_value_heads");
  EXPECT_EQ(parse(j)->num_key_value_heads, 32);
  j.erase("torch_dtype");
  j["dtype"] = "float16";
  EXPECT_EQ(parse(j)->torch_dtype, backend::DType::kF16);
  j.erase("dtype");
  EXPECT_EQ(parse(j)->torch_dtype, backend::DType::kF32);
  j["eos_token_id"] = nullptr;
  EXPECT_TRUE(parse(j)->eos_token_ids.empty());
}

// ---- Bad configs: one clear error naming the file and the field.

struct BadConfig {
  const char* label;
  json (*base)();
  std::function<void(json&)> edit;
  std::vector<std::string> expect;
  StatusCode code = StatusCode::kInvalidArgument;
};

// Each case fails with its code and a message that starts with the file and names the field.
void expect_bad_configs(const std::vector<BadConfig>& cases) {
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.label);
    json j = c.base();
    c.edit(j);
    auto r = parse(j);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().to_string();
    const std::string& m = r.status().message();
    EXPECT_EQ(m.rfind("/models/x/config.json: ", 0), 0u) << m;
    for (const auto& s : c.expect) EXPECT_NE(m.find(s), std::string::npos) << "want '" << s << "' in: " << m;
  }
}

TEST(ConfigTest, BadConfigsGiveClearErrors) {
  const std::vector<BadConfig> cases = {
      {"no vocab", llama3, [](json& j) { j.erase("vocab_size"); }, {"missing required field 'vocab_size'"}},
      {"no hidden", qwen2, [](json& j) { j.erase("hidden_size"); }, {"'hidden_size'"}},
      {"null layers", qwen2, [](json& j) { j["num_hidden_layers"] = nullptr; }, {"'num_hidden_layers'"}},
      {"string size",
       llama3,
       [](json& j) { j["hidden_size"] = "2048"; },
       {"'hidden_size'", "expected an integer", "string \"2048\""}},
      {"float size", llama3, [](json& j) { j["intermediate_size"] = 8192.5; }, {"'intermediate_size'", "integer"}},
      {"zero size", llama3, [](json& j) { j["vocab_size"] = 0; }, {"'vocab_size'", "positive"}},
      {"negative heads",
       mistral,
       [](json& j) { j["num_attention_heads"] = -4; },
       {"'num_attention_heads'", "positive"}},
      {"huge", mistral, [](json& j) { j["hidden_size"] = 1LL << 40; }, {"'hidden_size'", "implausibly large"}},
      {"beyond int64", mistral, [](json& j) { j["hidden_size"] = 18446744073709551615ULL; }, {"'hidden_size'"}},
      {"heads do not divide",
       mistral,
       [](json& j) { j["num_attention_heads"] = 24; },
       {"'num_attention_heads'", "does not divide hidden_size"}},
      {"kv does not divide",
       mistral,
       [](json& j) { j["num_key_value_heads"] = 7; },
       {"'num_key_value_heads'", "does not divide num_attention_heads"}},
      {"bad arch",
       llama3,
       [](json& j) { j["architectures"] = {"GPT2LMHeadModel"}; },
       {"unsupported architecture 'GPT2LMHeadModel'",
        "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"},
       StatusCode::kUnimplemented},
      {"empty arch", llama3, [](json& j) { j["architectures"] = json::array(); }, {"'architectures'"}},
      {"arch string", llama3, [](json& j) { j["architectures"] = "LlamaForCausalLM"; }, {"'architectures'", "list"}},
      {"no arch",
       llama3,
       [](json& j) {
         j.erase("architectures");
         j.erase("model_type");
       },
       {"missing required field 'architectures'"}},
      {"bad model_type",
       llama3,
       [](json& j) {
         j.erase("architectures");
         j["model_type"] = "gpt2";
       },
       {"unsupported model_type 'gpt2'"},
       StatusCode::kUnimplemented},
      {"gelu",
       llama3,
       [](json& j) { j["hidden_act"] = "gelu"; },
       {"'hidden_act'", "'gelu'", "not implemented"},
       StatusCode::kUnimplemented},
      {"act number", llama3, [](json& j) { j["hidden_act"] = 3; }, {"'hidden_act'", "expected a string"}},
      {"bool as string", llama3, [](json& j) { j["tie_word_embeddings"] = "true"; }, {"'tie_word_embeddings'"}},
      {"eps negative", llama3, [](json& j) { j["rms_norm_eps"] = -1e-5; }, {"'rms_norm_eps'", "> 0"}},
      {"eps string", llama3, [](json& j) { j["rms_norm_eps"] = "1e-5"; }, {"'rms_norm_eps'", "expected a number"}},
      {"theta zero", llama3, [](json& j) { j["rope_theta"] = 0; }, {"'rope_theta'"}},
      {"dtype int",
       llama3,
       [](json& j) { j["torch_dtype"] = "int8"; },
       {"'torch_dtype'", "'int8'"},
       StatusCode::kUnimplemented},
      {"eos string", llama3, [](json& j) { j["eos_token_id"] = "2"; }, {"'eos_token_id'"}},
      {"eos list bad",
       llama3,
       [](json& j) {
         j["eos_token_id"] = {1, "x"};
       },
       {"'eos_token_id'"}},
      {"eos negative", llama3, [](json& j) { j["eos_token_id"] = -1; }, {"'eos_token_id'", "negative"}},
      {"head_dim zero", qwen3, [](json& j) { j["head_dim"] = 0; }, {"'head_dim'", "positive"}},
      {"odd rotary", llama3, [](json& j) { j["head_dim"] = 63; }, {"'head_dim'", "even"}},
      {"odd partial",
       llama3,
       [](json& j) {
         j["partial_rotary_factor"] = 0.25;
         j["head_dim"] = 36;
       },
       {"'partial_rotary_factor'", "even"}},
      {"partial factor", llama3, [](json& j) { j["partial_rotary_factor"] = 1.5; }, {"'partial_rotary_factor'"}},
      {"rope_scaling list",
       llama3,
       [](json& j) {
         j["rope_scaling"] = {1, 2};
       },
       {"'rope_scaling'", "object"}},
      {"rope no type",
       llama3,
       [](json& j) { j["rope_scaling"].erase("rope_type"); },
       {"'rope_scaling.type' or 'rope_scaling.rope_type'"}},
      {"rope unknown",
       llama3,
       [](json& j) { j["rope_scaling"]["rope_type"] = "longrope"; },
       {"'rope_scaling.rope_type'", "'longrope'", "llama3, yarn"},
       StatusCode::kUnimplemented},
      {"llama3 no original",
       llama3,
       [](json& j) { j["rope_scaling"].erase("original_max_position_embeddings"); },
       {"missing required field 'rope_scaling.original_max_position_embeddings'"}},
      {"llama3 no low",
       llama3,
       [](json& j) { j["rope_scaling"].erase("low_freq_factor"); },
       {"'rope_scaling.low_freq_factor'"}},
      {"llama3 high<=low",
       llama3,
       [](json& j) { j["rope_scaling"]["high_freq_factor"] = 1.0; },
       {"'rope_scaling.high_freq_factor'", "greater than low_freq_factor"}},
      {"factor zero",
       qwen2,
       [](json& j) {
         j["rope_scaling"] = {{"type", "linear"}, {"factor", 0}};
       },
       {"'rope_scaling.factor'", "> 0"}},
      {"factor missing",
       qwen2,
       [](json& j) {
         j["rope_scaling"] = {{"type", "dynamic"}};
       },
       {"missing required field 'rope_scaling.factor'"}},
      {"yarn factor string",
       qwen2,
       [](json& j) {
         j["rope_scaling"] = {{"type", "yarn"}, {"factor", "4"}};
       },
       {"'rope_scaling.factor'", "expected a number"}},
      {"rope_parameters bad",
       qwen2,
       [](json& j) {
         j["rope_parameters"] = {{"rope_type", "yarn"}};
       },
       {"'rope_parameters.factor'"}},
      {"window zero", mistral, [](json& j) { j["sliding_window"] = 0; }, {"'sliding_window'", "positive"}},
      {"window string", qwen2, [](json& j) { j["sliding_window"] = "4096"; }, {"'sliding_window'"}},
      {"use_sliding bad", qwen2, [](json& j) { j["use_sliding_window"] = 1; }, {"'use_sliding_window'"}},
      {"max_window negative", qwen2, [](json& j) { j["max_window_layers"] = -1; }, {"'max_window_layers'"}},
      {"layer_types length",
       qwen3,
       [](json& j) { j["layer_types"] = {"full_attention"}; },
       {"'layer_types'", "num_hidden_layers is 28"}},
      {"max pos zero", qwen3, [](json& j) { j["max_position_embeddings"] = 0; }, {"'max_position_embeddings'"}},
  };
  expect_bad_configs(cases);
}

TEST(ConfigTest, MalformedJson) {
  auto r = parse_model_config("{\n  \"vocab_size\": 10,\n  \"hidden_size\": ,\n}", "/m/config.json");
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("/m/config.json: malformed JSON"), std::string::npos) << m;
  EXPECT_NE(m.find("line 3"), std::string::npos) << m;
  EXPECT_EQ(m.find("[json.exception"), std::string::npos) << m;
  EXPECT_FALSE(parse_model_config("", "/m/config.json").ok());
  auto arr = parse_model_config("[1]", "/m/config.json");
  ASSERT_FALSE(arr.ok());
  EXPECT_NE(arr.status().message().find("JSON object"), std::string::npos);
}

TEST(ConfigTest, LoadFromDirectory) {
  test::TempDir d;
  auto missing = load_model_config(d.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(d.file("config.json")), std::string::npos);
  test::write_file(d.file("config.json"), qwen3().dump(2));
  auto ok = load_model_config(d.path());
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->architecture, "Qwen3ForCausalLM");
  test::write_file(d.file("config.json"), "{ nope");
  auto bad = load_model_config(d.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(d.file("config.json") + ": malformed JSON"), std::string::npos);
}

TEST(GenerationConfigTest, ParsesFields) {
  auto g = parse_generation_config(R"({"bos_token_id": 1, "eos_token_id": [2, 7], "pad_token_id": 0,
      "temperature": 0.6, "top_p": 0.9, "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1,
      "max_new_tokens": 256, "do_sample": true, "transformers_version": "4.51.0"})",
                                   "/m/generation_config.json");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->eos_token_ids, (std::vector<std::int64_t>{2, 7}));
  EXPECT_EQ(g->bos_token_id, 1);
  EXPECT_EQ(g->pad_token_id, 0);
  EXPECT_DOUBLE_EQ(*g->temperature, 0.6);
  EXPECT_DOUBLE_EQ(*g->top_p, 0.9);
  EXPECT_EQ(g->top_k, 20);
  EXPECT_DOUBLE_EQ(*g->min_p, 0.05);
  EXPECT_DOUBLE_EQ(*g->repetition_penalty, 1.1);
  EXPECT_EQ(g->max_new_tokens, 256);
  EXPECT_EQ(g->do_sample, true);

  auto single = parse_generation_config(R"({"eos_token_id": 5, "top_k": null})", "g.json");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->eos_token_ids, (std::vector<std::int64_t>{5}));
  EXPECT_FALSE(single->top_k.has_value());
  EXPECT_FALSE(single->temperature.has_value());
}

TEST(GenerationConfigTest, BadFieldsAndFiles) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"eos_token_id": "x"})", "'eos_token_id'"},
      {R"({"temperature": "hot"})", "'temperature'"},
      {R"({"temperature": -1})", "'temperature'"},
      {R"({"top_p": 0})", "'top_p'"},
      {R"({"top_p": 1.5})", "'top_p'"},
      {R"({"top_k": 1.5})", "'top_k'"},
      {R"({"top_k": -1})", "'top_k'"},
      {R"({"min_p": 2})", "'min_p'"},
      {R"({"repetition_penalty": 0})", "'repetition_penalty'"},
      {R"({"max_new_tokens": 0})", "'max_new_tokens'"},
      {R"({"do_sample": "yes"})", "'do_sample'"},
      {R"({"eos_token_id": 1,})", "malformed JSON"},
      {R"("text")", "JSON object"},
  };
  for (const auto& [text, want] : bad) {
    auto g = parse_generation_config(text, "/m/generation_config.json");
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_EQ(g.status().message().rfind("/m/generation_config.json: ", 0), 0u) << g.status().message();
    EXPECT_NE(g.status().message().find(want), std::string::npos) << g.status().message();
  }

  test::TempDir d;
  auto none = load_generation_config(d.path());
  ASSERT_TRUE(none.ok());  // optional file
  EXPECT_TRUE(none->eos_token_ids.empty());
  EXPECT_FALSE(none->temperature.has_value());
  test::write_file(d.file("generation_config.json"), "{\"temperature\": 0.7}");
  ASSERT_TRUE(load_generation_config(d.path()).ok());
  EXPECT_DOUBLE_EQ(*load_generation_config(d.path())->temperature, 0.7);
  test::write_file(d.file("generation_config.json"), "{\"temperature\": }");
  auto bad_file = load_generation_config(d.path());
  ASSERT_FALSE(bad_file.ok());
  EXPECT_NE(bad_file.status().message().find(d.file("generation_config.json")), std::string::npos);
}

// ---- Mixture of experts: the config.json files of Mixtral-8x7B, Qwen1.5-MoE-A2.7B, Qwen3-30B-A3B.

json mixtral() {
  return json::parse(R"({
    "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1e6,
    "max_position_embeddings": 32768, "sliding_window": null, "tie_word_embeddings": false,
    "num_local_experts": 8, "num_experts_per_tok": 2, "output_router_logits": false,
    "router_aux_loss_coef": 0.02, "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2
  })");
}

json qwen2_moe() {
  return json::parse(R"({
    "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
    "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
    "num_attention_heads": 16, "num_key_value_heads": 16, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "max_position_embeddings": 8192, "sliding_window": 32768, "use_sliding_window": false, "max_window_layers": 21,
    "decoder_sparse_step": 1, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
    "num_experts_per_tok": 4, "num_experts": 60, "norm_topk_prob": false, "output_router_logits": false,
    "router_aux_loss_coef": 0.001, "tie_word_embeddings": false, "hidden_act": "silu", "torch_dtype": "bfloat16",
    "bos_token_id": 151643, "eos_token_id": 151643
  })");
}

json qwen3_moe() {
  return json::parse(R"({
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
    "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
    "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "max_position_embeddings": 40960, "sliding_window": null, "use_sliding_window": false,
    "max_window_layers": 48, "decoder_sparse_step": 1, "moe_intermediate_size": 768, "num_experts_per_tok": 8,
    "num_experts": 128, "norm_topk_prob": true, "mlp_only_layers": [], "output_router_logits": false,
    "router_aux_loss_coef": 0.001, "attention_bias": false, "tie_word_embeddings": false, "hidden_act": "silu",
    "torch_dtype": "bfloat16", "bos_token_id": 151643, "eos_token_id": 151645
  })");
}

TEST(ConfigTest, Mixtral) {
  auto c = parse(mixtral());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->num_experts, 8);
  EXPECT_EQ(c->num_experts_per_tok, 2);
  EXPECT_EQ(c->moe_intermediate_size, 14336);  // Mixtral's experts use intermediate_size
  EXPECT_TRUE(c->norm_topk_prob);              // always renormalised
  EXPECT_EQ(c->shared_expert_intermediate_size, 0);
  EXPECT_EQ(c->sliding_window, 0);
  for (std::int64_t l = 0; l < 32; ++l) EXPECT_TRUE(c->layer_is_sparse(l));
  EXPECT_EQ(*parameter_count(*c), 46702792704);  // Mixtral-8x7B's published count
  json j = mixtral();
  j.erase("sliding_window");  // MixtralConfig's default is no window (Mistral's is 4096)
  EXPECT_EQ(parse(j)->sliding_window, 0);
  j["num_experts"] = 8;  // the attribute_map alias, agreeing
  EXPECT_TRUE(parse(j).ok());
}

TEST(ConfigTest, Qwen2Moe) {
  auto c = parse(qwen2_moe());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->num_experts, 60);
  EXPECT_EQ(c->num_experts_per_tok, 4);
  EXPECT_EQ(c->moe_intermediate_size, 1408);
  EXPECT_EQ(c->shared_expert_intermediate_size, 5632);
  EXPECT_FALSE(c->norm_topk_prob);
  EXPECT_TRUE(c->attention_bias);  // qkv_bias defaults to true
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(*parameter_count(*c), 14315784192);  // Qwen1.5-MoE-A2.7B
  json j = qwen2_moe();
  j["decoder_sparse_step"] = 2;
  j["mlp_only_layers"] = {1};
  auto d = parse(j);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_FALSE(d->layer_is_sparse(0));
  EXPECT_FALSE(d->layer_is_sparse(1));  // listed in mlp_only_layers
  EXPECT_FALSE(d->layer_is_sparse(2));
  EXPECT_TRUE(d->layer_is_sparse(3));
  j = qwen2_moe();
  j["sliding_window"] = 0;  // what Qwen2MoeConfig writes when use_sliding_window is false
  EXPECT_TRUE(parse(j).ok());
  j["qkv_bias"] = false;
  EXPECT_FALSE(parse(j)->attention_bias);
}

TEST(ConfigTest, Qwen3Moe) {
  auto c = parse(qwen3_moe());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->num_experts, 128);
  EXPECT_EQ(c->num_experts_per_tok, 8);
  EXPECT_EQ(c->moe_intermediate_size, 768);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_TRUE(c->qk_norm);
  EXPECT_EQ(c->shared_expert_intermediate_size, 0);
  EXPECT_TRUE(c->layer_is_sparse(0) && c->layer_is_sparse(47));
  EXPECT_EQ(*parameter_count(*c), 30532122624);  // Qwen3-30B-A3B
  json j = qwen3_moe();
  j.erase("num_experts");
  j["num_local_experts"] = 128;  // what Qwen3MoeConfig.save_pretrained writes
  EXPECT_EQ(parse(j)->num_experts, 128);
  j.erase("norm_topk_prob");  // Qwen3MoeConfig's default
  EXPECT_FALSE(parse(j)->norm_topk_prob);
  j["mlp_only_layers"] = {0, 47};
  EXPECT_FALSE(parse(j)->layer_is_sparse(0));
  EXPECT_TRUE(parse(j)->layer_is_sparse(1));
  EXPECT_FALSE(parse(j)->layer_is_sparse(47));
}

TEST(ConfigTest, BadMoeConfigsGiveClearErrors) {
  const std::vector<BadConfig> cases = {
      {"no experts",
       mixtral,
       [](json& j) { j.erase("num_local_experts"); },
       {"missing required field 'num_local_experts'"}},
      {"no qwen experts", qwen2_moe, [](json& j) { j.erase("num_experts"); }, {"missing required field 'num_experts'"}},
      {"zero experts", qwen3_moe, [](json& j) { j["num_experts"] = 0; }, {"'num_experts'", "positive"}},
      {"no top-k",
       mixtral,
       [](json& j) { j.erase("num_experts_per_tok"); },
       {"missing required field 'num_experts_per_tok'"}},
      {"top-k zero", qwen2_moe, [](json& j) { j["num_experts_per_tok"] = 0; }, {"'num_experts_per_tok'", "positive"}},
      {"top-k above experts",
       mixtral,
       [](json& j) { j["num_experts_per_tok"] = 9; },
       {"'num_experts_per_tok'", "9 is more than num_local_experts (8)"}},
      {"top-k above qwen experts",
       qwen3_moe,
       [](json& j) { j["num_experts_per_tok"] = 129; },
       {"'num_experts_per_tok'", "more than num_experts (128)"}},
      {"aliases disagree",
       qwen3_moe,
       [](json& j) { j["num_local_experts"] = 64; },
       {"'num_experts'", "disagrees with num_local_experts (64)"}},
      {"no moe size",
       qwen3_moe,
       [](json& j) { j.erase("moe_intermediate_size"); },
       {"missing required field 'moe_intermediate_size'"}},
      {"null moe size",
       qwen2_moe,
       [](json& j) { j["moe_intermediate_size"] = nullptr; },
       {"missing required field 'moe_intermediate_size'"}},
      {"no shared size",
       qwen2_moe,
       [](json& j) { j.erase("shared_expert_intermediate_size"); },
       {"missing required field 'shared_expert_intermediate_size'"}},
      {"sparse step zero",
       qwen2_moe,
       [](json& j) { j["decoder_sparse_step"] = 0; },
       {"'decoder_sparse_step'", "positive"}},
      {"mlp_only_layers out of range",
       qwen3_moe,
       [](json& j) {
         j["mlp_only_layers"] = {3, 48};
       },
       {"'mlp_only_layers'", "48", "[0, 48)"}},
      {"mlp_only_layers negative", qwen3_moe, [](json& j) { j["mlp_only_layers"] = {-1}; }, {"'mlp_only_layers'"}},
      {"mlp_only_layers not a list",
       qwen3_moe,
       [](json& j) { j["mlp_only_layers"] = 3; },
       {"'mlp_only_layers'", "expected a list"}},
      {"norm_topk_prob string",
       qwen3_moe,
       [](json& j) { j["norm_topk_prob"] = "yes"; },
       {"'norm_topk_prob'", "true or false"}},
      {"sigmoid scoring",
       qwen3_moe,
       [](json& j) { j["scoring_func"] = "sigmoid"; },
       {"'scoring_func'", "unsupported router scoring 'sigmoid'"},
       StatusCode::kUnimplemented},
      {"grouped routing",
       qwen2_moe,
       [](json& j) { j["n_group"] = 8; },
       {"'n_group'", "grouped"},
       StatusCode::kUnimplemented},
      {"top-k method",
       mixtral,
       [](json& j) { j["topk_method"] = "noaux_tc"; },
       {"'topk_method'", "noaux_tc"},
       StatusCode::kUnimplemented},
      {"scaled routing",
       qwen3_moe,
       [](json& j) { j["routed_scaling_factor"] = 2.5; },
       {"'routed_scaling_factor'"},
       StatusCode::kUnimplemented},
  };
  expect_bad_configs(cases);
  // Training-only router options are accepted and ignored.
  json j = mixtral();
  j["router_jitter_noise"] = 0.1;
  j["output_router_logits"] = true;
  EXPECT_TRUE(parse(j).ok());
}

// ---- DeepSeek: the config.json files of DeepSeek-V2-Lite and DeepSeek-V3 (quantization_config left out).

json deepseek_v2_lite() {
  return json::parse(R"({"architectures": ["DeepseekV2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "aux_loss_alpha": 0.001,
 "bos_token_id": 100000, "eos_token_id": 100001, "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": 2048,
 "initializer_range": 0.02, "intermediate_size": 10944, "kv_lora_rank": 512, "max_position_embeddings": 163840,
 "model_type": "deepseek_v2", "moe_intermediate_size": 1408, "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 64,
 "n_shared_experts": 2, "norm_topk_prob": false, "num_attention_heads": 16, "num_experts_per_tok": 6,
 "num_hidden_layers": 27, "num_key_value_heads": 16, "pretraining_tp": 1, "q_lora_rank": null, "qk_nope_head_dim": 128,
 "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
 "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                  "original_max_position_embeddings": 4096, "type": "yarn"},
 "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "seq_aux": true,
 "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy", "torch_dtype": "bfloat16",
 "use_cache": true, "v_head_dim": 128, "vocab_size": 102400})");
}

json deepseek_v3() {
  return json::parse(R"({"architectures": ["DeepseekV3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 0,
 "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168,
 "initializer_range": 0.02, "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
 "model_type": "deepseek_v3", "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256,
 "n_shared_experts": 1, "norm_topk_prob": true, "num_attention_heads": 128, "num_experts_per_tok": 8,
 "num_hidden_layers": 61, "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "q_lora_rank": 1536,
 "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
 "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                  "original_max_position_embeddings": 4096, "type": "yarn"},
 "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "tie_word_embeddings": false,
 "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "use_cache": true, "v_head_dim": 128,
 "vocab_size": 129280})");
}

TEST(ConfigTest, DeepseekV2Lite) {
  auto c = parse(deepseek_v2_lite());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->is_mla());
  EXPECT_EQ(c->q_lora_rank, 0);  // null: a plain q_proj
  EXPECT_EQ(c->kv_lora_rank, 512);
  EXPECT_EQ(c->qk_nope_head_dim, 128);
  EXPECT_EQ(c->qk_rope_head_dim, 64);
  EXPECT_EQ(c->v_head_dim, 128);
  EXPECT_EQ(c->head_dim, 64);  // the rotary part, as transformers sets it
  EXPECT_EQ(c->rotary_dim(), 64);
  EXPECT_TRUE(c->rope_interleave);
  EXPECT_EQ(c->num_experts, 64);
  EXPECT_EQ(c->num_experts_per_tok, 6);
  EXPECT_EQ(c->n_shared_experts, 2);
  EXPECT_EQ(c->router_scoring, RouterScoring::kSoftmax);
  EXPECT_EQ(c->num_expert_groups, 1);  // greedy: no group limit whatever n_group says
  EXPECT_FALSE(c->norm_topk_prob);
  EXPECT_FALSE(c->score_correction_bias);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 1.0);
  EXPECT_EQ(c->rope_scaling.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(*c->rope_scaling.mscale_all_dim, 0.707);
  EXPECT_FALSE(c->layer_is_sparse(0));
  EXPECT_TRUE(c->layer_is_sparse(1) && c->layer_is_sparse(26));
  EXPECT_EQ(*parameter_count(*c), 15706484224);  // transformers' count on the meta device
  json j = deepseek_v2_lite();
  j["topk_method"] = "group_limited_greedy";
  j["n_group"] = 8;
  j["topk_group"] = 3;
  auto g = parse(j);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->num_expert_groups, 8);
  EXPECT_EQ(g->topk_groups, 3);
  EXPECT_EQ(g->group_score, GroupScore::kMax);
  j = deepseek_v2_lite();
  j["moe_layer_freq"] = 2;  // DeepSeek's own rule: sparse where layer >= first_k_dense_replace and layer % freq == 0
  EXPECT_FALSE(parse(j)->layer_is_sparse(1));
  EXPECT_TRUE(parse(j)->layer_is_sparse(2));
  j = deepseek_v2_lite();
  j.erase("q_lora_rank");  // transformers' default
  EXPECT_EQ(parse(j)->q_lora_rank, 1536);
}

TEST(ConfigTest, DeepseekV3) {
  auto c = parse(deepseek_v3());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->q_lora_rank, 1536);
  EXPECT_EQ(c->num_experts, 256);
  EXPECT_EQ(c->num_experts_per_tok, 8);
  EXPECT_EQ(c->n_shared_experts, 1);
  EXPECT_EQ(c->router_scoring, RouterScoring::kSigmoid);
  EXPECT_EQ(c->group_score, GroupScore::kTop2Sum);
  EXPECT_EQ(c->num_expert_groups, 8);
  EXPECT_EQ(c->topk_groups, 4);
  EXPECT_TRUE(c->score_correction_bias);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
  EXPECT_TRUE(c->rope_interleave);
  EXPECT_FALSE(c->layer_is_sparse(2));
  EXPECT_TRUE(c->layer_is_sparse(3) && c->layer_is_sparse(60));
  // transformers' count on the meta device, with the 58 e_score_correction_bias buffers (in the checkpoint).
  EXPECT_EQ(*parameter_count(*c), 671026419200);
  json j = deepseek_v3();
  j["rope_interleave"] = false;
  EXPECT_FALSE(parse(j)->rope_interleave);
  for (const char* key : {"n_group", "topk_group", "first_k_dense_replace", "routed_scaling_factor", "norm_topk_prob",
                          "topk_method", "scoring_func", "n_shared_experts"})
    j.erase(key);  // DeepseekV3Config's defaults are V3's values
  auto d = parse(j);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->num_expert_groups, 8);
  EXPECT_EQ(d->topk_groups, 4);
  EXPECT_EQ(d->first_k_dense_replace, 3);
  EXPECT_TRUE(d->norm_topk_prob);
  EXPECT_DOUBLE_EQ(d->routed_scaling_factor, 2.5);
}

TEST(ConfigTest, BadDeepseekConfigsGiveClearErrors) {
  const std::vector<BadConfig> cases = {
      {"no kv_lora_rank", deepseek_v3, [](json& j) { j.erase("kv_lora_rank"); }, {"missing required field 'kv_lora_rank'"}},
      {"null kv_lora_rank",
       deepseek_v2_lite,
       [](json& j) { j["kv_lora_rank"] = nullptr; },
       {"missing required field 'kv_lora_rank'"}},
      {"no qk_rope_head_dim",
       deepseek_v2_lite,
       [](json& j) { j.erase("qk_rope_head_dim"); },
       {"missing required field 'qk_rope_head_dim'"}},
      {"odd rope dim", deepseek_v3, [](json& j) { j["qk_rope_head_dim"] = 63; }, {"'qk_rope_head_dim'", "even"}},
      {"no v_head_dim", deepseek_v3, [](json& j) { j.erase("v_head_dim"); }, {"missing required field 'v_head_dim'"}},
      {"q_lora_rank zero", deepseek_v3, [](json& j) { j["q_lora_rank"] = 0; }, {"'q_lora_rank'", "positive"}},
      {"grouped kv heads",
       deepseek_v3,
       [](json& j) { j["num_key_value_heads"] = 16; },
       {"'num_key_value_heads'", "16 differs from num_attention_heads (128)"}},
      {"no experts", deepseek_v3, [](json& j) { j.erase("n_routed_experts"); }, {"missing required field 'n_routed_experts'"}},
      {"expert aliases disagree",
       deepseek_v2_lite,
       [](json& j) { j["num_experts"] = 32; },
       {"'num_experts'", "32 disagrees with n_routed_experts (64)"}},
      {"top-k above experts",
       deepseek_v2_lite,
       [](json& j) { j["num_experts_per_tok"] = 65; },
       {"'num_experts_per_tok'", "65 is more than n_routed_experts (64)"}},
      {"no moe size",
       deepseek_v3,
       [](json& j) { j.erase("moe_intermediate_size"); },
       {"missing required field 'moe_intermediate_size'"}},
      {"n_group does not divide",
       deepseek_v3,
       [](json& j) { j["n_group"] = 7; },
       {"'n_group'", "7 does not divide n_routed_experts (256)"}},
      {"topk_group above n_group",
       deepseek_v3,
       [](json& j) { j["topk_group"] = 9; },
       {"'topk_group'", "9 is more than n_group (8)"}},
      {"groups of one for top-2 scoring",
       deepseek_v3,
       [](json& j) {
         j["n_group"] = 256;
         j["topk_group"] = 8;
       },
       {"'n_group'", "fewer than 2 experts per group"}},
      {"top-k above the kept groups",
       deepseek_v3,
       [](json& j) {
         j["topk_group"] = 1;
         j["num_experts_per_tok"] = 33;
       },
       {"'num_experts_per_tok'", "33 is more than the 32 experts of topk_group (1) groups"}},
      {"group_limited_greedy without n_group",
       deepseek_v2_lite,
       [](json& j) {
         j["topk_method"] = "group_limited_greedy";
         j.erase("n_group");
       },
       {"missing required field 'n_group'"}},
      {"unknown topk_method",
       deepseek_v2_lite,
       [](json& j) { j["topk_method"] = "noaux_tc"; },
       {"'topk_method'", "'noaux_tc'", "greedy, group_limited_greedy"},
       StatusCode::kUnimplemented},
      {"v3 topk_method",
       deepseek_v3,
       [](json& j) { j["topk_method"] = "greedy"; },
       {"'topk_method'", "'greedy'", "noaux_tc"},
       StatusCode::kUnimplemented},
      {"v2 sigmoid",
       deepseek_v2_lite,
       [](json& j) { j["scoring_func"] = "sigmoid"; },
       {"'scoring_func'", "'sigmoid'"},
       StatusCode::kUnimplemented},
      {"v3 softmax",
       deepseek_v3,
       [](json& j) { j["scoring_func"] = "softmax"; },
       {"'scoring_func'", "'softmax'"},
       StatusCode::kUnimplemented},
      {"v2 renormalised",
       deepseek_v2_lite,
       [](json& j) { j["norm_topk_prob"] = true; },
       {"'norm_topk_prob'"},
       StatusCode::kUnimplemented},
      {"negative dense layers",
       deepseek_v3,
       [](json& j) { j["first_k_dense_replace"] = -1; },
       {"'first_k_dense_replace'", "negative"}},
      {"moe_layer_freq zero", deepseek_v3, [](json& j) { j["moe_layer_freq"] = 0; }, {"'moe_layer_freq'", "positive"}},
      {"scaling zero", deepseek_v3, [](json& j) { j["routed_scaling_factor"] = 0; }, {"'routed_scaling_factor'", "> 0"}},
      {"v2 mlp bias",
       deepseek_v2_lite,
       [](json& j) { j["mlp_bias"] = true; },
       {"'mlp_bias'"},
       StatusCode::kUnimplemented},
  };
  expect_bad_configs(cases);
}

}  // namespace
}  // namespace ferrite::model
