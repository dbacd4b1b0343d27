// Pieces the paged attention kernels share (attention.cpp, mla.cpp): the query rows of a flat
// batch with their absolute positions, and a dot product with a fixed summation order.
#pragma once

#include <cstdint>
#include <vector>

namespace ferrite::kernels::cpu::detail {

// 8 independent partial sums, combined in a fixed tree: the same value for the same inputs always.
inline float dot(const float* a, const float* b, std::int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

struct Row {
  std::int64_t token;  // flat row
  std::int64_t seq;
  std::int64_t pos;    // absolute position of the query token
};

// Every query row of the batch: sequence s's rows [query_start[s], query_start[s+1]) are its last
// tokens, so row r sits at context_lens[s] - (number of rows) + r.
inline std::vector<Row> flatten_rows(const std::int32_t* query_start, const std::int32_t* context_lens,
                                     std::int64_t num_seqs) {
  std::vector<Row> rows;
  for (std::int64_t s = 0; s < num_seqs; ++s) {
    const std::int64_t b = query_start[s], e = query_start[s + 1];
    for (std::int64_t t = b; t < e; ++t) rows.push_back({t, s, context_lens[s] - (e - b) + (t - b)});
  }
  return rows;
}

}  // namespace ferrite::kernels::cpu::detail
