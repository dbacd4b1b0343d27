#include "kernels/cpu/linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/simd.h"

namespace ferrite::kernels::cpu {

namespace {

constexpr std::int64_t kKc = 256;           // k block of the GEMM path (x tile stays in L1)
constexpr std::int64_t kGemvMaxRows = 16;   // rows up to which the direct path runs (batched decode)

inline float load_scalar(const void* p, WeightType t, std::int64_t i) {
  switch (t) {
    case WeightType::kF32: return static_cast<const float*>(p)[i];
    case WeightType::kBF16: return bf16_to_f32(static_cast<const bf16*>(p)[i]);
    case WeightType::kF16: return f16_to_f32(static_cast<const f16*>(p)[i]);
  }
  return 0.f;
}

// ---- AVX-512: one zmm holds a 16-column panel row ----

struct F32Load {
  using T = float;
  FERRITE_AVX512 static inline __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};
struct BF16Load {
  using T = std::uint16_t;
  FERRITE_AVX512 static inline __m512 load(const std::uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};
struct F16Load {
  using T = std::uint16_t;
  FERRITE_AVX512 static inline __m512 load(const std::uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

// MR rows x NP panels. b points at panel 0 of the group at k = 0; panels are `pstride` apart.
// When `accumulate`, the chain continues from the values in y (an earlier k block).
// x[m, k] is read at x[m * xm + k * xk]: row-major activations (xm = ldx, xk = 1) or a packed
// k-major tile (xm = 1, xk = 8).
template <int MR, int NP, typename L>
FERRITE_AVX512 void micro512(const float* x, std::int64_t xm, std::int64_t xk, const typename L::T* b,
                             std::int64_t pstride, std::int64_t kn, float* y, std::int64_t ldy, std::int64_t ncols,
                             bool accumulate, const float* bias) {
  __m512 acc[MR][NP];
  __mmask16 mask[NP];
  for (int p = 0; p < NP; ++p) {
    const std::int64_t c = std::clamp<std::int64_t>(ncols - 16 * p, 0, 16);
    mask[p] = static_cast<__mmask16>((1u << c) - 1u);
  }
  for (int m = 0; m < MR; ++m)
    for (int p = 0; p < NP; ++p)
      acc[m][p] = accumulate ? _mm512_maskz_loadu_ps(mask[p], y + m * ldy + 16 * p) : _mm512_setzero_ps();
  for (std::int64_t k = 0; k < kn; ++k) {
    __m512 bv[NP];
    for (int p = 0; p < NP; ++p) bv[p] = L::load(b + p * pstride + k * 16);
    for (int m = 0; m < MR; ++m) {
      const __m512 xv = _mm512_set1_ps(x[m * xm + k * xk]);
      for (int p = 0; p < NP; ++p) acc[m][p] = _mm512_fmadd_ps(xv, bv[p], acc[m][p]);
    }
  }
  for (int p = 0; p < NP; ++p) {
    const __m512 bb = bias ? _mm512_maskz_loadu_ps(mask[p], bias + 16 * p) : _mm512_setzero_ps();
    for (int m = 0; m < MR; ++m) {
      const __m512 v = bias ? _mm512_add_ps(acc[m][p], bb) : acc[m][p];
      _mm512_mask_storeu_ps(y + m * ldy + 16 * p, mask[p], v);
    }
  }
}

// ---- AVX2: a panel row is two ymm ----

struct F32Load2 {
  using T = float;
  static inline void load(const float* p, __m256& lo, __m256& hi) {
    lo = _mm256_loadu_ps(p);
    hi = _mm256_loadu_ps(p + 8);
  }
};
struct BF16Load2 {
  using T = std::uint16_t;
  static inline void load(const std::uint16_t* p, __m256& lo, __m256& hi) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
    lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(a), 16));
    hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(c), 16));
  }
};
struct F16Load2 {
  using T = std::uint16_t;
  static inline void load(const std::uint16_t* p, __m256& lo, __m256& hi) {
    lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)));
  }
};

