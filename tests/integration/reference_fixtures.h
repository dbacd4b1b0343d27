// The reference fixtures (tests/data/models/*/reference.json, made by
// tools/make_reference_models.py): which there are, and what transformers computed for each.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace ferrite::testing {

struct ReferenceCase {
  std::vector<std::int32_t> prompt;
  std::vector<std::int32_t> greedy;  // transformers' greedy continuation
  std::vector<float> logits;         // its logits at the last prompt position
};

struct Reference {
  std::string dir;
  std::string dtype;
  std::int64_t max_tokens = 0;
  std::vector<ReferenceCase> cases;
};

// Every fixture directory with a reference.json, sorted.
inline std::vector<std::string> reference_dirs() {
  namespace fs = std::filesystem;
  std::vector<std::string> dirs;
  const fs::path root = fs::path(source_dir()) / "tests/data/models";
  if (!fs::exists(root)) return dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "reference.json")) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

inline Reference load_reference(const std::string& dir) {
  const auto j = nlohmann::json::parse(read_text(dir + "/reference.json"));
  Reference r;
  r.dir = dir;
  r.dtype = j.value("dtype", "float32");
  r.max_tokens = j.at("max_tokens").get<std::int64_t>();
  for (const auto& c : j.at("cases"))
    r.cases.push_back({c.at("prompt_ids").get<std::vector<std::int32_t>>(), c.at("greedy_ids").get<std::vector<std::int32_t>>(),
                       c.at("last_logits").get<std::vector<float>>()});
  return r;
}

}  // namespace ferrite::testing
