// The direct method's inner loops with Highway (see simd.hpp for what each computes).
//
// Register blocking: `correlate` keeps kOut vectors of outputs in registers while it runs
// over the taps (one broadcast of w[k] feeds kOut fused multiply-adds); `correlate_accumulate`
// keeps kTaps vectors of tap sums in registers while it runs over the block (one load of r
// feeds kTaps multiply-adds). Either way each multiply-add needs one (unaligned) load and
// the accumulators hide the FMA latency.
//
// This file is compiled once per instruction set (hwy/foreach_target.h re-includes it);
// HWY_DYNAMIC_DISPATCH calls the best one this CPU supports.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "core/simd.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/direct_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace convgrad::detail::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr std::size_t kOut = 8;   // output vectors held in registers by correlate
constexpr std::size_t kTaps = 8;  // tap sums held in registers by correlate_accumulate

// v, held in a register. Each window vector of correlate_group feeds two multiply-adds; GCC
// folds the load into both as memory operands (loading it twice, 16 loads per 16
// multiply-adds instead of 9) where it does not unroll the loop over t, as for float: that
// alone held the float kernel to ~59% of the FMA peak while double reached ~85%.
template <class V>
HWY_INLINE V in_register(V v) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  asm("" : "+v"(v.raw));
#endif
  return v;
}

// out[i] = sum_k w[k] s[i+k] for i in [0, kOut * lanes): the register-blocked body.
// Taps go in pairs (k, k + L): the window vector s[k + j L] serves output vector j with
// tap k and output vector j - 1 with tap k + L, so 9 loads feed 16 multiply-adds (unaligned
// loads, most of which straddle two cache lines, are what limits this loop). Every tap
// with a partner L further on is paired, in the last K mod 2L taps too (K = 31 in float:
// 15 pairs and one tap alone); the others go one at a time, 8 loads for 8 multiply-adds.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void correlate_group(D d, const T* HWY_RESTRICT w, std::size_t K, const T* HWY_RESTRICT s,
                                T* HWY_RESTRICT out) {
  const std::size_t L = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  auto a4 = hn::Zero(d), a5 = hn::Zero(d), a6 = hn::Zero(d), a7 = hn::Zero(d);
  auto pair = [&](std::size_t k) {  // taps k and k + L
    const auto w0 = hn::Set(d, w[k]), w1 = hn::Set(d, w[k + L]);
    const T* p = s + k;
    auto v = in_register(hn::LoadU(d, p));
    a0 = hn::MulAdd(w0, v, a0);
    v = in_register(hn::LoadU(d, p + 1 * L));
    a1 = hn::MulAdd(w0, v, a1);
    a0 = hn::MulAdd(w1, v, a0);
    v = in_register(hn::LoadU(d, p + 2 * L));
    a2 = hn::MulAdd(w0, v, a2);
    a1 = hn::MulAdd(w1, v, a1);
    v = in_register(hn::LoadU(d, p + 3 * L));
    a3 = hn::MulAdd(w0, v, a3);
    a2 = hn::MulAdd(w1, v, a2);
    v = in_register(hn::LoadU(d, p + 4 * L));
    a4 = hn::MulAdd(w0, v, a4);
    a3 = hn::MulAdd(w1, v, a3);
    v = in_register(hn::LoadU(d, p + 5 * L));
    a5 = hn::MulAdd(w0, v, a5);
    a4 = hn::MulAdd(w1, v, a4);
    v = in_register(hn::LoadU(d, p + 6 * L));
    a6 = hn::MulAdd(w0, v, a6);
    a5 = hn::MulAdd(w1, v, a5);
    v = in_register(hn::LoadU(d, p + 7 * L));
    a7 = hn::MulAdd(w0, v, a7);
    a6 = hn::MulAdd(w1, v, a6);
    v = in_register(hn::LoadU(d, p + 8 * L));
    a7 = hn::MulAdd(w1, v, a7);
  };
  auto single = [&](std::size_t k) {
    const auto wk = hn::Set(d, w[k]);
    const T* p = s + k;
    a0 = hn::MulAdd(wk, hn::LoadU(d, p + 0 * L), a0);
    a1 = hn::MulAdd(wk, hn::LoadU(d, p + 1 * L), a1);
    a2 = hn::MulAdd(wk, hn::LoadU(d, p + 2 * L), a2);
    a3 = hn::MulAdd(wk, hn::LoadU(d, p + 3 * L), a3);
    a4 = hn::MulAdd(wk, hn::LoadU(d, p + 4 * L), a4);
    a5 = hn::MulAdd(wk, hn::LoadU(d, p + 5 * L), a5);
    a6 = hn::MulAdd(wk, hn::LoadU(d, p + 6 * L), a6);
    a7 = hn::MulAdd(wk, hn::LoadU(d, p + 7 * L), a7);
  };
  std::size_t k0 = 0;
  for (; k0 + 2 * L <= K; k0 += 2 * L)
    for (std::size_t t = 0; t < L; ++t) pair(k0 + t);
  const std::size_t R = K - k0;  // the last R < 2L taps: t < R - L pairs with t + L
  std::size_t t = 0;
  if (R > L)
    for (; t < R - L; ++t) pair(k0 + t);
  for (; t < std::min(R, L); ++t) single(k0 + t);
  hn::StoreU(a0, d, out + 0 * L);
  hn::StoreU(a1, d, out + 1 * L);
  hn::StoreU(a2, d, out + 2 * L);
  hn::StoreU(a3, d, out + 3 * L);
  hn::StoreU(a4, d, out + 4 * L);
  hn::StoreU(a5, d, out + 5 * L);
  hn::StoreU(a6, d, out + 6 * L);
  hn::StoreU(a7, d, out + 7 * L);
}

