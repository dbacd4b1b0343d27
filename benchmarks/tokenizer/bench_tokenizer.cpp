// Single-thread encode throughput of ferrite's tokenizer. Reads documents ({"text": ...} lines,
// from make_bench_text.py), encodes each without special tokens, and prints JSON: MB/s (best of
// --repeat passes after one warm-up pass), token count, an FNV-1a hash of all ids (compare.py
// checks it against Python), and the load time.
//
//   bench_tokenizer --tokenizer DIR --docs FILE.jsonl [--repeat N] [--whole]
//   --whole encodes all documents joined into one string instead.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int usage() {
  std::fprintf(stderr, "usage: bench_tokenizer --tokenizer DIR --docs FILE.jsonl [--repeat N] [--whole]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, docs_path;
  int repeat = 5;
  bool whole = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--whole")
      whole = true;
    else if (a == "--tokenizer" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--docs" && i + 1 < argc)
      docs_path = argv[++i];
    else if (a == "--repeat" && i + 1 < argc)
      repeat = std::atoi(argv[++i]);
    else
      return usage();
  }
  if (dir.empty() || docs_path.empty() || repeat < 1) return usage();

  std::vector<std::string> docs;
  std::ifstream in(docs_path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) docs.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  if (whole) {
    std::string all;
    for (const auto& d : docs) all += d;
    docs.assign(1, std::move(all));
  }
  std::size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();

  const auto t0 = Clock::now();
  auto tok = ferrite::tokenizer::Tokenizer::load(dir);
  const double load_s = seconds(Clock::now() - t0);
  if (!tok.ok()) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", tok.status().message().c_str());
    return 1;
  }

  double best = 1e300;
  std::size_t tokens = 0;
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (int pass = 0; pass <= repeat; ++pass) {
    std::size_t count = 0;
    std::uint64_t h = 0xcbf29ce484222325ULL;
    const auto start = Clock::now();
    for (const auto& d : docs) {
      auto ids = (*tok)->encode(d, false);
      if (!ids.ok()) {
        std::fprintf(stderr, "bench_tokenizer: %s\n", ids.status().message().c_str());
        return 1;
      }
      count += ids->size();
      if (pass == 0)
        for (std::int32_t id : *ids) h = (h ^ static_cast<std::uint32_t>(id)) * 0x100000001b3ULL;
    }
    const double s = seconds(Clock::now() - start);
    if (pass == 0) {  // warm-up pass: fills the word cache, checks the ids
      tokens = count;
      hash = h;
    } else if (s < best) {
      best = s;
    }
  }
  nlohmann::ordered_json out = {{"tokenizer", dir}, {"docs", docs.size()},        {"bytes", bytes},
                                {"tokens", tokens}, {"ids_fnv1a", hash},          {"load_s", load_s},
                                {"best_s", best},   {"mb_s", bytes / best / 1e6}, {"threads", 1}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
