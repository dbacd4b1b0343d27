// Time per row of ferrite::sample::sample_rows over a batch of rows of vocab 151936.
//
// Logits look like a language model's: a N(0, 2.5) bulk with a few dozen tokens 8-15 above it,
// so top_p keeps tens of tokens, not thousands. Rows are refreshed from a pristine copy outside
// the timed region (sample_rows modifies them in place). The floor is one read of a row at the
// bandwidth measured here over the same batch; `passes` is time / floor.
//
//   bench_sample [--quick] [--rows N] [--iters N]
#include <algorithm>
#include <cstring>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "sample/row_ops.h"
#include "sample/sampler.h"

namespace {

using ferrite::SamplingParams;
using namespace ferrite::sample;

// Thread CPU time, not wall time: the build machine is shared, and time spent descheduled is not
// the sampler's. Cache interference from neighbours still shows; take the numbers as upper bounds.
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
};

constexpr std::int64_t kVocab = 151936;

double seconds_since(double t0) { return Clock::now() - t0; }

std::vector<float> make_logits(std::int64_t rows) {
  std::mt19937 gen(1234);
  std::normal_distribution<float> bulk(0.0f, 2.5f);
  std::uniform_real_distribution<float> lift(8.0f, 15.0f);
  std::uniform_int_distribution<std::int64_t> pick(0, kVocab - 1);
  std::vector<float> x(static_cast<std::size_t>(rows * kVocab));
  for (float& v : x) v = bulk(gen);
  for (std::int64_t r = 0; r < rows; ++r)
    for (int i = 0; i < 40; ++i) x[static_cast<std::size_t>(r * kVocab + pick(gen))] += lift(gen);
  return x;
}

// Median seconds per row of one sample_rows call over `rows` rows.
double time_rows(const std::vector<float>& pristine, std::int64_t rows, const SamplingParams& p,
                 const std::vector<std::int32_t>& history, int iters) {
  std::vector<float> work(pristine.size());
  std::vector<Rng> rngs;
  for (std::int64_t r = 0; r < rows; ++r) rngs.emplace_back(static_cast<std::uint64_t>(r));
  std::vector<RowState> states;
  for (std::int64_t r = 0; r < rows; ++r)
    states.push_back({&p, history, history, {}, &rngs[static_cast<std::size_t>(r)]});
  std::vector<double> times;
  volatile std::int64_t sink = 0;
  for (int it = 0; it < iters; ++it) {
    std::memcpy(work.data(), pristine.data(), pristine.size() * sizeof(float));
    const auto t0 = Clock::now();
    const auto out = sample_rows(work.data(), rows, kVocab, states);
    times.push_back(seconds_since(t0) / static_cast<double>(rows));
    sink = sink + out[0].token;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Seconds to read one row once (the library's vectorised max over the batch), the per-row floor.
double time_read_pass(const std::vector<float>& x, std::int64_t rows, int iters) {
  std::vector<double> times;
  volatile float sink = 0;
  for (int it = 0; it < iters; ++it) {
    const auto t0 = Clock::now();
    const float m = max_of(x.data(), static_cast<std::int64_t>(x.size()));
    times.push_back(seconds_since(t0) / static_cast<double>(rows));
    sink = sink + m;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t rows = 32;
  int iters = 15;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick")
      rows = 4, iters = 3;
    else if (a == "--rows" && i + 1 < argc)
      rows = std::stoll(argv[++i]);
    else if (a == "--iters" && i + 1 < argc)
      iters = std::stoi(argv[++i]);
    else {
      std::cerr << "usage: bench_sample [--quick] [--rows N] [--iters N]\n";
      return 2;
    }
  }
  const std::vector<float> logits = make_logits(rows);
  std::vector<std::int32_t> history(1000);
  std::mt19937 gen(7);
  std::uniform_int_distribution<std::int32_t> tok(0, kVocab - 1);
  for (auto& t : history) t = tok(gen);

  struct Case {
    std::string name;
    SamplingParams p;
    bool history;
  };
  std::vector<Case> cases;
  SamplingParams greedy;
  greedy.temperature = 0.0;
  cases.push_back({"greedy", greedy, false});
  SamplingParams plain;
  plain.temperature = 1.0;
  cases.push_back({"temperature_1", plain, false});
  SamplingParams top_p;
  top_p.temperature = 0.7, top_p.top_p = 0.9;
  cases.push_back({"top_p_0.9_temperature_0.7", top_p, false});
  SamplingParams top_k;
  top_k.temperature = 1.0, top_k.top_k = 50;
  cases.push_back({"top_k_50", top_k, false});
  SamplingParams pen = top_p;
  pen.repetition_penalty = 1.1, pen.frequency_penalty = 0.5, pen.presence_penalty = 0.5;
  cases.push_back({"penalties_1000_history_top_p_0.9", pen, true});
  SamplingParams lp = greedy;
  lp.logprobs = 5;
  cases.push_back({"greedy_logprobs_5", lp, false});
  SamplingParams lp_top_p = top_p;
  lp_top_p.logprobs = 5;
  cases.push_back({"top_p_0.9_logprobs_5", lp_top_p, false});

  const double floor = time_read_pass(logits, rows, iters);
  nlohmann::json out;
  out["benchmark"] = "sample_rows";
  out["clock"] = "thread_cpu_time, median of iterations";
  out["vocab"] = kVocab;
  out["rows"] = rows;
  out["floor_read_pass_us_per_row"] = floor * 1e6;
  out["floor_bandwidth_gbps"] = static_cast<double>(kVocab) * 4 / floor / 1e9;
  for (const Case& c : cases) {
    const double t = time_rows(logits, rows, c.p, c.history ? history : std::vector<std::int32_t>{}, iters);
    out["cases"].push_back({{"name", c.name}, {"us_per_row", t * 1e6}, {"passes", t / floor}});
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