// out[i] = sum_k w[k] s[i+k], one vector (of the tag's width) of outputs at a time.
// Four partial sums (taps k mod 4) hide the multiply-add latency; they are added at the end.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void correlate_single(D d, const T* HWY_RESTRICT w, std::size_t K, const T* HWY_RESTRICT s,
                                 T* HWY_RESTRICT out) {
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  std::size_t k = 0;
  for (; k + 4 <= K; k += 4) {
    a0 = hn::MulAdd(hn::Set(d, w[k + 0]), hn::LoadU(d, s + k + 0), a0);
    a1 = hn::MulAdd(hn::Set(d, w[k + 1]), hn::LoadU(d, s + k + 1), a1);
    a2 = hn::MulAdd(hn::Set(d, w[k + 2]), hn::LoadU(d, s + k + 2), a2);
    a3 = hn::MulAdd(hn::Set(d, w[k + 3]), hn::LoadU(d, s + k + 3), a3);
  }
  for (; k < K; ++k) a0 = hn::MulAdd(hn::Set(d, w[k]), hn::LoadU(d, s + k), a0);
  hn::StoreU(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), d, out);
}

template <typename T>
void correlate_impl(const T* HWY_RESTRICT w, std::size_t K, const T* HWY_RESTRICT s, T* HWY_RESTRICT out,
                    std::size_t B) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + kOut * L <= B; i += kOut * L) correlate_group(d, w, K, s + i, out + i);
  for (; i + L <= B; i += L) correlate_single(d, w, K, s + i, out + i);
  const hn::CappedTag<T, 1> d1;  // the last B mod L outputs, one lane at a time
  for (; i < B; ++i) correlate_single(d1, w, K, s + i, out + i);
}

