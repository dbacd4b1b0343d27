// Writers of tiny model directories, valid and broken in one way each, for tests of every layer
// that loads a model (the model module here, the CLI and server tests later). A broken directory
// is the valid tiny Llama with exactly one defect, and each case lists a substring its load
// error must contain. No tokenizer files are written; a caller that needs them copies them in.
//
//   for (const auto& bc : ferrite::test::bad_model_cases()) {
//     ferrite::test::write_bad_model_dir(dir, bc.c);
//     ... load, expect failure whose message contains bc.expected ...
//   }
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "unit/model/safetensors_writer.h"

namespace ferrite::test {

enum class BadCase {
  kMissingConfig,
  kMalformedConfig,
  kUnsupportedArchitecture,
  kUnsupportedActivation,
  kMissingWeights,
  kTruncatedHeader,
  kTruncatedSafetensors,
  kHeaderNotJson,
  kOffsetsOutOfRange,
  kSizeMismatch,
  kOverlappingTensors,
  kUnsupportedDtype,
  kMissingShard,
  kMissingTensor,
  kWrongShape,
};

struct BadModelCase {
  BadCase c;
  const char* name;
  const char* expected;  // a substring of the error
};

inline const std::vector<BadModelCase>& bad_model_cases() {
  static const std::vector<BadModelCase> cases = {
      {BadCase::kMissingConfig, "missing_config", "no config.json"},
      {BadCase::kMalformedConfig, "malformed_config", "malformed JSON"},
      {BadCase::kUnsupportedArchitecture, "unsupported_architecture", "unsupported architecture 'GPT2LMHeadModel'"},
      {BadCase::kUnsupportedActivation, "unsupported_activation", "'gelu_pytorch_tanh' is not implemented"},
      {BadCase::kMissingWeights, "missing_weights", "no model.safetensors"},
      {BadCase::kTruncatedHeader, "truncated_header", "exceeds the file size"},
      {BadCase::kTruncatedSafetensors, "truncated_safetensors", "truncated"},
      {BadCase::kHeaderNotJson, "header_not_json", "not valid JSON"},
      {BadCase::kOffsetsOutOfRange, "offsets_out_of_range", "beyond the end of the data section"},
      {BadCase::kSizeMismatch, "size_mismatch", "bytes but shape"},
      {BadCase::kOverlappingTensors, "overlapping_tensors", "overlap"},
      {BadCase::kUnsupportedDtype, "unsupported_dtype", "unsupported dtype 'F8_E4M3'"},
      {BadCase::kMissingShard, "missing_shard", "does not exist"},
      {BadCase::kMissingTensor, "missing_tensor", "model.layers.1.mlp.down_proj.weight"},
      {BadCase::kWrongShape, "wrong_shape", "has shape [16, 16], expected [8, 16]"},
  };
  return cases;
}

// A two-layer Llama: vocab 64, hidden 16, 4 heads of 4, 2 KV heads, MLP 32, f32, untied head.
inline std::string tiny_llama_config_json(const std::string& architecture = "LlamaForCausalLM",
                                          const std::string& hidden_act = "silu") {
  return "{\n  \"architectures\": [\"" + architecture + "\"],\n  \"model_type\": \"llama\",\n" +
         R"(  "vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "max_position_embeddings": 128, "tie_word_embeddings": false, "torch_dtype": "float32",
  "bos_token_id": 1, "eos_token_id": 2, "hidden_act": ")" +
         hidden_act + "\"\n}\n";
}

// Every weight of the tiny Llama with its shape, in Hugging Face names and [out, in] layout.
inline std::vector<std::pair<std::string, std::vector<std::int64_t>>> tiny_llama_weight_shapes() {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> w = {{"model.embed_tokens.weight", {64, 16}}};
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.push_back({p + "input_layernorm.weight", {16}});
    w.push_back({p + "self_attn.q_proj.weight", {16, 16}});
    w.push_back({p + "self_attn.k_proj.weight", {8, 16}});
    w.push_back({p + "self_attn.v_proj.weight", {8, 16}});
    w.push_back({p + "self_attn.o_proj.weight", {16, 16}});
    w.push_back({p + "post_attention_layernorm.weight", {16}});
    w.push_back({p + "mlp.gate_proj.weight", {32, 16}});
    w.push_back({p + "mlp.up_proj.weight", {32, 16}});
    w.push_back({p + "mlp.down_proj.weight", {16, 32}});
  }
  w.push_back({"model.norm.weight", {16}});
  w.push_back({"lm_head.weight", {64, 16}});
  return w;
}

