#include "sample/distribution.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "base/check.h"
#include "sample/sampler.h"

namespace ferrite::sample {
namespace {

// Weights of a dense row into out[], min_p applied; returns their sum.
double dense_weights(const float* x, std::int64_t n, float mx, float t, float min_w, float* out) {
  double total = 0.0;
  std::int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    float acc[kLanes] = {};
    for (int j = 0; j < kBlock; j += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float e = exp_nonpos((x[i + j + l] - mx) / t);
        const float w = e >= min_w ? e : 0.0f;
        out[i + j + l] = w;
        acc[l] += w;
      }
    for (float a : acc) total += a;
  }
  for (; i < n; ++i) {
    const float e = exp_nonpos((x[i] - mx) / t);
    out[i] = e >= min_w ? e : 0.0f;
    total += out[i];
  }
  return total;
}

// Collects into ws.ids, by ascending id, every token whose logit is >= the k-th largest (duplicates
// counted, NaN skipped), 1 <= k < n, and returns that k-th value.
float top_k_candidates(const float* x, std::int64_t n, std::int64_t k, Workspace& ws) {
  std::vector<float>& s = ws.select;
  s.clear();
  ws.ids.clear();
  float kth;
  if (k > 1024) {
    // Large k: a heap would take most elements in; nth_element is linear.
    for (std::int64_t i = 0; i < n; ++i)
      if (x[i] == x[i]) s.push_back(x[i]);
    if (s.empty()) return -kInf;  // all NaN: no candidates, the caller falls back to greedy
    if (static_cast<std::int64_t>(s.size()) <= k) {
      kth = *std::min_element(s.begin(), s.end());
    } else {
      std::nth_element(s.begin(), s.begin() + (k - 1), s.end(), std::greater<float>());
      kth = s[static_cast<std::size_t>(k - 1)];
    }
    for_each_at_least(x, n, kth, [&](std::int64_t i) { ws.ids.push_back(static_cast<std::int32_t>(i)); });
    return kth;
  }
  // Small k, one pass: a min-heap of the k largest so far, and every id that was >= its minimum
  // when seen (a superset of the answer, as the minimum only rises; trimmed at the end). A span
  // whose maximum is below the heap's minimum is skipped after one vectorised look.
  auto offer = [&](float v, std::int64_t i) {
    if (static_cast<std::int64_t>(s.size()) < k) {
      if (v != v) return;
      s.push_back(v);
      std::push_heap(s.begin(), s.end(), std::greater<float>());
    } else if (v > s.front()) {
      std::pop_heap(s.begin(), s.end(), std::greater<float>());
      s.back() = v;
      std::push_heap(s.begin(), s.end(), std::greater<float>());
    } else if (!(v == s.front())) {
      return;
    }
    ws.ids.push_back(static_cast<std::int32_t>(i));
  };
  std::int64_t i = 0;
  for (; i + kSpan <= n; i += kSpan) {
    if (static_cast<std::int64_t>(s.size()) == k && max_span(x + i) < s.front()) continue;
    for (std::int64_t j = i; j < i + kSpan; ++j) offer(x[j], j);
  }
  for (; i < n; ++i) offer(x[i], i);
  if (s.empty()) {
    ws.ids.clear();
    return -kInf;
  }
  kth = s.front();
  std::erase_if(ws.ids, [&](std::int32_t id) { return !(x[id] >= kth); });
  return kth;
}

// top_p over d's weights: keeps the heaviest tokens (ties: smaller id first) while the mass
// before each is < top_p * d.mass, and turns d into the list of those, by ascending id.
void top_p_filter(Distribution& d, double top_p, Workspace& ws) {
  const double target = top_p * d.mass;
  auto& order = ws.order;
  // Only the heaviest tokens can be kept: collect those at or above a floor; if they hold at
  // least `target`, every lighter token has at least that much mass before it and is dropped.
  // Most rows pass at the first floor, so a few hundred tokens are sorted, not the vocabulary.
  float floor = d.n > 4096 ? 1e-3f : 0.0f;
  for (;;) {
    order.clear();
    double collected = 0.0;
    const float at_least = floor > 0.0f ? floor : std::numeric_limits<float>::denorm_min();
    for_each_at_least(d.w, d.n, at_least, [&](std::int64_t i) {
      order.emplace_back(d.w[i], d.ids ? d.ids[i] : static_cast<std::int32_t>(i));
      collected += d.w[i];
    });
    if (floor == 0.0f || collected >= target) break;
    floor = floor > 1e-12f ? floor * 1e-3f : 0.0f;
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  double before = 0.0;
  std::size_t m = 0;
  while (m < order.size() && before < target) before += order[m++].first;
  std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(m),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  ws.kept_ids.clear();
  ws.kept_w.clear();
  for (std::size_t i = 0; i < m; ++i) {
    ws.kept_ids.push_back(order[i].second);
    ws.kept_w.push_back(order[i].first);
  }
  d.ids = ws.kept_ids.data();
  d.w = ws.kept_w.data();
  d.n = static_cast<std::int64_t>(m);
  d.mass = before;
}

}  // namespace

Distribution build_distribution(const float* row, std::int64_t vocab, const SamplingParams& p, Workspace& ws) {
  Distribution d;
  const auto t = static_cast<float>(p.temperature);
  const auto min_w = static_cast<float>(p.min_p);
  const bool top_k = p.top_k >= 1 && p.top_k < vocab;
  float mx = -kInf;
  if (top_k) {
    // top_k before min_p in code, though vLLM applies min_p first: both keep an upper set of
    // logits, so the intersection is the same either way, and top_k shrinks min_p's work.
    top_k_candidates(row, vocab, p.top_k, ws);
    for (std::int32_t id : ws.ids) mx = std::max(mx, row[id]);
  } else {
    mx = max_of(row, vocab);
  }
  if (!(mx > -kInf) || mx == kInf) {
    d.fallback_greedy = true;
    return d;
  }
  if (top_k) {
    ws.cand_w.clear();
    for (std::int32_t id : ws.ids) {
      const float e = exp_nonpos((row[id] - mx) / t);
      ws.cand_w.push_back(e >= min_w ? e : 0.0f);
      d.mass += ws.cand_w.back();
    }
    d.w = ws.cand_w.data();
    d.ids = ws.ids.data();
    d.n = static_cast<std::int64_t>(ws.ids.size());
  } else {
    ws.weights.resize(static_cast<std::size_t>(vocab));
    d.mass = dense_weights(row, vocab, mx, t, min_w, ws.weights.data());
    d.w = ws.weights.data();
    d.n = vocab;
  }
  if (p.top_p < 1.0) top_p_filter(d, p.top_p, ws);
  return d;
}

std::int32_t draw(const Distribution& d, double u) {
  const double target = u * d.mass;
  double cum = 0.0;
  std::int64_t i = 0;
  if (!d.ids) {
    // Dense rows: skip whole blocks by their mass (a vectorised sum) up to the block where the
    // running mass crosses the target.
    for (; i + kBlock <= d.n; i += kBlock) {
      float acc[kLanes] = {};
      for (int j = 0; j < kBlock; j += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += d.w[i + j + l];
      double block = 0.0;
      for (float a : acc) block += a;
      if (cum + block > target) break;
      cum += block;
    }
  }
  for (; i < d.n; ++i) {
    cum += d.w[i];
    if (d.w[i] > 0.0f && cum > target) return d.ids ? d.ids[i] : static_cast<std::int32_t>(i);
  }
  // Rounding left the target unreached: the last token of positive weight.
  for (i = d.n - 1; i >= 0; --i)
    if (d.w[i] > 0.0f) return d.ids ? d.ids[i] : static_cast<std::int32_t>(i);
  FERRITE_CHECK_MSG(false, "sampling distribution without mass");
  return 0;
}

}  // namespace ferrite::sample