// g[k0 + t] += sum_i s[i + k0 + t] r[i], t < kTaps: the register-blocked body.
template <typename T>
HWY_INLINE void correlate_accumulate_group(const T* HWY_RESTRICT s, const T* HWY_RESTRICT r, std::size_t B,
                                           double* HWY_RESTRICT g) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const std::size_t L = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  auto a4 = hn::Zero(d), a5 = hn::Zero(d), a6 = hn::Zero(d), a7 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + L <= B; i += L) {
    const auto ri = hn::LoadU(d, r + i);
    const T* p = s + i;
    a0 = hn::MulAdd(hn::LoadU(d, p + 0), ri, a0);
    a1 = hn::MulAdd(hn::LoadU(d, p + 1), ri, a1);
    a2 = hn::MulAdd(hn::LoadU(d, p + 2), ri, a2);
    a3 = hn::MulAdd(hn::LoadU(d, p + 3), ri, a3);
    a4 = hn::MulAdd(hn::LoadU(d, p + 4), ri, a4);
    a5 = hn::MulAdd(hn::LoadU(d, p + 5), ri, a5);
    a6 = hn::MulAdd(hn::LoadU(d, p + 6), ri, a6);
    a7 = hn::MulAdd(hn::LoadU(d, p + 7), ri, a7);
  }
  // The last B mod L samples, one lane at a time, into separate one-lane sums.
  auto t0 = hn::Zero(d1), t1 = hn::Zero(d1), t2 = hn::Zero(d1), t3 = hn::Zero(d1);
  auto t4 = hn::Zero(d1), t5 = hn::Zero(d1), t6 = hn::Zero(d1), t7 = hn::Zero(d1);
  for (; i < B; ++i) {
    const auto ri = hn::LoadU(d1, r + i);
    const T* p = s + i;
    t0 = hn::MulAdd(hn::LoadU(d1, p + 0), ri, t0);
    t1 = hn::MulAdd(hn::LoadU(d1, p + 1), ri, t1);
    t2 = hn::MulAdd(hn::LoadU(d1, p + 2), ri, t2);
    t3 = hn::MulAdd(hn::LoadU(d1, p + 3), ri, t3);
    t4 = hn::MulAdd(hn::LoadU(d1, p + 4), ri, t4);
    t5 = hn::MulAdd(hn::LoadU(d1, p + 5), ri, t5);
    t6 = hn::MulAdd(hn::LoadU(d1, p + 6), ri, t6);
    t7 = hn::MulAdd(hn::LoadU(d1, p + 7), ri, t7);
  }
  g[0] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a0)) + hn::GetLane(t0));
  g[1] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a1)) + hn::GetLane(t1));
  g[2] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a2)) + hn::GetLane(t2));
  g[3] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a3)) + hn::GetLane(t3));
  g[4] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a4)) + hn::GetLane(t4));
  g[5] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a5)) + hn::GetLane(t5));
  g[6] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a6)) + hn::GetLane(t6));
  g[7] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a7)) + hn::GetLane(t7));
}

// g[k] += sum_i s[i + k] r[i] for one tap k.
template <typename T>
HWY_INLINE void correlate_accumulate_one(const T* HWY_RESTRICT s, const T* HWY_RESTRICT r, std::size_t B,
                                         double* HWY_RESTRICT g) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const std::size_t L = hn::Lanes(d);
  // Four chains over consecutive vectors hide the multiply-add latency.
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 4 * L <= B; i += 4 * L) {
    a0 = hn::MulAdd(hn::LoadU(d, s + i), hn::LoadU(d, r + i), a0);
    a1 = hn::MulAdd(hn::LoadU(d, s + i + L), hn::LoadU(d, r + i + L), a1);
    a2 = hn::MulAdd(hn::LoadU(d, s + i + 2 * L), hn::LoadU(d, r + i + 2 * L), a2);
    a3 = hn::MulAdd(hn::LoadU(d, s + i + 3 * L), hn::LoadU(d, r + i + 3 * L), a3);
  }
  for (; i + L <= B; i += L) a0 = hn::MulAdd(hn::LoadU(d, s + i), hn::LoadU(d, r + i), a0);
  auto t = hn::Zero(d1);
  for (; i < B; ++i) t = hn::MulAdd(hn::LoadU(d1, s + i), hn::LoadU(d1, r + i), t);
  const auto a = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
  g[0] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a)) + hn::GetLane(t));
}

// g[k0 + t] += sum_i s[i + k0 + t] r[i], t < 4.
template <typename T>
HWY_INLINE void correlate_accumulate_four(const T* HWY_RESTRICT s, const T* HWY_RESTRICT r, std::size_t B,
                                          double* HWY_RESTRICT g) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const std::size_t L = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + L <= B; i += L) {
    const auto ri = hn::LoadU(d, r + i);
    a0 = hn::MulAdd(hn::LoadU(d, s + i + 0), ri, a0);
    a1 = hn::MulAdd(hn::LoadU(d, s + i + 1), ri, a1);
    a2 = hn::MulAdd(hn::LoadU(d, s + i + 2), ri, a2);
    a3 = hn::MulAdd(hn::LoadU(d, s + i + 3), ri, a3);
  }
  auto t0 = hn::Zero(d1), t1 = hn::Zero(d1), t2 = hn::Zero(d1), t3 = hn::Zero(d1);
  for (; i < B; ++i) {
    const auto ri = hn::LoadU(d1, r + i);
    t0 = hn::MulAdd(hn::LoadU(d1, s + i + 0), ri, t0);
    t1 = hn::MulAdd(hn::LoadU(d1, s + i + 1), ri, t1);
    t2 = hn::MulAdd(hn::LoadU(d1, s + i + 2), ri, t2);
    t3 = hn::MulAdd(hn::LoadU(d1, s + i + 3), ri, t3);
  }
  g[0] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a0)) + hn::GetLane(t0));
  g[1] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a1)) + hn::GetLane(t1));
  g[2] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a2)) + hn::GetLane(t2));
  g[3] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a3)) + hn::GetLane(t3));
}

