// fp8_ref.h — the fp8 e4m3 codes the tests check kernels against, by their definitions (sign,
// 4-bit exponent, 3-bit mantissa, exponent 0 subnormal), not by the kernels' bit arithmetic.
// Built with -DHP_FP8_FNUZ (scripts/emulate-kernels.sh's fnuz build of a group, the encoding
// of AMD gfx940/941/942): e4m3fnuz, bias 8, subnormals m·2⁻¹⁰, largest ±240, 0x80 the only NaN,
// no −0. Otherwise OCP e4m3: bias 7, subnormals m·2⁻⁹, largest ±448, NaN 0x7f and 0xff.
#pragma once
#include <cmath>
#include <random>

#if defined(HP_FP8_FNUZ)
static constexpr int FP8_BIAS = 8;
static constexpr double FP8_MAX = 240.0;
static constexpr int FP8_TOP = 0x7f;      // the largest positive finite code
static constexpr int FP8_NAN = 0x80;      // the NaN code random codes skip (the only one)
static constexpr int FP8_FINITE = 255;    // finite codes
static constexpr const char* FP8_TAG = " fnuz";
#else
static constexpr int FP8_BIAS = 7;
static constexpr double FP8_MAX = 448.0;
static constexpr int FP8_TOP = 0x7e;
static constexpr int FP8_NAN = 0x7f;      // random codes skip it and 0xff (the draw stops short)
static constexpr int FP8_FINITE = 254;
static constexpr const char* FP8_TAG = "";
#endif

// The value of a finite code.
static inline double e4m3(unsigned char b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double mag = e == 0 ? std::ldexp(m / 8.0, 1 - FP8_BIAS) : std::ldexp(1.0 + m / 8.0, e - FP8_BIAS);
  return (b & 0x80) ? -mag : mag;
}

// The code nearest to x (ties to the even code), saturating at ±FP8_MAX, by search over the
// codes; e4m3fnuz has no −0, so a negative x that rounds to zero gives 0x00.
static inline unsigned char nearest_e4m3(float x) {
  const double a = std::min(std::fabs((double)x), FP8_MAX);
  unsigned char best = 0;
  double err = INFINITY;
  for (int c = 0; c <= FP8_TOP; ++c) {
    const double d = std::fabs(e4m3((unsigned char)c) - a);
    if (d < err || (d == err && c % 2 == 0)) best = (unsigned char)c, err = d;
  }
#if defined(HP_FP8_FNUZ)
  if (best == 0) return 0;
#endif
  return (unsigned char)(best | (std::signbit(x) ? 0x80 : 0));
}

// A random finite code: both signs, subnormals, the largest magnitudes.
static inline unsigned char random_code(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> u(0, FP8_FINITE - 1);
  const int r = u(rng);
  return (unsigned char)(r < FP8_NAN ? r : r + 1);
}
