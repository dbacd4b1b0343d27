// token_logprob: log_softmax of a raw row at one token, its rank and the top-N, in two vectorised
// passes (max + rank count + top-N with span skipping, then the exp sum); no sort of the row.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "sample/row_ops.h"
#include "sample/sampler.h"

namespace ferrite::sample {
namespace {

using TopList = std::vector<std::pair<float, std::int32_t>>;

// Inserts (v, id) into `top` (best first, at most top_n): after every kept value >= v, which all
// have smaller ids, so ties stay in id order.
void offer(TopList& top, std::int32_t top_n, float v, std::int64_t id) {
  if (v != v) return;
  if (static_cast<std::int32_t>(top.size()) == top_n && !(v > top.back().first)) return;
  auto at = std::upper_bound(top.begin(), top.end(), v, [](float a, const auto& b) { return a > b.first; });
  top.insert(at, {v, static_cast<std::int32_t>(id)});
  if (static_cast<std::int32_t>(top.size()) > top_n) top.pop_back();
}

}  // namespace

TokenLogprob token_logprob(const float* x, std::int64_t vocab, std::int32_t token, std::int32_t top_n) {
  FERRITE_CHECK_MSG(token >= 0 && token < vocab, "token_logprob: token outside the vocabulary");
  FERRITE_CHECK_MSG(top_n >= 0, "token_logprob: negative top_n");
  const float chosen = x[token];
  top_n = static_cast<std::int32_t>(std::min<std::int64_t>(top_n, vocab));

  // Pass 1, span by span: the maximum, the count of values >= the chosen one (its rank), and the
  // top-N, rescanning only a span whose maximum beats the current N-th value.
  TopList top;
  top.reserve(static_cast<std::size_t>(top_n) + 1);
  float mx = -kInf;
  std::int64_t ge = 0;
  std::int64_t i = 0;
  for (; i + kSpan <= vocab; i += kSpan) {
    // Vector types, not lane loops: see max_span in row_ops.h.
    using Int8 = std::int32_t __attribute__((vector_size(32)));
    Float8 m = Float8{} - kInf;
    Int8 cnt = {};
    for (int j = 0; j < kSpan; j += kLanes) {
      Float8 v;
      std::memcpy(&v, x + i + j, sizeof v);
      m = v > m ? v : m;
      cnt -= v >= chosen;  // a true lane is -1
    }
    float span_max = -kInf;
    for (int l = 0; l < kLanes; ++l) {
      span_max = m[l] > span_max ? m[l] : span_max;
      ge += cnt[l];
    }
    mx = span_max > mx ? span_max : mx;
    if (top_n > 0 && (static_cast<std::int32_t>(top.size()) < top_n || span_max > top.back().first))
      for (std::int64_t j = i; j < i + kSpan; ++j) offer(top, top_n, x[j], j);
  }
  for (; i < vocab; ++i) {
    mx = x[i] > mx ? x[i] : mx;
    ge += x[i] >= chosen ? 1 : 0;
    if (top_n > 0) offer(top, top_n, x[i], i);
  }

  // Pass 2: log-sum-exp, lanes of f32 flushed into a double every block.
  double sum = 0.0;
  i = 0;
  for (; i + kBlock <= vocab; i += kBlock) {
    float acc[kLanes] = {};
    for (int j = 0; j < kBlock; j += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += exp_nonpos(x[i + j + l] - mx);
    for (float a : acc) sum += a;
  }
  for (; i < vocab; ++i) sum += exp_nonpos(x[i] - mx);
  const double lse = static_cast<double>(mx) + std::log(sum);

  TokenLogprob out;
  out.token_id = token;
  out.logprob = static_cast<float>(static_cast<double>(chosen) - lse);
  out.rank = static_cast<std::int32_t>(ge);
  for (const auto& [v, id] : top) out.top.emplace_back(id, static_cast<float>(static_cast<double>(v) - lse));
  return out;
}

}  // namespace ferrite::sample