// g_lo[t] += sum_i s[i+t] r[i] for t < 4, and g_hi[t] += sum_i s[i+t+L] r[i] for t < P:
// taps t and t + L share their window loads. The vector s[i+t .. i+t+L) serves tap t with
// r[i .. i+L) and tap t + L with r[i-L .. i), so one load of r and 4 of s feed 4 + P
// multiply-adds (the tap-blocked group needs 9 loads for 8). Each lane sums its products in
// the same order as correlate_accumulate_group, so the bits are the same.
template <int P, typename T>
HWY_INLINE void correlate_accumulate_pairs(const T* HWY_RESTRICT s, const T* HWY_RESTRICT r, std::size_t B,
                                           double* HWY_RESTRICT g_lo, double* HWY_RESTRICT g_hi) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const std::size_t L = hn::Lanes(d), Bv = B / L * L;                           // whole vectors of the block
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);  // taps 0..3
  auto b0 = hn::Zero(d), b1 = hn::Zero(d), b2 = hn::Zero(d), b3 = hn::Zero(d);  // taps L..L+3
  // One vector step at sample i: taps t (lo) with r_lo and t + L (hi) with r_hi. A window
  // vector is loaded only when a tap uses it: at i = Bv only partners t < P exist, and
  // the window ends with the last of them (s[Bv + P - 1 + L - 1] <= s[B + K - 2]).
  auto step = [&](std::size_t i, bool lo, bool hi, auto r_lo, auto r_hi) {
    const T* p = s + i;
    if (lo || (hi && P > 0)) {
      const auto v = in_register(hn::LoadU(d, p + 0));
      if (lo) a0 = hn::MulAdd(v, r_lo, a0);
      if (hi && P > 0) b0 = hn::MulAdd(v, r_hi, b0);
    }
    if (lo || (hi && P > 1)) {
      const auto v = in_register(hn::LoadU(d, p + 1));
      if (lo) a1 = hn::MulAdd(v, r_lo, a1);
      if (hi && P > 1) b1 = hn::MulAdd(v, r_hi, b1);
    }
    if (lo || (hi && P > 2)) {
      const auto v = in_register(hn::LoadU(d, p + 2));
      if (lo) a2 = hn::MulAdd(v, r_lo, a2);
      if (hi && P > 2) b2 = hn::MulAdd(v, r_hi, b2);
    }
    if (lo || (hi && P > 3)) {
      const auto v = in_register(hn::LoadU(d, p + 3));
      if (lo) a3 = hn::MulAdd(v, r_lo, a3);
      if (hi && P > 3) b3 = hn::MulAdd(v, r_hi, b3);
    }
  };
  if (Bv > 0) {
    auto r_prev = hn::LoadU(d, r);
    step(0, true, false, r_prev, r_prev);  // i = 0: tap t + L's r[i - L] lies before the block
    for (std::size_t i = L; i < Bv; i += L) {
      const auto r_cur = hn::LoadU(d, r + i);
      step(i, true, true, r_cur, r_prev);
      r_prev = r_cur;
    }
    step(Bv, false, true, r_prev, r_prev);  // i = Bv: only tap t + L, with r[Bv - L .. Bv)
  }
  // The last B mod L samples, one lane at a time, into separate one-lane sums.
  auto t0 = hn::Zero(d1), t1 = hn::Zero(d1), t2 = hn::Zero(d1), t3 = hn::Zero(d1);
  auto u0 = hn::Zero(d1), u1 = hn::Zero(d1), u2 = hn::Zero(d1), u3 = hn::Zero(d1);
  for (std::size_t i = Bv; i < B; ++i) {
    const auto ri = hn::LoadU(d1, r + i);
    const T* p = s + i;
    t0 = hn::MulAdd(hn::LoadU(d1, p + 0), ri, t0);
    t1 = hn::MulAdd(hn::LoadU(d1, p + 1), ri, t1);
    t2 = hn::MulAdd(hn::LoadU(d1, p + 2), ri, t2);
    t3 = hn::MulAdd(hn::LoadU(d1, p + 3), ri, t3);
    if (P > 0) u0 = hn::MulAdd(hn::LoadU(d1, p + L + 0), ri, u0);
    if (P > 1) u1 = hn::MulAdd(hn::LoadU(d1, p + L + 1), ri, u1);
    if (P > 2) u2 = hn::MulAdd(hn::LoadU(d1, p + L + 2), ri, u2);
    if (P > 3) u3 = hn::MulAdd(hn::LoadU(d1, p + L + 3), ri, u3);
  }
  g_lo[0] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a0)) + hn::GetLane(t0));
  g_lo[1] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a1)) + hn::GetLane(t1));
  g_lo[2] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a2)) + hn::GetLane(t2));
  g_lo[3] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, a3)) + hn::GetLane(t3));
  if (P > 0) g_hi[0] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, b0)) + hn::GetLane(u0));
  if (P > 1) g_hi[1] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, b1)) + hn::GetLane(u1));
  if (P > 2) g_hi[2] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, b2)) + hn::GetLane(u2));
  if (P > 3) g_hi[3] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, b3)) + hn::GetLane(u3));
}

