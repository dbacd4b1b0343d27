// Each broken directory of bad_model_dirs.h fails to load with its expected message, loaded the
// way a model loader does: config first, then the weights by the shapes the config implies.
#include "unit/model/bad_model_dirs.h"

#include <gtest/gtest.h>

#include "model/config.h"
#include "model/safetensors.h"

namespace ferrite::model {
namespace {

Status load_tiny_llama(const std::string& dir) {
  FERRITE_ASSIGN_OR_RETURN(ModelConfig cfg, load_model_config(dir));
  FERRITE_ASSIGN_OR_RETURN(WeightStore ws, WeightStore::open(dir));
  const std::int64_t h = cfg.hidden_size, q = cfg.num_attention_heads * cfg.head_dim,
                     kv = cfg.num_key_value_heads * cfg.head_dim, ff = cfg.intermediate_size;
  std::vector<std::pair<std::string, backend::Shape>> want = {{"model.embed_tokens.weight", {cfg.vocab_size, h}},
                                                              {"model.norm.weight", {h}},
                                                              {"lm_head.weight", {cfg.vocab_size, h}}};
  for (std::int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    want.push_back({p + "input_layernorm.weight", {h}});
    want.push_back({p + "self_attn.q_proj.weight", {q, h}});
    want.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    want.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    want.push_back({p + "self_attn.o_proj.weight", {h, q}});
    want.push_back({p + "post_attention_layernorm.weight", {h}});
    want.push_back({p + "mlp.gate_proj.weight", {ff, h}});
    want.push_back({p + "mlp.up_proj.weight", {ff, h}});
    want.push_back({p + "mlp.down_proj.weight", {h, ff}});
  }
  for (const auto& [name, shape] : want) {
    FERRITE_ASSIGN_OR_RETURN(backend::Tensor t, ws.get(name, shape, backend::DType::kBF16));
    (void)t;
  }
  return ok_status();
}

TEST(BadModelDirsTest, TinyModelLoads) {
  test::TempDir d;
  test::write_tiny_model_dir(d.path());
  Status st = load_tiny_llama(d.path());
  EXPECT_TRUE(st.ok()) << st.to_string();
  auto ws = WeightStore::open(d.path());
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->names().size(), test::tiny_llama_weight_shapes().size());
}

TEST(BadModelDirsTest, EachCaseFailsWithItsMessage) {
  for (const auto& bc : test::bad_model_cases()) {
    SCOPED_TRACE(bc.name);
    test::TempDir d;
    const std::string dir = d.file(bc.name);
    test::write_bad_model_dir(dir, bc.c);
    Status st = load_tiny_llama(dir);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(bc.expected), std::string::npos) << "want '" << bc.expected << "' in: " << st.message();
    EXPECT_NE(st.message().find(dir), std::string::npos) << st.message();  // names the path
  }
}

}  // namespace
}  // namespace ferrite::model
