#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd.h"

namespace ferrite::kernels::cpu {

void write_kv_cache(const float* k, std::int64_t k_stride, const float* v, std::int64_t v_stride,
                    const std::int64_t* slot_mapping, std::int64_t tokens, std::int64_t kv_heads,
                    std::int64_t head_dim, float* k_cache, float* v_cache) {
  const std::int64_t row = kv_heads * head_dim;
  for (std::int64_t t = 0; t < tokens; ++t) {
    const std::int64_t slot = slot_mapping[t];
    if (slot < 0) continue;
    std::memcpy(k_cache + slot * row, k + t * k_stride, static_cast<std::size_t>(row) * sizeof(float));
    std::memcpy(v_cache + slot * row, v + t * v_stride, static_cast<std::size_t>(row) * sizeof(float));
  }
}

namespace {

using detail::dot;
using detail::Row;

// One (query row, head): scores over the visible keys, softmax, weighted sum of values.
void attend_one(const PagedAttentionArgs& a, const Row& r, std::int64_t h, std::vector<float>& scores) {
  const std::int64_t group = a.q_heads / a.kv_heads;
  const std::int64_t kvh = h / group;
  const std::int64_t row = a.kv_heads * a.head_dim;
  const float* q = a.q + r.token * a.q_stride + h * a.head_dim;
  float* out = a.out + r.token * a.out_stride + h * a.head_dim;
  const std::int32_t* table = a.block_tables + r.seq * a.max_blocks;
  const std::int64_t lo = a.sliding_window > 0 ? std::max<std::int64_t>(0, r.pos - a.sliding_window + 1) : 0;
  const std::int64_t n = r.pos + 1 - lo;
  scores.resize(static_cast<std::size_t>(n));
  float mx = -std::numeric_limits<float>::infinity();
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t p = lo + j;
    const std::int64_t slot = static_cast<std::int64_t>(table[p / a.block_size]) * a.block_size + p % a.block_size;
    const float s = dot(q, a.k_cache + slot * row + kvh * a.head_dim, a.head_dim) * a.scale;
    scores[static_cast<std::size_t>(j)] = s;
    mx = std::max(mx, s);
  }
  float sum = 0.f;
  for (std::int64_t j = 0; j < n; ++j) {
    const float e = std::exp(scores[static_cast<std::size_t>(j)] - mx);
    scores[static_cast<std::size_t>(j)] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + a.head_dim, 0.f);
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t p = lo + j;
    const std::int64_t slot = static_cast<std::int64_t>(table[p / a.block_size]) * a.block_size + p % a.block_size;
    const float* v = a.v_cache + slot * row + kvh * a.head_dim;
    const float w = scores[static_cast<std::size_t>(j)] * inv;
    for (std::int64_t d = 0; d < a.head_dim; ++d) out[d] += w * v[d];
  }
}

// All query heads of one KV head at once (GQA): each K and V row is loaded once per group.
// head_dim % 16 == 0. Scores are kept per head; softmax in f32 as in attend_one.
FERRITE_AVX512 void attend_group512(const PagedAttentionArgs& a, const Row& r, std::int64_t kvh,
                                    std::vector<float>& scores) {
  const std::int64_t group = a.q_heads / a.kv_heads;
  const std::int64_t d = a.head_dim;
  const std::int64_t chunks = d / 16;
  const std::int64_t row = a.kv_heads * d;
  const std::int32_t* table = a.block_tables + r.seq * a.max_blocks;
  const std::int64_t lo = a.sliding_window > 0 ? std::max<std::int64_t>(0, r.pos - a.sliding_window + 1) : 0;
  const std::int64_t n = r.pos + 1 - lo;
  scores.resize(static_cast<std::size_t>(n * group));
  const float* q0 = a.q + r.token * a.q_stride + kvh * group * d;
  float* out0 = a.out + r.token * a.out_stride + kvh * group * d;
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t p = lo + j;
    const std::int64_t slot = static_cast<std::int64_t>(table[p / a.block_size]) * a.block_size + p % a.block_size;
    const float* k = a.k_cache + slot * row + kvh * d;
    for (std::int64_t g = 0; g < group; ++g) {
      const float* q = q0 + g * d;
      __m512 acc = _mm512_setzero_ps();
      for (std::int64_t c = 0; c < chunks; ++c)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + c * 16), _mm512_loadu_ps(k + c * 16), acc);
      scores[static_cast<std::size_t>(g * n + j)] = _mm512_reduce_add_ps(acc) * a.scale;
    }
  }
  for (std::int64_t g = 0; g < group; ++g) {
    float* s = scores.data() + g * n;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j]);
    float sum = 0.f;
    for (std::int64_t j = 0; j < n; ++j) {
      s[j] = std::exp(s[j] - mx);
      sum += s[j];
    }
    const float inv = 1.0f / sum;
    for (std::int64_t j = 0; j < n; ++j) s[j] *= inv;
    std::fill(out0 + g * d, out0 + (g + 1) * d, 0.f);
  }
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t p = lo + j;
    const std::int64_t slot = static_cast<std::int64_t>(table[p / a.block_size]) * a.block_size + p % a.block_size;
    const float* v = a.v_cache + slot * row + kvh * d;
    for (std::int64_t g = 0; g < group; ++g) {
      const __m512 w = _mm512_set1_ps(scores[static_cast<std::size_t>(g * n + j)]);
      float* out = out0 + g * d;
      for (std::int64_t c = 0; c < chunks; ++c)
        _mm512_storeu_ps(out + c * 16, _mm512_fmadd_ps(w, _mm512_loadu_ps(v + c * 16), _mm512_loadu_ps(out + c * 16)));
    }
  }
}

