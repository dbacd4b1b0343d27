// Randomized mutation test of the safetensors header parser: starting from valid files, flip,
// insert and delete bytes in the length prefix and the header, rewrite numbers and dtypes, and
// truncate. The parser must return a status or infos that are safe to use: every range inside
// the file, sized as its shape says, no two overlapping. Run it under ASan/UBSan
// (-DFERRITE_SANITIZE=ON), where every buffer is exactly the file's size, so a read past it is
// caught. FERRITE_FUZZ_SEED and FERRITE_FUZZ_ITERS override the defaults.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "unit/model/safetensors_writer.h"

namespace ferrite::model {
namespace {

using test::StTensor;

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

std::vector<std::string> seed_files() {
  auto bytes = [](std::size_t n, char fill) { return std::string(n, fill); };
  std::vector<std::string> seeds;
  seeds.push_back(test::make_safetensors({{"w", "F32", {2, 2}, bytes(16, 1)}}));
  seeds.push_back(test::make_safetensors({{"model.embed_tokens.weight", "BF16", {4, 3}, bytes(24, 2)},
                                          {"model.norm.weight", "F16", {3}, bytes(6, 3)},
                                          {"ids", "I64", {2}, bytes(16, 4)},
                                          {"idx", "I32", {1, 1, 1, 1, 1}, bytes(4, 5)},
                                          {"empty", "F32", {0, 7}, ""},
                                          {"scalar", "F32", {}, bytes(4, 6)}},
                                         R"({"format":"pt"})"));
  std::string data;
  auto entries = test::layout({{"a", "F32", {3}, bytes(12, 7)}, {"b", "BF16", {5}, bytes(10, 8)}}, &data, 1, 5);
  seeds.push_back(test::assemble(test::header_json(entries) + "   ", data, false));
  return seeds;
}

std::uint64_t header_len(const std::string& f) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(f[static_cast<std::size_t>(i)]);
  return n;
}

void set_header_len(std::string* f, std::uint64_t n) { f->replace(0, 8, test::le64(n)); }

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  // One or a few mutations, mostly in the prefix and header where the parser looks.
  std::string mutate(std::string f) {
    const int rounds = 1 + static_cast<int>(below(3));
    for (int r = 0; r < rounds && !f.empty(); ++r) {
      const std::size_t hl = std::min<std::size_t>(f.size(), 8 + std::min<std::uint64_t>(header_len(f), f.size()));
      switch (below(10)) {
        case 0:  // flip a bit in prefix or header
          f[below(hl)] ^= static_cast<char>(1u << below(8));
          break;
        case 1:  // random byte
          f[below(hl)] = static_cast<char>(below(256));
          break;
        case 2: {  // insert bytes into the header, keeping the prefix in step half the time
          const std::size_t at = 8 + below(hl > 8 ? hl - 8 : 1);
          const std::string ins = random_token();
          f.insert(std::min(at, f.size()), ins);
          if (below(2) && f.size() >= 8) set_header_len(&f, header_len(f) + ins.size());
          break;
        }
        case 3: {  // delete bytes from the header
          if (hl <= 8) break;
          const std::size_t at = 8 + below(hl - 8);
          const std::size_t n = 1 + below(std::min<std::size_t>(8, f.size() - at));
          f.erase(at, n);
          if (below(2) && header_len(f) >= n) set_header_len(&f, header_len(f) - n);
          break;
        }
        case 4:  // truncate anywhere
          f.resize(below(f.size() + 1));
          break;
        case 5:  // rewrite a number in the header
          rewrite_number(&f, hl);
          break;
        case 6:  // rewrite the length prefix
          if (f.size() >= 8) set_header_len(&f, interesting(f.size()));
          break;
        case 7:  // swap a dtype
          rewrite_dtype(&f, hl);
          break;
        case 8:  // move a tensor's range, keeping its size: overlaps and ranges past the end
          shift_offsets(&f, hl);
          break;
        default:  // grow the data section
          f.append(below(40), static_cast<char>(below(256)));
          break;
      }
    }
    return f;
  }

