// mnemo/backend/cuda/thread_group.cuh — deterministic reductions across the threads that share
// one row: a warp (butterfly of shuffles) or a whole block (warps, then the warp results in
// warp order through shared memory). The order of every addition depends only on thread
// indices, never on timing, so a result is bitwise the same run after run; every thread of the
// group receives the same value (the combining operations are commutative).
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/math.cuh"

namespace mnemo::cuda {

/// Two sums carried together (e.g. Σg and Σg·x̂ of the layer-norm backward).
template <class A>
struct SumPair {
  A a, b;
};
/// Running maximum m and Σ exp(z − m) of an online softmax / log-sum-exp.
template <class C>
struct MaxSum {
  C m, s;
  /// The empty set: m = −∞, s = 0.
  static __device__ __forceinline__ MaxSum empty() { return {math::neg_inf<C>(), C(0)}; }
  /// Adds one value z; −∞ (a masked or −∞ logit) contributes nothing.
  __device__ __forceinline__ void add(C z) {
    if (z > m) {
      s = s * math::exp(m - z) + C(1);
      m = z;
    } else if (z != math::neg_inf<C>()) {
      s += math::exp(z - m);
    }
  }
};

struct Plus {
  template <class V>
  __device__ __forceinline__ V operator()(V a, V b) const { return a + b; }
  template <class A>
  __device__ __forceinline__ SumPair<A> operator()(SumPair<A> x, SumPair<A> y) const { return {x.a + y.a, x.b + y.b}; }
};
/// Maximum ignoring NaN (as std::max(m, v) with m starting at 0 does on the CPU).
struct Max {
  template <class V>
  __device__ __forceinline__ V operator()(V a, V b) const { return math::max(a, b); }
};
/// Merges two online-softmax states: (max, Σ exp(z − max)).
struct MaxSumMerge {
  template <class C>
  __device__ __forceinline__ MaxSum<C> operator()(MaxSum<C> x, MaxSum<C> y) const {
    const C m = math::max(x.m, y.m);
    if (m == math::neg_inf<C>()) return MaxSum<C>::empty();
    // Rounded as written so that merge(x, y) and merge(y, x) agree bit for bit.
    return {m, math::add_rn(math::mul_rn(x.s, math::exp(x.m - m)), math::mul_rn(y.s, math::exp(y.m - m)))};
  }
};

template <class V>
__device__ __forceinline__ V shfl_xor(V v, int lane_mask) { return __shfl_xor_sync(0xffffffffu, v, lane_mask); }
template <class A>
__device__ __forceinline__ SumPair<A> shfl_xor(SumPair<A> v, int lane_mask) {
  return {shfl_xor(v.a, lane_mask), shfl_xor(v.b, lane_mask)};
}
template <class C>
__device__ __forceinline__ MaxSum<C> shfl_xor(MaxSum<C> v, int lane_mask) {
  return {shfl_xor(v.m, lane_mask), shfl_xor(v.s, lane_mask)};
}

/// Reduction over the 32 lanes of a warp (all lanes active); every lane gets the result.
template <class V, class Op>
__device__ __forceinline__ V warp_allreduce(V v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, shfl_xor(v, offset));
  return v;
}

/// kThreads consecutive threads that work on one row: a warp (32) or a whole block (64..1024).
/// `scratch` is shared memory of kScratchBytes, 16-byte aligned (unused by a single warp).
template <int kThreads>
struct ThreadGroup {
  static_assert(kThreads % 32 == 0 && kThreads >= 32 && kThreads <= 1024, "a group is whole warps of one block");
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kScratchBytes = kWarps * 16;

  int rank;                // 0 .. kThreads−1
  unsigned char* scratch;  // kScratchBytes of shared memory

  /// op-reduction of every thread's `v`, returned to every thread. A block-wide group must call
  /// it from all its threads (it contains __syncthreads).
  template <class V, class Op>
  __device__ __forceinline__ V allreduce(V v, Op op) const {
    static_assert(sizeof(V) <= 16, "reduction values are at most 16 bytes");
    v = warp_allreduce(v, op);
    if constexpr (kWarps == 1) {
      return v;
    } else {
      V* slot = reinterpret_cast<V*>(scratch);
      if ((rank & 31) == 0) slot[rank >> 5] = v;
      __syncthreads();
      V r = slot[0];
#pragma unroll
      for (int w = 1; w < kWarps; ++w) r = op(r, slot[w]);
      __syncthreads();  // the scratch may be written again by the next reduction
      return r;
    }
  }

  /// Makes this thread's global-memory writes visible to the group and waits for the group
  /// (a block-wide group must call it from all its threads).
  __device__ __forceinline__ void sync() const {
    if constexpr (kWarps == 1) __syncwarp();
    else __syncthreads();
  }

  /// Σ f(c) over the columns c of [0, cols), this thread taking c = rank, rank + kThreads, ...
  /// in order; the total is returned to every thread (A: a scalar or a SumPair).
  template <class A, class F>
  __device__ __forceinline__ A sum(int64_t cols, F f) const {
    A acc{};
    for (int64_t c = rank; c < cols; c += kThreads) acc = Plus{}(acc, f(c));
    return allreduce(acc, Plus{});
  }
};

}  // namespace mnemo::cuda
