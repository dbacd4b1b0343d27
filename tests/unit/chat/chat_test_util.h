// Helpers shared by the chat tests: the vector files of tools/make_chat_vectors.py and the shared
// tokenizer fixtures.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ferrite::chat::testing {

inline std::string data_path(const std::string& name) {
  return std::string(FERRITE_SOURCE_DIR) + "/tests/data/chat/" + name;
}

inline std::string tokenizer_dir(const std::string& model) {
  return std::string(FERRITE_SHARED_DIR) + "/fixtures/tokenizers/" + model;
}

inline bool shared_fixtures_present(const std::string& model) {
  return std::filesystem::exists(tokenizer_dir(model) + "/tokenizer_config.json");
}

// Records of a JSONL file, without the header line.
inline std::vector<nlohmann::ordered_json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::ordered_json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::ordered_json::parse(line);
    if (j.contains("header")) continue;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace ferrite::chat::testing
