// Vectorisable building blocks over one logits row, shared by the sampler and the logprobs.
// Reductions keep 8 independent lanes so the compiler can vectorise them without -ffast-math
// (which would reassociate every float sum in the module), and flush lanes into a double every
// kBlock elements so a 152k-token sum keeps about 1e-7 relative accuracy.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace ferrite::sample {

inline constexpr int kLanes = 8;
inline constexpr int kBlock = 256;
inline constexpr float kInf = std::numeric_limits<float>::infinity();

// exp(x) for x <= 0 to about 2 ulp (Cephes' expf: x = n ln2 + r, degree-6 polynomial in r),
// branch-free so loops over it vectorise (n is rounded with the 1.5 * 2^23 trick: std::floor is
// a libm call that stops GCC's vectoriser without -ffast-math). Returns 0 below -87 (where expf itself turns
// subnormal), for -inf and for NaN: such tokens have no probability mass at all.
inline float exp_nonpos(float x) {
  const bool live = x >= -87.0f;
  x = live ? x : 0.0f;
  x = x < 0.0f ? x : 0.0f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float fx = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  const auto n = static_cast<std::int32_t>(fx);  // in [-126, 0]
  const float scale = std::bit_cast<float>(static_cast<std::uint32_t>(n + 127) << 23);
  // Computed before the select: GCC will not if-convert an arm that does float arithmetic
  // (it could trap under -ftrapping-math), and a branch stops the vectoriser.
  const float e = y * scale;
  return live ? e : 0.0f;
}

// Largest value of x[0, n); NaN is skipped; -inf when there is nothing else.
inline float max_of(const float* x, std::int64_t n) {
  float lane[kLanes];
  for (float& m : lane) m = -kInf;
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] = x[i + l] > lane[l] ? x[i + l] : lane[l];
  float m = -kInf;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (float v : lane) m = v > m ? v : m;
  return m;
}

// Maximum of exactly kSpan values (NaN skipped), for the span-skipping scans below. Written with
// GCC/Clang vector types: with a constant trip count the compiler unrolls a lane loop into
// scalar code before it would vectorise it.
inline constexpr int kSpan = 64;
using Float8 = float __attribute__((vector_size(32)));
inline float max_span(const float* x) {
  Float8 m;
  std::memcpy(&m, x, sizeof m);
  m = m == m ? m : Float8{} - kInf;  // NaN lanes start at -inf
  for (int i = kLanes; i < kSpan; i += kLanes) {
    Float8 v;
    std::memcpy(&v, x + i, sizeof v);
    m = v > m ? v : m;
  }
  float r = -kInf;
  for (int l = 0; l < kLanes; ++l) r = m[l] > r ? m[l] : r;
  return r;
}

// Calls f(i) for each i with x[i] >= threshold, in ascending order, skipping whole spans whose
// maximum is below it: a scan for a few hundred survivors costs about one vectorised read.
template <class F>
void for_each_at_least(const float* x, std::int64_t n, float threshold, F&& f) {
  std::int64_t i = 0;
  for (; i + kSpan <= n; i += kSpan) {
    if (!(max_span(x + i) >= threshold)) continue;
    for (std::int64_t j = i; j < i + kSpan; ++j)
      if (x[j] >= threshold) f(j);
  }
  for (; i < n; ++i)
    if (x[i] >= threshold) f(i);
}

// Scratch buffers reused across rows and steps (one set per thread), so sampling allocates
// nothing in steady state.
struct Workspace {
  std::vector<float> weights;                         // dense weights of a row
  std::vector<float> raw;                             // raw row kept for logprobs
  std::vector<std::int32_t> ids;                      // candidate ids (top_k)
  std::vector<float> cand_w;                          // their weights
  std::vector<float> select;                          // top_k selection scratch
  std::vector<std::pair<float, std::int32_t>> order;  // top_p ordering
  std::vector<std::int32_t> kept_ids;                 // top_p survivors, ascending id
  std::vector<float> kept_w;
  std::vector<float> saved;          // allowed_token_ids values
  std::vector<std::uint32_t> stamp;  // penalties: stamp[id] == epoch when id was seen
  std::vector<std::int32_t> count;   // penalties: occurrences in the output
  std::vector<std::int32_t> distinct;
  std::uint32_t epoch = 0;
};

Workspace& thread_workspace();

}  // namespace ferrite::sample
