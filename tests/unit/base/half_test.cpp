// bf16 / f16 conversions held to the hardware: F16C (_cvtss_sh/_cvtsh_ss) for f16 and, where the
// CPU has avx512_bf16, VCVTNEPS2BF16 for bf16; plus an independent round-to-nearest-even
// reference computed in double, which also covers what the hardware cannot (bf16 of subnormals).
#include "base/half.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace ferrite {
namespace {

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

__attribute__((target("f16c"))) std::uint16_t hw_f32_to_f16(float f) {
  return static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hw_f16_to_f32(std::uint16_t h) { return _cvtsh_ss(h); }

// VCVTNEPS2BF16 over 16 floats at a time.
__attribute__((target("avx512f,avx512bf16"))) void hw_f32_to_bf16(const float* in, std::uint16_t* out) {
  const __m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(in));
  std::memcpy(out, &r, 32);
}

bool have_f16c() { return __builtin_cpu_supports("f16c"); }
bool have_avx512_bf16() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16"); }

// Values that probe every rounding edge, plus random bit patterns (uniform over exponents).
std::vector<float> probe_values() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          65504.0f,
                          65519.99f,
                          65520.0f,
                          65536.0f,
                          -65520.0f,
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::ldexp(1.0f, -24),
                          std::ldexp(1.0f, -25),
                          std::ldexp(3.0f, -26),
                          std::ldexp(1.0f, -14),
                          std::ldexp(1023.0f, -24),
                          std::ldexp(2047.0f, -25),
                          1.0f + std::ldexp(1.0f, -11),
                          1.0f + std::ldexp(3.0f, -11),
                          from_bits(0x3f808000u),
                          from_bits(0x3f818000u),
                          from_bits(0x7f7f8000u),
                          from_bits(0x7f7fffffu),
                          from_bits(0x00008000u),
                          from_bits(0x00018000u),
                          from_bits(0x007fffffu),
                          from_bits(0x00800000u)};
  // Every f16 value, the midpoints between neighbours (the ties), and one f32 ulp either side.
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    const float a = f16_to_f32(f16{static_cast<std::uint16_t>(h)});
    const float b = h + 1 < 0x7c00 ? f16_to_f32(f16{static_cast<std::uint16_t>(h + 1)}) : 65536.0f;
    const float mid = a + (b - a) / 2;  // exact: f16 neighbours differ in few bits
    for (float x : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
      v.push_back(x);
      v.push_back(-x);
    }
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 1 << 20; ++i) v.push_back(from_bits(static_cast<std::uint32_t>(rng())));
  // bf16 ties: low half exactly 0x8000 over many exponents, and its neighbours.
  for (int i = 0; i < 1 << 16; ++i) {
    const std::uint32_t hi = static_cast<std::uint32_t>(rng()) & 0xffff0000u;
    for (std::uint32_t lo : {0x8000u, 0x7fffu, 0x8001u, 0x0000u, 0xffffu}) v.push_back(from_bits(hi | lo));
  }
  return v;
}

const std::vector<float>& probes() {
  static const std::vector<float> v = probe_values();
  return v;
}

// Round-to-nearest-even bf16 computed from distances in double, not by bit tricks.
std::uint16_t reference_bf16(float f) {
  const std::uint32_t u = bits_of(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  if (std::isinf(f)) return static_cast<std::uint16_t>(u >> 16);
  const std::uint16_t lo = static_cast<std::uint16_t>(u >> 16);  // toward zero
  const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);   // next away from zero
  const double x = std::fabs(static_cast<double>(f));
  const double a = std::fabs(static_cast<double>(bf16_to_f32(bf16{lo})));
  const double b = (hi & 0x7fffu) == 0x7f80u ? std::ldexp(1.0, 128)  // rounding up overflows to inf
                                             : std::fabs(static_cast<double>(bf16_to_f32(bf16{hi})));
  if (x - a < b - x) return lo;
  if (x - a > b - x) return hi;
  return (lo & 1u) == 0 ? lo : hi;
}