// g[k] += sum_i s[i + k] r[i] for the taps k in [lo, hi), kTaps at a time (then 4, then 1).
template <typename T>
void correlate_accumulate_range(const T* HWY_RESTRICT s, const T* HWY_RESTRICT r, std::size_t B,
                                std::size_t lo, std::size_t hi, double* HWY_RESTRICT g) {
  std::size_t k = lo;
  for (; k + kTaps <= hi; k += kTaps) correlate_accumulate_group(s + k, r, B, g + k);
  if (k < hi && hi >= kTaps) {  // the last taps: one full group ending at hi, keep its tail
    double last[kTaps] = {};
    correlate_accumulate_group(s + (hi - kTaps), r, B, last);
    for (std::size_t t = kTaps - (hi - k); t < kTaps; ++t) g[hi - kTaps + t] += last[t];
    return;
  }
  for (; k + 4 <= hi; k += 4) correlate_accumulate_four(s + k, r, B, g + k);
  for (; k < hi; ++k) correlate_accumulate_one(s + k, r, B, g + k);
}

// Taps t0..t0+3 with their partners t0+L.. (P of them exist): one call of the P variant.
template <typename T>
void correlate_accumulate_pairs_any(const T* s, const T* r, std::size_t B, std::size_t P, double* g_lo,
                                    double* g_hi) {
  switch (P) {
    case 0:
      return correlate_accumulate_pairs<0>(s, r, B, g_lo, g_hi);
    case 1:
      return correlate_accumulate_pairs<1>(s, r, B, g_lo, g_hi);
    case 2:
      return correlate_accumulate_pairs<2>(s, r, B, g_lo, g_hi);
    case 3:
      return correlate_accumulate_pairs<3>(s, r, B, g_lo, g_hi);
    default:
      return correlate_accumulate_pairs<4>(s, r, B, g_lo, g_hi);
  }
}

