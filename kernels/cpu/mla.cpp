#include "kernels/cpu/mla.h"

#include "kernels/cpu/attention_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace ferrite::kernels::cpu {

void write_mla_cache(const float* latent, std::int64_t latent_stride, const float* k_pe, std::int64_t rope_stride,
                     const std::int64_t* slot_mapping, std::int64_t tokens, std::int64_t latent_dim,
                     std::int64_t rope_dim, float* cache) {
  const std::int64_t row = latent_dim + rope_dim;
  for (std::int64_t t = 0; t < tokens; ++t) {
    const std::int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    std::memcpy(cache + slot * row, latent + t * latent_stride, static_cast<std::size_t>(latent_dim) * sizeof(float));
    std::memcpy(cache + slot * row + latent_dim, k_pe + t * rope_stride,
                static_cast<std::size_t>(rope_dim) * sizeof(float));
  }
}

namespace {

using detail::dot;
using detail::Row;

std::vector<Row> flatten_rows(const MlaAttentionArgs& a) {
  return detail::flatten_rows(a.query_start, a.context_lens, a.num_seqs);
}

inline std::int64_t slot_of(const MlaAttentionArgs& a, const Row& r, std::int64_t p) {
  return static_cast<std::int64_t>(a.block_tables[r.seq * a.max_blocks + p / a.block_size]) * a.block_size +
         p % a.block_size;
}

// Query heads [h0, h1) of one row. Every head reads the same latent rows, so a group of heads
// walks the context once: each cached row is loaded once per group instead of once per head. The
// per-head arithmetic (dot products, softmax, accumulation order) is that of a lone head, so the
// grouping never changes a value.
void attend_heads(const MlaAttentionArgs& a, const Row& r, std::int64_t h0, std::int64_t h1,
                  std::vector<float>& scores) {
  const std::int64_t lat = a.latent_dim, rope = a.rope_dim, row = lat + rope;
  const std::int64_t n = r.pos + 1, g = h1 - h0;
  scores.resize(static_cast<std::size_t>(n * g));
  for (std::int64_t j = 0; j < n; ++j) {
    const float* kv = a.cache + slot_of(a, r, j) * row;
    for (std::int64_t h = h0; h < h1; ++h) {
      const float* ql = a.q_latent + (r.token * a.heads + h) * lat;
      const float* qp = a.q_pe + (r.token * a.heads + h) * rope;
      scores[static_cast<std::size_t>((h - h0) * n + j)] = (dot(ql, kv, lat) + dot(qp, kv + lat, rope)) * a.scale;
    }
  }
  for (std::int64_t h = h0; h < h1; ++h) {
    float* s = scores.data() + (h - h0) * n;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j]);
    float sum = 0.f;
    for (std::int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
    const float inv = 1.0f / sum;
    for (std::int64_t j = 0; j < n; ++j) s[j] *= inv;
    float* out = a.out + (r.token * a.heads + h) * lat;
    std::fill(out, out + lat, 0.f);
  }
  for (std::int64_t j = 0; j < n; ++j) {
    const float* c = a.cache + slot_of(a, r, j) * row;
    for (std::int64_t h = h0; h < h1; ++h) {
      const float w = scores[static_cast<std::size_t>((h - h0) * n + j)];
      float* out = a.out + (r.token * a.heads + h) * lat;
      for (std::int64_t d = 0; d < lat; ++d) out[d] += w * c[d];
    }
  }
}

// Heads per work item: enough to reuse each cached row, few enough that one decode row still
// spreads over the threads.
constexpr std::int64_t kHeadGroup = 8;

}  // namespace

void mla_attention(const MlaAttentionArgs& a, base::ThreadPool& pool) {
  const std::vector<Row> rows = flatten_rows(a);
  const auto groups = static_cast<std::size_t>((a.heads + kHeadGroup - 1) / kHeadGroup);
  pool.parallel_for(rows.size() * groups, 1, [&](int, std::size_t b, std::size_t e) {
    thread_local std::vector<float> scores;
    for (std::size_t i = b; i < e; ++i) {
      const auto h0 = static_cast<std::int64_t>(i % groups) * kHeadGroup;
      attend_heads(a, rows[i / groups], h0, std::min(h0 + kHeadGroup, a.heads), scores);
    }
  });
}

void mla_attention_reference(const MlaAttentionArgs& a) {
  const std::int64_t lat = a.latent_dim, rope = a.rope_dim, row = lat + rope;
  for (const Row& r : flatten_rows(a)) {
    for (std::int64_t h = 0; h < a.heads; ++h) {
      const float* ql = a.q_latent + (r.token * a.heads + h) * lat;
      const float* qp = a.q_pe + (r.token * a.heads + h) * rope;
      std::vector<double> s;
      for (std::int64_t p = 0; p <= r.pos; ++p) {
        const float* kv = a.cache + slot_of(a, r, p) * row;
        double d = 0;
        for (std::int64_t i = 0; i < lat; ++i) d += static_cast<double>(ql[i]) * kv[i];
        for (std::int64_t i = 0; i < rope; ++i) d += static_cast<double>(qp[i]) * kv[lat + i];
        s.push_back(d * a.scale);
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      float* out = a.out + (r.token * a.heads + h) * lat;
      for (std::int64_t i = 0; i < lat; ++i) {
        double acc = 0;
        for (std::int64_t p = 0; p <= r.pos; ++p)
          acc += s[static_cast<std::size_t>(p)] / sum * a.cache[slot_of(a, r, p) * row + i];
        out[i] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace ferrite::kernels::cpu
