// Helpers shared by the tokenizer tests: vector files, the shared fixtures, the binary.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ferrite::tokenizer::testing {

using nlohmann::json;

inline std::string data_dir() { return std::string(FERRITE_SOURCE_DIR) + "/tests/data/tokenizer"; }
inline std::string shared_tokenizer_dir(const std::string& name) {
  return std::string(FERRITE_SHARED_DIR) + "/fixtures/tokenizers/" + name;
}
inline bool shared_available() {
  return std::filesystem::exists(std::string(FERRITE_SHARED_DIR) + "/fixtures/tokenizers");
}

inline std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Loading a 9 MB tokenizer.json takes a moment; each test binary loads each one once.
inline std::shared_ptr<Tokenizer> shared_tokenizer(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  auto t = Tokenizer::load(shared_tokenizer_dir(name));
  EXPECT_TRUE(t.ok()) << t.status().message();
  auto p = t.ok() ? t.value() : nullptr;
  cache[name] = p;
  return p;
}

inline std::vector<std::int32_t> to_ids(const json& j) { return j.get<std::vector<std::int32_t>>(); }

// Short printable form of a test string for failure messages.
inline std::string shorten(const std::string& s) {
  return json(s.substr(0, 60)).dump(-1, ' ', true, json::error_handler_t::replace);
}

#define FERRITE_REQUIRE_SHARED()                                                                      \
  do {                                                                                                \
    if (!::ferrite::tokenizer::testing::shared_available())                                           \
      GTEST_SKIP() << "shared fixtures not found at " FERRITE_SHARED_DIR " (tokenizer files needed)"; \
  } while (0)

}  // namespace ferrite::tokenizer::testing