 private:
  std::uint64_t interesting(std::size_t size) {
    const std::uint64_t picks[] = {0,
                                   1,
                                   2,
                                   3,
                                   4,
                                   7,
                                   8,
                                   12,
                                   16,
                                   24,
                                   255,
                                   256,
                                   65535,
                                   size,
                                   size - 1,
                                   size + 1,
                                   1ULL << 31,
                                   1ULL << 32,
                                   (1ULL << 32) + 4,
                                   1ULL << 62,
                                   (1ULL << 63) - 1,
                                   1ULL << 63,
                                   ~0ULL,
                                   100'000'000,
                                   100'000'001};
    return below(4) == 0 ? below(1000) : picks[below(std::size(picks))];
  }

  std::string random_token() {
    static const char* toks[] = {",",
                                 ":",
                                 "{",
                                 "}",
                                 "[",
                                 "]",
                                 "\"",
                                 "-",
                                 "0",
                                 "1e9",
                                 "-1",
                                 "null",
                                 "true",
                                 "\"dtype\"",
                                 "\"shape\"",
                                 "\"data_offsets\"",
                                 "[0,4]",
                                 "{\"x\":1}",
                                 "\\u0000",
                                 "\xff",
                                 "\xc3\xa9",
                                 "1.5",
                                 "99999999999999999999999",
                                 " "};
    std::string s = toks[below(std::size(toks))];
    if (below(4) == 0) s += static_cast<char>(below(256));
    return s;
  }

  void rewrite_number(std::string* f, std::size_t hl) {
    std::vector<std::pair<std::size_t, std::size_t>> runs;  // digit runs in the header
    for (std::size_t i = 8; i < hl;) {
      if ((*f)[i] >= '0' && (*f)[i] <= '9') {
        std::size_t j = i;
        while (j < hl && (*f)[j] >= '0' && (*f)[j] <= '9') ++j;
        runs.emplace_back(i, j - i);
        i = j;
      } else {
        ++i;
      }
    }
    if (runs.empty()) return;
    auto [at, len] = runs[below(runs.size())];
    std::string num = below(8) == 0 ? "-" + std::to_string(below(20)) : std::to_string(interesting(f->size()));
    if (below(10) == 0) num += ".5";
    f->replace(at, len, num);
    if (header_len(*f) + num.size() >= len) set_header_len(f, header_len(*f) + num.size() - len);
  }

  void shift_offsets(std::string* f, std::size_t hl) {
    const std::string key = "\"data_offsets\":[";
    std::vector<std::size_t> starts;
    for (std::size_t at = f->find(key, 8); at != std::string::npos && at < hl; at = f->find(key, at + 1))
      starts.push_back(at + key.size());
    if (starts.empty()) return;
    const std::size_t start = starts[below(starts.size())];
    const std::size_t close = f->find(']', start);
    if (close == std::string::npos || close >= hl) return;
    const std::string old = f->substr(start, close - start);
    const std::size_t comma = old.find(',');
    if (comma == std::string::npos) return;
    char* endp = nullptr;
    const long long b = std::strtoll(old.c_str(), &endp, 10);
    const long long e = std::strtoll(old.c_str() + comma + 1, &endp, 10);
    constexpr long long kBig = 1LL << 50;  // keep the arithmetic below far from overflow
    if (b < -kBig || b > kBig || e < -kBig || e > kBig) return;
    const long long deltas[] = {-8, -4, -2, -1, 1, 2, 4, 8, 16, -b, 64};
    const long long nb = std::max(0LL, b + deltas[below(std::size(deltas))]);
    const std::string repl = std::to_string(nb) + "," + std::to_string(nb + (e - b));
    f->replace(start, old.size(), repl);
    if (header_len(*f) + repl.size() >= old.size()) set_header_len(f, header_len(*f) + repl.size() - old.size());
  }

  void rewrite_dtype(std::string* f, std::size_t hl) {
    static const char* dts[] = {"F32", "F16", "BF16", "I32", "I64", "F64", "U8", "I8", "BOOL", "F8_E4M3", ""};
    const std::string key = "\"dtype\":\"";
    const std::size_t at = f->find(key, 8);
    if (at == std::string::npos || at >= hl) return;
    const std::size_t start = at + key.size();
    const std::size_t end = f->find('"', start);
    if (end == std::string::npos) return;
    const std::string dt = dts[below(std::size(dts))];
    const std::size_t old = end - start;
    f->replace(start, old, dt);
    if (header_len(*f) + dt.size() >= old) set_header_len(f, header_len(*f) + dt.size() - old);
  }