// Long kernels: g[k] += sum_i r[i] s[k + i] is itself a correlation with K outputs and B
// "taps" r[i], so the faster output-blocked correlate computes it (each output lane then
// sums the block's B products in order: still a blockwise sum, added to g in double).
// Shorter kernels: taps in pairs (t, t + L) that share loads, four pairs at a time, over
// every 2L taps and the first of the last K mod 2L; what is left (and everything when
// vectors hold fewer than 4 lanes) goes kTaps taps at a time.
template <typename T>
void correlate_accumulate_impl(const T* HWY_RESTRICT s, const T* HWY_RESTRICT r, std::size_t B, std::size_t K,
                               double* HWY_RESTRICT g) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d), group = kOut * L;
  std::size_t k = K / group * group;  // taps [0, k) by correlate, the rest tap-blocked
  if (k > 0) {
    thread_local std::vector<T> block_sums;
    block_sums.resize(k);
    correlate_impl(r, B, s, block_sums.data(), k);
    for (std::size_t j = 0; j < k; ++j) g[j] += static_cast<double>(block_sums[j]);
  }
  if (L < 4) return correlate_accumulate_range(s, r, B, k, K, g);
  for (; k + 2 * L <= K; k += 2 * L)
    for (std::size_t t = 0; t < L; t += 4)
      correlate_accumulate_pairs<4>(s + k + t, r, B, g + k + t, g + k + t + L);
  const std::size_t R = K - k, lo_end = std::min(R, L) / 4 * 4;  // the last R < 2L taps
  for (std::size_t t = 0; t < lo_end; t += 4) {
    const std::size_t P = R > L + t ? std::min<std::size_t>(4, R - L - t) : 0;
    correlate_accumulate_pairs_any(s + k + t, r, B, P, g + k + t, g + k + t + L);
  }
  correlate_accumulate_range(s, r, B, k + lo_end, k + std::min(R, L), g);  // taps left without a group
  if (R > L + lo_end) correlate_accumulate_range(s, r, B, k + L + lo_end, K, g);
}

// r = yhat - y in T, sum of r^2 in double (float lanes are widened before squaring).
double residual_sumsq_f32(const float* HWY_RESTRICT yhat, const float* HWY_RESTRICT y, float* HWY_RESTRICT r,
                          std::size_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // as many floats as dd has doubles
  const std::size_t L = hn::Lanes(dd);
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  std::size_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto r0 = hn::Sub(hn::LoadU(df, yhat + i), hn::LoadU(df, y + i));
    const auto r1 = hn::Sub(hn::LoadU(df, yhat + i + L), hn::LoadU(df, y + i + L));
    hn::StoreU(r0, df, r + i);
    hn::StoreU(r1, df, r + i + L);
    const auto w0 = hn::PromoteTo(dd, r0), w1 = hn::PromoteTo(dd, r1);
    acc0 = hn::MulAdd(w0, w0, acc0);
    acc1 = hn::MulAdd(w1, w1, acc1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
  for (; i < n; ++i) {
    r[i] = yhat[i] - y[i];
    sum += static_cast<double>(r[i]) * static_cast<double>(r[i]);
  }
  return sum;
}

double residual_sumsq_f64(const double* HWY_RESTRICT yhat, const double* HWY_RESTRICT y,
                          double* HWY_RESTRICT r, std::size_t n) {
  const hn::ScalableTag<double> d;
  const std::size_t L = hn::Lanes(d);
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto r0 = hn::Sub(hn::LoadU(d, yhat + i), hn::LoadU(d, y + i));
    const auto r1 = hn::Sub(hn::LoadU(d, yhat + i + L), hn::LoadU(d, y + i + L));
    hn::StoreU(r0, d, r + i);
    hn::StoreU(r1, d, r + i + L);
    acc0 = hn::MulAdd(r0, r0, acc0);
    acc1 = hn::MulAdd(r1, r1, acc1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < n; ++i) {
    r[i] = yhat[i] - y[i];
    sum += r[i] * r[i];
  }
  return sum;
}

// True when no v[i] is NaN or infinite: v - v is 0 for every finite v and NaN otherwise,
// and a NaN anywhere makes the running sum NaN.
template <typename T>
bool all_finite_impl(const T* HWY_RESTRICT v, std::size_t n) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto a = hn::LoadU(d, v + i), b = hn::LoadU(d, v + i + L);
    acc0 = hn::Add(acc0, hn::Sub(a, a));
    acc1 = hn::Add(acc1, hn::Sub(b, b));
  }
  T rest = 0;
  for (; i < n; ++i) rest += v[i] - v[i];
  const T total = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1))) + rest;
  return total == T(0);
}
bool all_finite_f32(const float* v, std::size_t n) { return all_finite_impl(v, n); }
bool all_finite_f64(const double* v, std::size_t n) { return all_finite_impl(v, n); }