template <int MR, typename L>
void micro256(const float* x, std::int64_t ldx, const typename L::T* b, std::int64_t kn, float* y, std::int64_t ldy,
              std::int64_t ncols, bool accumulate, const float* bias) {
  __m256 lo[MR], hi[MR];
  alignas(32) float tmp[16];
  for (int m = 0; m < MR; ++m) {
    if (accumulate) {
      std::memset(tmp, 0, sizeof(tmp));
      std::memcpy(tmp, y + m * ldy, static_cast<std::size_t>(ncols) * 4);
      lo[m] = _mm256_load_ps(tmp);
      hi[m] = _mm256_load_ps(tmp + 8);
    } else {
      lo[m] = hi[m] = _mm256_setzero_ps();
    }
  }
  for (std::int64_t k = 0; k < kn; ++k) {
    __m256 bl, bh;
    L::load(b + k * 16, bl, bh);
    for (int m = 0; m < MR; ++m) {
      const __m256 xv = _mm256_set1_ps(x[m * ldx + k]);
      lo[m] = _mm256_fmadd_ps(xv, bl, lo[m]);
      hi[m] = _mm256_fmadd_ps(xv, bh, hi[m]);
    }
  }
  for (int m = 0; m < MR; ++m) {
    _mm256_store_ps(tmp, lo[m]);
    _mm256_store_ps(tmp + 8, hi[m]);
    if (bias)
      for (std::int64_t j = 0; j < ncols; ++j) tmp[j] += bias[j];
    std::memcpy(y + m * ldy, tmp, static_cast<std::size_t>(ncols) * 4);
  }
}

// Dispatch on the runtime row count to a compile-time MR.
template <int NP, typename L>
FERRITE_AVX512 void micro512_rows(int mr, const float* x, std::int64_t xm, std::int64_t xk, const typename L::T* b,
                                  std::int64_t pstride, std::int64_t kn, float* y, std::int64_t ldy,
                                  std::int64_t ncols, bool acc, const float* bias) {
  switch (mr) {
    case 1: micro512<1, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    case 2: micro512<2, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    case 3: micro512<3, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    case 4: micro512<4, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    case 5: micro512<5, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    case 6: micro512<6, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    case 7: micro512<7, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
    default: micro512<8, NP, L>(x, xm, xk, b, pstride, kn, y, ldy, ncols, acc, bias); break;
  }
}

// The same for the GEMV's tiles of 9 to 12 rows (over two panels: 24 accumulators of 32 zmm).
template <int NP, typename L>
FERRITE_AVX512 void micro512_rows12(int mr, const float* x, std::int64_t ldx, const typename L::T* b,
                                    std::int64_t pstride, std::int64_t kn, float* y, std::int64_t ldy,
                                    std::int64_t ncols, const float* bias) {
  switch (mr) {
    case 9: micro512<9, NP, L>(x, ldx, 1, b, pstride, kn, y, ldy, ncols, false, bias); break;
    case 10: micro512<10, NP, L>(x, ldx, 1, b, pstride, kn, y, ldy, ncols, false, bias); break;
    case 11: micro512<11, NP, L>(x, ldx, 1, b, pstride, kn, y, ldy, ncols, false, bias); break;
    default: micro512<12, NP, L>(x, ldx, 1, b, pstride, kn, y, ldy, ncols, false, bias); break;
  }
}

template <typename L>
void micro256_rows(int mr, const float* x, std::int64_t ldx, const typename L::T* b, std::int64_t kn, float* y,
                   std::int64_t ldy, std::int64_t ncols, bool acc, const float* bias) {
  switch (mr) {
    case 1: micro256<1, L>(x, ldx, b, kn, y, ldy, ncols, acc, bias); break;
    case 2: micro256<2, L>(x, ldx, b, kn, y, ldy, ncols, acc, bias); break;
    case 3: micro256<3, L>(x, ldx, b, kn, y, ldy, ncols, acc, bias); break;
    case 4: micro256<4, L>(x, ldx, b, kn, y, ldy, ncols, acc, bias); break;
    case 5: micro256<5, L>(x, ldx, b, kn, y, ldy, ncols, acc, bias); break;
    default: micro256<6, L>(x, ldx, b, kn, y, ldy, ncols, acc, bias); break;
  }
}