  std::mt19937_64 rng_;
};

// What an OK parse promises.
void check_infos(const std::vector<TensorInfo>& infos, const std::vector<std::uint8_t>& file) {
  const std::uint64_t n = header_len(std::string(file.begin(), file.begin() + 8));
  ASSERT_LE(8 + n, file.size());
  const std::size_t data_start = 8 + static_cast<std::size_t>(n);
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (const auto& t : infos) {
    ASSERT_LE(t.begin, t.end) << t.name;
    ASSERT_LE(data_start + t.end, file.size()) << t.name;
    ASSERT_GE(t.shape.numel(), 0);
    ASSERT_EQ(t.end - t.begin, static_cast<std::size_t>(t.shape.numel()) * backend::dtype_size(t.dtype)) << t.name;
    if (t.end > t.begin) ranges.emplace_back(t.begin, t.end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) ASSERT_LE(ranges[i - 1].second, ranges[i].first);
  // Touch every byte the infos promise; under ASan a stray range would be reported here.
  unsigned sum = 0;
  for (const auto& t : infos)
    for (std::size_t i = t.begin; i < t.end; ++i) sum += file[data_start + i];
  (void)sum;
}

TEST(SafetensorsFuzzTest, MutatedHeadersNeverCrash) {
  const std::uint64_t seed = env_or("FERRITE_FUZZ_SEED", 20240611);
  const std::uint64_t iters = env_or("FERRITE_FUZZ_ITERS", 20000);
  Mutator m(seed);
  const auto seeds = seed_files();
  test::TempDir dir;
  std::size_t ok = 0, failed = 0;
  std::map<std::string, int> kinds;  // rejection reasons, printed with FERRITE_FUZZ_VERBOSE=1
  for (std::uint64_t i = 0; i < iters; ++i) {
    const std::string mutated = m.mutate(seeds[i % seeds.size()]);
    // An exactly sized heap buffer, so ASan sees any read past the end of the "file".
    const std::vector<std::uint8_t> file(mutated.begin(), mutated.end());
    auto r = parse_safetensors_header(file.data(), file.size(), "fuzz.safetensors");
    if (r.ok()) {
      ++ok;
      ASSERT_NO_FATAL_FAILURE(check_infos(*r, file)) << "seed " << seed << " iteration " << i;
    } else {
      ++failed;
      ASSERT_FALSE(r.status().message().empty());
      const std::string& msg = r.status().message();
      ASSERT_NE(msg.find("fuzz.safetensors"), std::string::npos) << msg;
      // The reason without names and numbers, for the histogram.
      std::string kind;
      bool quoted = false;
      for (char ch : msg.substr(msg.find("fuzz.safetensors") + 16)) {
        if (ch == '\'')
          quoted = !quoted;
        else if (!quoted && !(ch >= '0' && ch <= '9') && kind.size() < 60)
          kind += ch;
      }
      ++kinds[kind];
    }
    // Now and then through the real file path: mmap, then build and read every tensor.
    if (i % 97 == 0) {
      const std::string path = dir.file("model.safetensors");
      test::write_file(path, mutated);
      auto f = SafetensorsFile::open(path);
      ASSERT_EQ(f.ok(), r.ok()) << f.status().to_string();
      if (f.ok()) {
        for (const auto& info : (*f)->tensors()) {
          backend::Tensor t = (*f)->tensor(info);
          const auto* p = static_cast<const std::uint8_t*>(t.raw_data());
          unsigned sum = 0;
          for (std::size_t b = 0; b < t.nbytes(); ++b) sum += p[b];
          (void)sum;
        }
      }
    }
  }
  // Both outcomes must be exercised, or the mutations are too gentle or too rough.
  EXPECT_GT(ok, iters / 50) << "seed " << seed;
  EXPECT_GT(failed, iters / 4) << "seed " << seed;
  if (env_or("FERRITE_FUZZ_VERBOSE", 0))
    for (const auto& [k, n] : kinds) std::printf("%6d  %s\n", n, k.c_str());
  std::printf("safetensors fuzz: %zu accepted, %zu rejected (seed %llu)\n", ok, failed,
              static_cast<unsigned long long>(seed));
}

}  // namespace
}  // namespace ferrite::model