std::vector<Row> flatten_rows(const PagedAttentionArgs& a) {
  return detail::flatten_rows(a.query_start, a.context_lens, a.num_seqs);
}

}  // namespace

void paged_attention(const PagedAttentionArgs& a, base::ThreadPool& pool) {
  const std::vector<Row> rows = flatten_rows(a);
  if (use_avx512() && a.head_dim % 16 == 0) {
    const auto items = rows.size() * static_cast<std::size_t>(a.kv_heads);
    pool.parallel_for(items, 2, [&](int, std::size_t b, std::size_t e) {
      thread_local std::vector<float> scores;
      for (std::size_t i = b; i < e; ++i)
        attend_group512(a, rows[i / static_cast<std::size_t>(a.kv_heads)], static_cast<std::int64_t>(i % static_cast<std::size_t>(a.kv_heads)), scores);
    });
    return;
  }
  const auto items = static_cast<std::size_t>(rows.size()) * static_cast<std::size_t>(a.q_heads);
  pool.parallel_for(items, 4, [&](int, std::size_t b, std::size_t e) {
    thread_local std::vector<float> scores;
    for (std::size_t i = b; i < e; ++i)
      attend_one(a, rows[i / static_cast<std::size_t>(a.q_heads)], static_cast<std::int64_t>(i % static_cast<std::size_t>(a.q_heads)), scores);
  });
}

void paged_attention_reference(const PagedAttentionArgs& a) {
  const std::int64_t group = a.q_heads / a.kv_heads;
  const std::int64_t row = a.kv_heads * a.head_dim;
  for (const Row& r : flatten_rows(a)) {
    for (std::int64_t h = 0; h < a.q_heads; ++h) {
      const float* q = a.q + r.token * a.q_stride + h * a.head_dim;
      float* out = a.out + r.token * a.out_stride + h * a.head_dim;
      std::vector<double> s;
      std::vector<std::int64_t> slots;
      for (std::int64_t p = 0; p <= r.pos; ++p) {
        if (a.sliding_window > 0 && r.pos - p >= a.sliding_window) continue;
        const std::int64_t slot =
            static_cast<std::int64_t>(a.block_tables[r.seq * a.max_blocks + p / a.block_size]) * a.block_size +
            p % a.block_size;
        double d = 0;
        for (std::int64_t i = 0; i < a.head_dim; ++i)
          d += static_cast<double>(q[i]) * a.k_cache[slot * row + (h / group) * a.head_dim + i];
        s.push_back(d * a.scale);
        slots.push_back(slot);
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (std::int64_t i = 0; i < a.head_dim; ++i) {
        double acc = 0;
        for (std::size_t j = 0; j < s.size(); ++j) acc += s[j] / sum * a.v_cache[slots[j] * row + (h / group) * a.head_dim + i];
        out[i] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace ferrite::kernels::cpu