// Small M (decode batches): read the packed weights directly, widening them in registers. Up to
// four rows take four panels per step (memory-level parallelism); more rows go over two panels
// in one tile of up to 12 rows (24 accumulators), or in two tiles of about half the rows each
// (13 to 16), the second re-reading the panels from L1. A lone tile of a row or two would spend
// most of its time widening weights for two FMAs per panel.
template <typename L>
FERRITE_AVX512 void gemv512(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx,
                            const typename L::T* packed, std::int64_t n, const float* bias, float* y,
                            std::int64_t ldy, std::int64_t p_begin, std::int64_t p_end) {
  const std::int64_t pstride = k * 16;
  if (m > 4) {
    const std::int64_t tile = m <= 12 ? m : (m + 1) / 2;
    for (std::int64_t p = p_begin; p < p_end; p += 2) {
      const int np = static_cast<int>(std::min<std::int64_t>(2, p_end - p));
      const std::int64_t n0 = p * 16;
      const typename L::T* b = packed + p * pstride;
      const float* bb = bias ? bias + n0 : nullptr;
      for (std::int64_t m0 = 0; m0 < m; m0 += tile) {
        const int mr = static_cast<int>(std::min<std::int64_t>(tile, m - m0));
        if (mr > 8 && np == 2)
          micro512_rows12<2, L>(mr, x + m0 * ldx, ldx, b, pstride, k, y + m0 * ldy + n0, ldy, n - n0, bb);
        else if (mr > 8)
          micro512_rows12<1, L>(mr, x + m0 * ldx, ldx, b, pstride, k, y + m0 * ldy + n0, ldy, n - n0, bb);
        else if (np == 2)
          micro512_rows<2, L>(mr, x + m0 * ldx, ldx, 1, b, pstride, k, y + m0 * ldy + n0, ldy, n - n0, false, bb);
        else
          micro512_rows<1, L>(mr, x + m0 * ldx, ldx, 1, b, pstride, k, y + m0 * ldy + n0, ldy, n - n0, false, bb);
      }
    }
    return;
  }
  for (std::int64_t p = p_begin; p < p_end; p += 4) {
    const int np = static_cast<int>(std::min<std::int64_t>(4, p_end - p));
    const std::int64_t n0 = p * 16;
    const typename L::T* b = packed + p * pstride;
    const float* bb = bias ? bias + n0 : nullptr;
    const int mr = static_cast<int>(m);
    switch (np) {
      case 4: micro512_rows<4, L>(mr, x, ldx, 1, b, pstride, k, y + n0, ldy, n - n0, false, bb); break;
      case 3: micro512_rows<3, L>(mr, x, ldx, 1, b, pstride, k, y + n0, ldy, n - n0, false, bb); break;
      case 2: micro512_rows<2, L>(mr, x, ldx, 1, b, pstride, k, y + n0, ldy, n - n0, false, bb); break;
      default: micro512_rows<1, L>(mr, x, ldx, 1, b, pstride, k, y + n0, ldy, n - n0, false, bb); break;
    }
  }
}

// Large M. Rows go in blocks of kMb: the block's activations are packed k-major in 8-row tiles
// (contiguous broadcasts, and no cache-set conflicts when K is a power of two), then for each
// pair of panels the k blocks run innermost, so the block's output tile stays in L1 while two
// widened f32 panels sit in a scratch tile. The FMA order per output is unchanged.
constexpr std::int64_t kMb = 64;