// sum r[i]^2 in double, with exactly residual_sumsq's order of operations.
double sumsq_f32(const float* HWY_RESTRICT r, std::size_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const std::size_t L = hn::Lanes(dd);
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  std::size_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto w0 = hn::PromoteTo(dd, hn::LoadU(df, r + i)), w1 = hn::PromoteTo(dd, hn::LoadU(df, r + i + L));
    acc0 = hn::MulAdd(w0, w0, acc0);
    acc1 = hn::MulAdd(w1, w1, acc1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += static_cast<double>(r[i]) * static_cast<double>(r[i]);
  return sum;
}

double sumsq_f64(const double* HWY_RESTRICT r, std::size_t n) {
  const hn::ScalableTag<double> d;
  const std::size_t L = hn::Lanes(d);
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const auto r0 = hn::LoadU(d, r + i), r1 = hn::LoadU(d, r + i + L);
    acc0 = hn::MulAdd(r0, r0, acc0);
    acc1 = hn::MulAdd(r1, r1, acc1);
  }
  double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += r[i] * r[i];
  return sum;
}

void correlate_f32(const float* w, std::size_t K, const float* s, float* out, std::size_t B) {
  correlate_impl(w, K, s, out, B);
}
void correlate_f64(const double* w, std::size_t K, const double* s, double* out, std::size_t B) {
  correlate_impl(w, K, s, out, B);
}
void correlate_accumulate_f32(const float* s, const float* r, std::size_t B, std::size_t K, double* g) {
  correlate_accumulate_impl(s, r, B, K, g);
}
void correlate_accumulate_f64(const double* s, const double* r, std::size_t B, std::size_t K, double* g) {
  correlate_accumulate_impl(s, r, B, K, g);
}

}  // namespace HWY_NAMESPACE
}  // namespace convgrad::detail::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace convgrad::detail::simd {

HWY_EXPORT(correlate_f32);
HWY_EXPORT(correlate_f64);
HWY_EXPORT(correlate_accumulate_f32);
HWY_EXPORT(correlate_accumulate_f64);
HWY_EXPORT(residual_sumsq_f32);
HWY_EXPORT(residual_sumsq_f64);
HWY_EXPORT(sumsq_f32);
HWY_EXPORT(all_finite_f32);
HWY_EXPORT(all_finite_f64);
HWY_EXPORT(sumsq_f64);

void correlate(const float* w, std::size_t K, const float* s, float* out, std::size_t B) {
  HWY_DYNAMIC_DISPATCH(correlate_f32)(w, K, s, out, B);
}
void correlate(const double* w, std::size_t K, const double* s, double* out, std::size_t B) {
  HWY_DYNAMIC_DISPATCH(correlate_f64)(w, K, s, out, B);
}
void correlate_accumulate(const float* s, const float* r, std::size_t B, std::size_t K, double* g) {
  HWY_DYNAMIC_DISPATCH(correlate_accumulate_f32)(s, r, B, K, g);
}
void correlate_accumulate(const double* s, const double* r, std::size_t B, std::size_t K, double* g) {
  HWY_DYNAMIC_DISPATCH(correlate_accumulate_f64)(s, r, B, K, g);
}
double residual_sumsq(const float* yhat, const float* y, float* r, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(residual_sumsq_f32)(yhat, y, r, n);
}
double residual_sumsq(const double* yhat, const double* y, double* r, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(residual_sumsq_f64)(yhat, y, r, n);
}

double sumsq(const float* r, std::size_t n) { return HWY_DYNAMIC_DISPATCH(sumsq_f32)(r, n); }
double sumsq(const double* r, std::size_t n) { return HWY_DYNAMIC_DISPATCH(sumsq_f64)(r, n); }

bool all_finite(const float* v, std::size_t n) { return HWY_DYNAMIC_DISPATCH(all_finite_f32)(v, n); }
bool all_finite(const double* v, std::size_t n) { return HWY_DYNAMIC_DISPATCH(all_finite_f64)(v, n); }

std::vector<std::string> available_targets() {
  std::vector<std::string> names;
  for (const std::int64_t t : hwy::SupportedAndGeneratedTargets()) names.emplace_back(hwy::TargetName(t));
  return names;
}

std::string current_target() {
  // The best supported target among those compiled is what dispatch picks.
  const std::int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return targets ? hwy::TargetName(targets & -targets) : "none";
}

void force_target(const std::string& name) {
  std::int64_t mask = 0;  // 0: the CPU's own set
  for (const std::int64_t t : hwy::SupportedAndGeneratedTargets())
    if (name == hwy::TargetName(t)) mask = t;
  hwy::SetSupportedTargetsForTest(mask);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());  // dispatch re-reads the choice
}

}  // namespace convgrad::detail::simd
#endif  // HWY_ONCE
