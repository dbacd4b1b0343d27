// Render time of the Qwen3 chat template over a 20-message conversation with two tools (the
// "long_20_with_tools" vector of tests/data/chat/qwen3.jsonl, so the output is known to match
// transformers). Prints JSON: compile time, and mean / p50 / p99 microseconds per render.
//
//   bench_chat_render [--tokenizer DIR] [--iters N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::string(FERRITE_SHARED_DIR) + "/fixtures/tokenizers/qwen3";
  int iters = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tokenizer") == 0)
      dir = argv[i + 1];
    else if (std::strcmp(argv[i], "--iters") == 0)
      iters = std::max(1, std::atoi(argv[i + 1]));
  }
  auto set = ferrite::chat::load_chat_templates(dir);
  if (!set.ok()) {
    std::fprintf(stderr, "bench_chat_render: %s\n", set.status().to_string().c_str());
    return 1;
  }
  Json rec;
  std::ifstream in(std::string(FERRITE_SOURCE_DIR) + "/tests/data/chat/qwen3.jsonl");
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    if (j.value("name", "") == "long_20_with_tools/agp=1") rec = j;
  }
  if (rec.is_null()) {
    std::fprintf(stderr, "bench_chat_render: long_20_with_tools vector not found\n");
    return 1;
  }
  ferrite::chat::ChatRequest req;
  req.messages = rec["messages"];
  req.tools = rec["tools"];
  req.add_generation_prompt = true;

  auto tmpl = set->select("", true);
  const std::string source = (*tmpl)->source();
  const int compile_iters = 200;
  const auto c0 = Clock::now();
  for (int i = 0; i < compile_iters; ++i) {
    auto t = ferrite::chat::ChatTemplate::compile(source);
    if (!t.ok()) return 1;
  }
  const double compile_us = micros(Clock::now() - c0) / compile_iters;

  // Context building (message clean-up, special tokens) and rendering, as a server request does.
  auto first = set->apply(req);
  if (!first.ok() || *first != rec["prompt"].get<std::string>()) {
    std::fprintf(stderr, "bench_chat_render: render does not match the vector\n");
    return 1;
  }
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    auto out = set->apply(req);
    times.push_back(micros(Clock::now() - t0));
    if (!out.ok()) return 1;
  }
  std::sort(times.begin(), times.end());
  double sum = 0;
  for (double t : times) sum += t;
  Json report = {{"benchmark", "chat_render"},
                 {"template", "qwen3"},
                 {"messages", req.messages.size()},
                 {"tools", req.tools->size()},
                 {"prompt_bytes", first->size()},
                 {"iters", iters},
                 {"compile_us", compile_us},
                 {"render_mean_us", sum / iters},
                 {"render_p50_us", times[times.size() / 2]},
                 {"render_p99_us", times[std::min(times.size() - 1, times.size() * 99 / 100)]}};
  std::printf("%s\n", report.dump(2).c_str());
  return 0;
}