template <typename L>
FERRITE_AVX512 void gemm512(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx,
                            const typename L::T* packed, std::int64_t n, const float* bias, float* y,
                            std::int64_t ldy, std::int64_t p_begin, std::int64_t p_end) {
  thread_local std::vector<float> scratch;
  thread_local std::vector<float> xpack;
  scratch.resize(static_cast<std::size_t>(2 * kKc * 16));
  xpack.resize(static_cast<std::size_t>(kMb * k));
  const std::int64_t pstride = k * 16;
  for (std::int64_t mb = 0; mb < m; mb += kMb) {
    const std::int64_t rows = std::min(kMb, m - mb);
    const std::int64_t tiles = (rows + 7) / 8;
    for (std::int64_t t = 0; t < tiles; ++t) {
      float* dst = xpack.data() + t * 8 * k;
      const std::int64_t r0 = mb + t * 8;
      const std::int64_t rn = std::min<std::int64_t>(8, m - r0);
      for (std::int64_t kk = 0; kk < k; ++kk)
        for (std::int64_t r = 0; r < 8; ++r) dst[kk * 8 + r] = r < rn ? x[(r0 + r) * ldx + kk] : 0.f;
    }
    for (std::int64_t p = p_begin; p < p_end; p += 2) {
      const int np = static_cast<int>(std::min<std::int64_t>(2, p_end - p));
      const std::int64_t n0 = p * 16;
      for (std::int64_t k0 = 0; k0 < k; k0 += kKc) {
        const std::int64_t kn = std::min(kKc, k - k0);
        const bool last = k0 + kn == k;
        for (int q = 0; q < np; ++q) {
          const typename L::T* src = packed + (p + q) * pstride + k0 * 16;
          float* dst = scratch.data() + q * kKc * 16;
          for (std::int64_t kk = 0; kk < kn; ++kk) _mm512_storeu_ps(dst + kk * 16, L::load(src + kk * 16));
        }
        const float* bb = (bias && last) ? bias + n0 : nullptr;
        for (std::int64_t t = 0; t < tiles; ++t) {
          const int mr = static_cast<int>(std::min<std::int64_t>(8, rows - t * 8));
          const float* xt = xpack.data() + t * 8 * k + k0 * 8;
          float* yt = y + (mb + t * 8) * ldy + n0;
          if (np == 2)
            micro512_rows<2, F32Load>(mr, xt, 1, 8, scratch.data(), kKc * 16, kn, yt, ldy, n - n0, k0 > 0, bb);
          else
            micro512_rows<1, F32Load>(mr, xt, 1, 8, scratch.data(), kKc * 16, kn, yt, ldy, n - n0, k0 > 0, bb);
        }
      }
    }
  }
}

template <typename L>
void gemm256(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const typename L::T* packed,
             std::int64_t n, const float* bias, float* y, std::int64_t ldy, std::int64_t p_begin,
             std::int64_t p_end) {
  const std::int64_t pstride = k * 16;
  for (std::int64_t k0 = 0; k0 < k; k0 += kKc) {
    const std::int64_t kn = std::min(kKc, k - k0);
    const bool last = k0 + kn == k;
    for (std::int64_t p = p_begin; p < p_end; ++p) {
      const std::int64_t n0 = p * 16;
      const typename L::T* b = packed + p * pstride + k0 * 16;
      const float* bb = (bias && last) ? bias + n0 : nullptr;
      const std::int64_t nc = std::min<std::int64_t>(16, n - n0);
      for (std::int64_t m0 = 0; m0 < m; m0 += 6) {
        const int mr = static_cast<int>(std::min<std::int64_t>(6, m - m0));
        micro256_rows<L>(mr, x + m0 * ldx + k0, ldx, b, kn, y + m0 * ldy + n0, ldy, nc, k0 > 0, bb);
      }
    }
  }
}