// F32 tensors with small deterministic values (norm weights 1), so a load-and-run test is stable.
inline std::vector<StTensor> tiny_llama_tensors() {
  std::vector<StTensor> out;
  std::uint32_t state = 12345;
  for (const auto& [name, shape] : tiny_llama_weight_shapes()) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    const bool norm = name.find("norm") != std::string::npos;
    for (auto& x : v) {
      state = state * 1664525u + 1013904223u;
      x = norm ? 1.0f : (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
    out.push_back({name, "F32", shape, raw_bytes(v)});
  }
  return out;
}

inline void write_tiny_model_dir(const std::string& dir) {
  std::filesystem::create_directories(dir);
  write_file(dir + "/config.json", tiny_llama_config_json());
  write_file(dir + "/model.safetensors", make_safetensors(tiny_llama_tensors(), R"({"format":"pt"})"));
}

// Writes the tiny Llama into `dir` (created if needed) with the one defect `c`.
inline void write_bad_model_dir(const std::string& dir, BadCase c) {
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/config.json";
  const std::string weights = dir + "/model.safetensors";
  write_file(config, tiny_llama_config_json());
  std::vector<StTensor> tensors = tiny_llama_tensors();
  std::string data;
  std::vector<StHeaderEntry> entries = layout(tensors, &data);
  auto find = [&](const std::string& name) -> StHeaderEntry& {
    for (auto& e : entries)
      if (e.name == name) return e;
    return entries.front();
  };
  auto write_weights = [&] { write_file(weights, assemble(header_json(entries), data)); };

  switch (c) {
    case BadCase::kMissingConfig:
      std::filesystem::remove(config);
      write_weights();
      break;
    case BadCase::kMalformedConfig:
      write_file(config, "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"vocab_size\": 64,,\n}\n");
      write_weights();
      break;
    case BadCase::kUnsupportedArchitecture:
      write_file(config, tiny_llama_config_json("GPT2LMHeadModel"));
      write_weights();
      break;
    case BadCase::kUnsupportedActivation:
      write_file(config, tiny_llama_config_json("LlamaForCausalLM", "gelu_pytorch_tanh"));
      write_weights();
      break;
    case BadCase::kMissingWeights:
      break;
    case BadCase::kTruncatedHeader: {
      const std::string full = assemble(header_json(entries), data);
      write_file(weights, full.substr(0, 8 + (full.size() - data.size() - 8) / 2));
      break;
    }
    case BadCase::kTruncatedSafetensors: {
      const std::string full = assemble(header_json(entries), data);
      write_file(weights, full.substr(0, full.size() - 100));  // an interrupted download
      break;
    }
    case BadCase::kHeaderNotJson: {
      std::string header = header_json(entries);
      header.replace(0, 12, "<html><body>");
      write_file(weights, assemble(header, data));
      break;
    }
    case BadCase::kOffsetsOutOfRange: {
      StHeaderEntry& e = find("model.norm.weight");
      e.begin += data.size();
      e.end += data.size();
      write_weights();
      break;
    }
    case BadCase::kSizeMismatch:
      find("model.layers.0.self_attn.v_proj.weight").end -= 4;
      write_weights();
      break;
    case BadCase::kOverlappingTensors: {
      const StHeaderEntry& a = find("model.layers.0.input_layernorm.weight");
      StHeaderEntry& b = find("model.layers.0.post_attention_layernorm.weight");
      b.begin = a.begin;
      b.end = a.end;
      write_weights();
      break;
    }
    case BadCase::kUnsupportedDtype:
      find("model.norm.weight").dtype = "F8_E4M3";
      write_weights();
      break;
    case BadCase::kMissingShard: {
      // Shard 1 holds everything but lm_head, which the index puts in a shard that is missing.
      std::vector<StTensor> first(tensors.begin(), tensors.end() - 1);
      write_file(dir + "/model-00001-of-00002.safetensors", make_safetensors(first));
      std::string index = R"({"metadata": {"total_size": 0}, "weight_map": {)";
      for (const auto& t : first) index += json_string(t.name) + ": \"model-00001-of-00002.safetensors\", ";
      index += R"("lm_head.weight": "model-00002-of-00002.safetensors"}})";
      write_file(dir + "/model.safetensors.index.json", index);
      break;
    }
    case BadCase::kMissingTensor: {
      std::vector<StTensor> kept;
      for (auto& t : tensors)
        if (t.name != "model.layers.1.mlp.down_proj.weight") kept.push_back(t);
      write_file(weights, make_safetensors(kept));
      break;
    }
    case BadCase::kWrongShape:
      for (auto& t : tensors) {
        if (t.name == "model.layers.0.self_attn.k_proj.weight") {
          t.shape = {16, 16};
          t.bytes.append(t.bytes);  // 8x16 -> 16x16 floats
        }
      }
      write_file(weights, make_safetensors(tensors));
      break;
  }
}

}  // namespace ferrite::test