TEST(HalfTest, F16ToF32MatchesF16cOnAllPatterns) {
  if (!have_f16c()) GTEST_SKIP() << "CPU has no F16C";
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float ours = f16_to_f32(f16{static_cast<std::uint16_t>(h)});
    const float hw = hw_f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(hw)) {
      // F16C quiets a signalling NaN; ours keeps the payload as is. Both must be NaN of that sign
      // with the same payload apart from the quiet bit.
      ASSERT_TRUE(std::isnan(ours)) << std::hex << h;
      ASSERT_EQ(bits_of(ours) | 0x00400000u, bits_of(hw)) << std::hex << h;
    } else {
      ASSERT_EQ(bits_of(ours), bits_of(hw)) << std::hex << "f16 0x" << h;
    }
  }
}

TEST(HalfTest, F32ToF16MatchesF16c) {
  if (!have_f16c()) GTEST_SKIP() << "CPU has no F16C";
  for (float f : probes()) {
    const std::uint16_t ours = f32_to_f16(f).bits;
    const std::uint16_t hw = hw_f32_to_f16(f);
    if (std::isnan(f)) {
      // F16C keeps the top payload bits; ours gives the canonical quiet NaN of that sign.
      ASSERT_EQ(ours & 0x7c00u, 0x7c00u);
      ASSERT_NE(ours & 0x3ffu, 0u);
      ASSERT_EQ(ours & 0x8000u, hw & 0x8000u);
    } else {
      ASSERT_EQ(ours, hw) << std::hexfloat << f << " bits 0x" << std::hex << bits_of(f);
    }
  }
}

TEST(HalfTest, F16RoundTripIsExact) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) continue;  // NaN payloads are not kept
    const f16 back = f32_to_f16(f16_to_f32(f16{static_cast<std::uint16_t>(h)}));
    ASSERT_EQ(back.bits, h) << std::hex << h;
  }
}

TEST(HalfTest, Bf16MatchesIndependentReference) {
  for (float f : probes()) {
    const std::uint16_t ours = f32_to_bf16(f).bits;
    ASSERT_EQ(ours, reference_bf16(f)) << std::hexfloat << f << " bits 0x" << std::hex << bits_of(f);
  }
}

TEST(HalfTest, Bf16MatchesAvx512Bf16) {
  if (!have_avx512_bf16()) GTEST_SKIP() << "CPU has no avx512_bf16";
  const auto& v = probes();
  float in[16];
  std::uint16_t out[16];
  std::size_t compared = 0;
  for (std::size_t i = 0; i + 16 <= v.size(); i += 16) {
    std::memcpy(in, &v[i], sizeof in);
    hw_f32_to_bf16(in, out);
    for (int k = 0; k < 16; ++k) {
      // VCVTNEPS2BF16 treats subnormal inputs as zero; ours rounds them like PyTorch does, and
      // the reference test above covers them.
      if (std::fpclassify(in[k]) == FP_SUBNORMAL) continue;
      ASSERT_EQ(f32_to_bf16(in[k]).bits, out[k]) << std::hexfloat << in[k] << " bits 0x" << std::hex << bits_of(in[k]);
      ++compared;
    }
  }
  EXPECT_GT(compared, v.size() / 2);
}

TEST(HalfTest, Bf16RoundTripAndSpecials) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(bf16{static_cast<std::uint16_t>(h)});
    ASSERT_EQ(bits_of(f), h << 16);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    } else {
      ASSERT_EQ(f32_to_bf16(f).bits, h) << std::hex << h;
    }
  }
  // A NaN whose payload lives only in the low half must stay NaN, not become inf.
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7f800001u)))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(from_bits(0x7f800001u)))));
  EXPECT_EQ(f32_to_bf16(from_bits(0x7f7fffffu)).bits, 0x7f80u);  // max float rounds to inf
  EXPECT_EQ(f32_to_f16(65520.0f).bits, 0x7c00u);                 // the tie above 65504 goes to inf
  EXPECT_EQ(f32_to_f16(65519.99f).bits, 0x7bffu);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)).bits, 0u);  // tie to even: zero
  EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)).bits, 1u);
  EXPECT_EQ(f32_to_f16(-0.0f).bits, 0x8000u);
}

}  // namespace
}  // namespace ferrite