template <typename L512, typename L256>
void linear_typed(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* packed_v,
                  std::int64_t n, const float* bias, float* y, std::int64_t ldy, base::ThreadPool& pool) {
  const auto* packed = static_cast<const typename L512::T*>(packed_v);
  const std::int64_t panels = (n + 15) / 16;
  const bool avx512 = use_avx512();
  const bool small = m <= kGemvMaxRows;
  // Threads own disjoint column ranges (in pairs of panels), so no two write the same y. A small
  // product runs on the calling thread: waking the pool would cost more than the work.
  const std::int64_t units = (panels + 1) / 2;
  constexpr std::int64_t kMinParallelMacs = 1 << 18;
  const std::size_t grain = m * n * k < kMinParallelMacs ? static_cast<std::size_t>(units) : 1;
  pool.parallel_for(static_cast<std::size_t>(units), grain, [&](int, std::size_t ub, std::size_t ue) {
    const std::int64_t p0 = static_cast<std::int64_t>(ub) * 2;
    const std::int64_t p1 = std::min<std::int64_t>(static_cast<std::int64_t>(ue) * 2, panels);
    if (avx512) {
      if (small)
        gemv512<L512>(x, m, k, ldx, packed, n, bias, y, ldy, p0, p1);
      else
        gemm512<L512>(x, m, k, ldx, packed, n, bias, y, ldy, p0, p1);
    } else {
      gemm256<L256>(x, m, k, ldx, packed, n, bias, y, ldy, p0, p1);
    }
  });
}

}  // namespace

std::size_t weight_type_size(WeightType t) { return t == WeightType::kF32 ? 4 : 2; }

std::int64_t packed_weight_elems(std::int64_t n, std::int64_t k) { return ((n + 15) / 16) * 16 * k; }

namespace {

// out[kk * 16 + j] = rows[j][kk] for the rows of one panel (the rest stay zero).
template <typename T>
void pack_panel(const T* src, std::int64_t rows, std::int64_t k, std::int64_t ldw, T* out) {
  std::memset(out, 0, static_cast<std::size_t>(k * 16) * sizeof(T));
  for (std::int64_t j = 0; j < rows; ++j) {
    const T* row = src + j * ldw;
    for (std::int64_t kk = 0; kk < k; ++kk) out[kk * 16 + j] = row[kk];
  }
}

}  // namespace

void pack_linear_weight(const void* w, WeightType type, std::int64_t n, std::int64_t k, std::int64_t ldw,
                        void* packed, base::ThreadPool& pool) {
  const std::int64_t panels = (n + 15) / 16;
  pool.parallel_for(static_cast<std::size_t>(panels), 1, [&](int, std::size_t b, std::size_t e) {
    for (auto p = static_cast<std::int64_t>(b); p < static_cast<std::int64_t>(e); ++p) {
      const std::int64_t rows = std::min<std::int64_t>(16, n - p * 16);
      if (type == WeightType::kF32) {
        pack_panel(static_cast<const float*>(w) + p * 16 * ldw, rows, k, ldw, static_cast<float*>(packed) + p * k * 16);
      } else {
        pack_panel(static_cast<const std::uint16_t*>(w) + p * 16 * ldw, rows, k, ldw,
                   static_cast<std::uint16_t*>(packed) + p * k * 16);
      }
    }
  });
}

void linear(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* packed, WeightType type,
            std::int64_t n, const float* bias, float* y, std::int64_t ldy, base::ThreadPool& pool) {
  if (m == 0 || n == 0) return;
  switch (type) {
    case WeightType::kF32: linear_typed<F32Load, F32Load2>(x, m, k, ldx, packed, n, bias, y, ldy, pool); break;
    case WeightType::kBF16: linear_typed<BF16Load, BF16Load2>(x, m, k, ldx, packed, n, bias, y, ldy, pool); break;
    case WeightType::kF16: linear_typed<F16Load, F16Load2>(x, m, k, ldx, packed, n, bias, y, ldy, pool); break;
  }
}

void linear_reference(const float* x, std::int64_t m, std::int64_t k, std::int64_t ldx, const void* packed,
                      WeightType type, std::int64_t n, const float* bias, float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t base = (j / 16) * k * 16 + (j % 16);
      float acc = 0.f;
      for (std::int64_t kk = 0; kk < k; ++kk) acc = std::fma(x[i * ldx + kk], load_scalar(packed, type, base + kk * 16), acc);
      if (bias) acc += bias[j];
      y[i * ldy + j] = acc;
    }
  }
}

}  // namespace ferrite::kernels::cpu
