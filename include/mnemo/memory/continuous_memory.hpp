// mnemo/memory/continuous_memory.hpp — the ∞-former's long-term memory layer
// (infinite_former.md §4–§7): a continuous signal X̄(t) = Bᵀψ(t) over t ∈ [0, 1] summarising every
// vector ever written, read by continuous attention.
//
// write (§4, §5):  X̃ = X ⊙ sigmoid(Conv1d(X))            (X: the detached layer inputs)
//                  first write   B = G_Lᵀ X̃
//                  later writes  B = G_oldᵀ X_past + G_newᵀ X̃,  X_past = Ψ_s B_prev   (contraction;
//                                Ψ_s at k/M, or at sticky positions drawn from the last read)
// read (§6):       K = B W_K, V = B W_V;  per head h and query q (the host attention's, unscaled):
//                  s = K_h q/√d_h;  μ = sigmoid(w_μ·s);  σ² = max(softplus(w_σ·s), ε)
//                  r_j = N(μ; μ_j, σ² + σ_j²);  c = V_hᵀ r;  Z_ltm = concat_h(c) W_O
//                  KL = ½(σ²/σ₀² − ln(σ²/σ₀²) − 1) per query (summed; the model averages)
// backward (§7): hand-written. Gradients reach W_K, W_V, W_O, w_μ, w_σ, the queries and, through
// dX̃ = G dB, the gate; never the stored coefficients (B_prev is detached after every write).
//
// Implementation notes. w_μ·s = q·(w_μᵀ B W_K)_h/√d_h, so the N×L_q score matrix s is never
// formed: two e-vectors per row (P = [w_μ w_σ]ᵀ B, Kw = P W_K) give every score, and the
// backward of that path is rank-2 (§7's dK = ds qᵀ/√d_h summed over queries). Without sticky
// memories the contraction's sampling and refit fold into one N×N operator. Rows whose memory is
// EMPTY read nothing (Z_ltm = 0, no KL) and are skipped by every GEMM.
#pragma once

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/backend/continuous_read_rule.hpp"
#include "mnemo/backend/continuous_write_rule.hpp"
#include "mnemo/backend/cpu/conv3_winograd.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/tags.hpp"
#include "mnemo/core/config.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/memory/continuous_memory_config.hpp"
#if MNEMO_COMPILED_BODIES
#include "mnemo/memory/continuous_operators.hpp"
#else  // compiled mode: the operators are built in mnemo::compiled, held here by shared_ptr
#include "mnemo/memory/continuous_operators_fwd.hpp"
#endif
#include "mnemo/memory/continuous_state.hpp"
#include "mnemo/memory/sticky_sampler.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::memory {

template <class T, class B>
class ContinuousMemory {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;

 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;
  using CTens = Tensor<C, B>;
  using State = ContinuousState<T, B>;
  using Operators = ContinuousOperators<T, B>;
  /// The read runs fused (backend/continuous_read_rule.hpp: one kernel per direction) on the GPU;
  /// the CPU keeps density → expectation → blocked GEMM, which is faster there.
  static constexpr bool kFusedRead = std::is_same_v<B, Cuda>;
  /// Without a ReadSaved (no backward to feed) the CPU read runs blocked (blocked_context): r is
  /// never materialised and V, c are used in place, with no head-layout copies.
  static constexpr bool kBlockedRead = std::is_same_v<B, Cpu>;
  /// Queries per block of the blocked read (r of a block: kReadBlock·N elements, in cache).
  static constexpr int64_t kReadBlock = 128;
  using WriteMode = ContinuousWriteMode;  // per row (backend/continuous_write_rule.hpp)
  /// The gate's convolution by Winograd's minimal filtering on the CPU (backend/cpu/conv3_winograd.hpp):
  /// F(4, 3) for float, F(2, 3) for bfloat16; the im2col GEMM otherwise (double: the exact products).
  static constexpr bool kWinogradGate =
      std::is_same_v<B, Cpu> && (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>);

  /// What write_backward consumes.
  struct WriteSaved {
    Tens x;                      // gate input with padded positions zeroed [batch, L, e]
    Tens u, z;                   // conv input (im2col) [batch, L, 3e] and pre-gate [batch, L, e]
    std::vector<WriteMode> mode; // per row
    int64_t length = 0;
  };
  /// What read_backward consumes (also the intermediate values, for tests and diagnostics).
  struct ReadSaved {
    std::vector<int64_t> rows;  // batch rows that read (had memory)
    int64_t batch = 0, queries = 0;
    Tens coefficients, q;       // gathered rows: [nb, N, e], [nb, H, Lq, dh]
    Tens v_heads;               // V in head layout [nb, H, N, dh]
    Tens w2;                    // [w_μ w_σ] [N, 2]
    Tens p, kw;                 // P = W2ᵀB, Kw = P W_K [nb, 2, e]
    Tens scores;                // a then b [2, nb·H·Lq]
    CTens mu, sigma2;           // [nb·H·Lq]
    Tens r;                     // [nb, H, Lq, N]
    Tens merged;                // concat_h(c) [nb, Lq, e]
  };
  struct ReadGrads {
    Tens dq_heads;      // [batch, H, Lq, dh] (undefined unless asked)
    Tens dcoefficients; // [batch, N, e] (undefined unless asked)
  };
  struct ReadOutput {
    Var z;   // Z_ltm [batch, Lq, e]
    Var kl;  // Σ over rows with memory, heads and queries of KL (one element)
  };

  /// Registers under `name`: gate.weight [3e, e] (tap k rows k·e..k·e+e−1: Z[t] = Σ_k X[t+k−1] W_k
  /// + b), gate.bias [e] (with config.gate), k_proj.weight, v_proj.weight, o_proj.weight [e, e],
  /// w_mu, w_sigma [N]. `operators` may be shared by layers with the same config (built here when null).
  ContinuousMemory(nn::ParameterStore<T, B>& store, const std::string& name, int64_t d_model, int64_t heads,
                   const ContinuousMemoryConfig& config, std::shared_ptr<const Operators> operators = nullptr);

  const ContinuousMemoryConfig& config() const { return config_; }
  const std::shared_ptr<const Operators>& operators() const { return ops_; }
  int64_t d_model() const { return e_; }
  int64_t heads() const { return h_; }
  int64_t head_dim() const { return dh_; }
  int64_t basis_size() const { return n_; }
  const std::string& name() const { return name_; }

  nn::Parameter<T, B>* gate_weight() const { return gate_w_; }
  nn::Parameter<T, B>* gate_bias() const { return gate_b_; }
  /// Parameter::note_use for every parameter of the memory (before recording a node whose
  /// backward writes their gradients directly).
  void note_parameter_uses() const {
    for (auto* p : {gate_w_, gate_b_, wk_, wv_, wo_, wmu_, wsigma_})
      if (p) p->note_use();
  }
  nn::Parameter<T, B>& key_weight() const { return *wk_; }
  nn::Parameter<T, B>& value_weight() const { return *wv_; }
  nn::Parameter<T, B>& output_weight() const { return *wo_; }
  nn::Parameter<T, B>& mu_weight() const { return *wmu_; }
  nn::Parameter<T, B>& sigma_weight() const { return *wsigma_; }

  /// An EMPTY state for `batch` rows; the sticky sampler's stream is (seed, this layer's name).
  State initial_state(int64_t batch, uint64_t seed = 0) const;

  // ---- write ------------------------------------------------------------------------------

  /// Writes x [batch, L, e] (detached layer inputs; `padding` [batch, L] in host memory, nonzero =
  /// padding, written as zero vectors) into the state and returns the new coefficients
  /// [batch, N, e] as a value whose gradient reaches the gate. Rows whose segment is all padding
  /// keep their memory.
  Var write(const Tens& x, const Tensor<uint8_t, Cpu>* padding, State& state) const;

  Tens write_forward(const Tens& x, const Tensor<uint8_t, Cpu>* padding, State& state, WriteSaved* saved) const;

  /// The gate (§4) on xm [rows, L, e] (padded positions already zeroed): X̃ = xm ⊙ sigmoid(U W + b),
  /// U = [X_{t−1} | X_t | X_{t+1}] (zero outside each segment); xm itself without a gate. `u` and
  /// `z` (nullable) receive U and the pre-gate U W + b for the backward. Float and bfloat16 on the
  /// CPU convolve by Winograd's F(4, 3) and F(2, 3) and build U only when `u` asks for it.
  Tens gated(const Tens& xm, Tens* u, Tens* z) const {
    if (!config_.gate) return xm;
    Context<B>& ctx = *ctx_;
    const int64_t rows = xm.shape()[0] * xm.shape()[1];
    Tens uu, zz(xm.shape(), ctx.arena()), xt(xm.shape(), ctx.arena());
    if constexpr (kWinogradGate) {  // 1.5 (float) or 2 (bf16) instead of 3 products of [L, e]·[e, e] per row
      const int64_t nb = xm.shape()[0], L = xm.shape()[1];
      Tensor<float, Cpu> scratch(Shape{cpu::conv3_winograd_scratch<T>(nb, L, e_)}, ctx.arena());
      cpu::conv3_winograd(xm.data(), gate_w_->value.data(), zz.data(), nb, L, e_, scratch.data(), gate_b_->value.data());
      if (u) uu = im2col(xm);  // the backward's dW = Uᵀ dZ
    } else {
      uu = im2col(xm);
      BT::gemm(ctx, Trans::N, Trans::N, rows, e_, 3 * e_, C(1), uu.data(), 3 * e_, 0, gate_w_->value.data(), e_, 0,
               C(0), zz.data(), e_, 0, 1);
      BT::add_row_broadcast(ctx, zz.data(), gate_b_->value.data(), zz.data(), rows, e_);
    }
    BT::sigmoid_gate_forward(ctx, xm.numel(), xm.data(), zz.data(), xt.data());
    if (u) *u = std::move(uu);
    if (z) *z = std::move(zz);
    return xt;
  }

  /// Accumulates the gate's gradients from dB [batch, N, e] (dX̃ = G dB per row, §3.3, §5.2).
  void write_backward(const WriteSaved& s, const Tens& dcoeffs) const;

  // ---- read -------------------------------------------------------------------------------

  /// Continuous attention of q_heads [batch, H, Lq, d_h] over the signal of `coefficients`
  /// [batch, N, e] for the rows of `state` that hold a memory; records one tape node. With sticky
  /// memories the densities are kept in the state for the next write.
  ReadOutput read(const Var& coefficients, const Var& q_heads, State& state) const;

  /// Tensor-level read: Z_ltm [batch, Lq, e] (0 in rows without memory); *kl_sum receives Σ KL
  /// over the rows with memory, heads and queries. Fills `saved` when given.
  Tens read_forward(const Tens& coefficients, const Tens& q_heads, State& state, ReadSaved* saved, double* kl_sum) const;

  /// Backward of read_forward from dZ [batch, Lq, e] and the gradient of the KL sum (§7).
  /// Accumulates W_K, W_V, W_O, w_μ, w_σ gradients; returns dq_heads / dcoefficients when asked.
  ReadGrads read_backward(const ReadSaved& s, const Tens& dz, double kl_grad, bool need_dq, bool need_dcoefficients) const;

  /// Sticky sample positions of row b from the densities the last read left in the state.
  std::vector<double> sticky_positions(const State& state, int64_t b) const {
    const int64_t count = state.sticky_mu.shape()[1];
    std::vector<C> mu_all = state.sticky_mu.slice(b, 1).to_host(), s2_all = state.sticky_sigma2.slice(b, 1).to_host();
    std::vector<double> mu(static_cast<size_t>(count)), sigma(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      mu[static_cast<size_t>(i)] = static_cast<double>(mu_all[static_cast<size_t>(i)]);
      sigma[static_cast<size_t>(i)] = std::sqrt(static_cast<double>(s2_all[static_cast<size_t>(i)]));
    }
    const auto p = normalise_histogram(sticky_histogram(mu, sigma, config_.sticky_bins));
    const RngKey key = state.key.derive(state.draws).derive(static_cast<uint64_t>(b));
    return sample_sticky_positions(p, config_.samples, key, config_.sticky_jitter);
  }

 private:
  void check_state(const State& state, const char* op) const {
    require<StateError>(state.coefficients.defined(), "ContinuousMemory::", op,
                        ": the state is undefined (create it with initial_state(batch))");
    check_shape(detail::cat("ContinuousMemory::", op, ": state coefficients").c_str(), state.coefficients.shape(),
                {{"batch", Dim::any}, {"basis", n_}, {"d_model", e_}});
  }

  /// Stores μ and σ² of the rows that read (other rows: none) for the next write's sampler.
  void remember_densities(const CTens& mu, const CTens& sigma2, const std::vector<int64_t>& rows, int64_t lq, State& state) const {
    const int64_t per_row = h_ * lq, batch = state.batch();
    state.sticky_mu = CTens(Shape{batch, per_row}, ctx_->arena());
    state.sticky_sigma2 = CTens(Shape{batch, per_row}, ctx_->arena());
    state.sticky_mu.zero();
    state.sticky_sigma2.zero();
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto bytes = static_cast<size_t>(per_row) * sizeof(C);
      const int64_t src = static_cast<int64_t>(i) * per_row, dst = rows[i] * per_row;
      BT::copy_device(*ctx_, state.sticky_mu.data() + dst, mu.data() + src, bytes);
      BT::copy_device(*ctx_, state.sticky_sigma2.data() + dst, sigma2.data() + src, bytes);
      state.has_densities[static_cast<size_t>(rows[i])] = 1;
    }
  }

  /// [batch, L, e] → [batch, L, 3e] rows (X_{t−1} | X_t | X_{t+1}), zero outside each segment.
  Tens im2col(const Tens& x) const {
    Context<B>& ctx = *ctx_;
    const int64_t nb = x.shape()[0], L = x.shape()[1];
    Tens u(Shape{nb, L, 3 * e_}, ctx.arena());
    const size_t w = static_cast<size_t>(e_) * sizeof(T), pitch = 3 * w;
    const int64_t rows = nb * L;
    BT::copy_2d(ctx, u.data() + e_, pitch, x.data(), w, w, static_cast<size_t>(rows));                // X_t
    if (rows > 1) {
      BT::copy_2d(ctx, u.data() + 3 * e_, pitch, x.data(), w, w, static_cast<size_t>(rows - 1));       // X_{t−1}
      BT::copy_2d(ctx, u.data() + 2 * e_, pitch, x.data() + e_, w, w, static_cast<size_t>(rows - 1));  // X_{t+1}
    }
    for (int64_t b = 0; b < nb; ++b) {  // segment edges: no left neighbour at t = 0, none right at L−1
      BT::fill(ctx, u.data() + b * L * 3 * e_, e_, T{});
      BT::fill(ctx, u.data() + ((b + 1) * L - 1) * 3 * e_ + 2 * e_, e_, T{});
    }
    return u;
  }

  /// For rows i < count: dst_i = op(A)·src_i + beta·dst_i ([N, e] each, dst_i at i·N·e, src_i at
  /// i·src_stride), op(A) [N, K] (A stored [K, N] with Trans::T, [N, K] with Trans::N, row stride
  /// lda), band by band (operator_bands.hpp): one strided batched GEMM over the band's dense core,
  /// and where it has tails, Vᵀ·src over each tail into a [rank, e] buffer per row and U times that
  /// added to the band's rows. (Bands: a vector of OperatorBand, a template parameter so that a
  /// compiled-mode TU, which sees only continuous_operators_fwd.hpp, parses this body.)
  template <class Bands>
  void banded_gemm(const Bands& bands, const T* factors, Trans ta, const T* a, int64_t lda, const T* src,
                   int64_t src_stride, C beta, T* dst, int64_t count) const {
    int64_t most_rank = 0;
    for (const auto& band : bands) most_rank = std::max(most_rank, band.tail_rank());
    Tens tails;
    if (most_rank > 0) tails = Tens(Shape{count, most_rank, e_}, ctx_->arena());
    for (const auto& band : bands) {
      const int64_t m = band.rows(), k = band.k_end - band.k_begin;
      const T* ab = ta == Trans::T ? a + band.k_begin * lda + band.row_begin : a + band.row_begin * lda + band.k_begin;
      T* rows = dst + band.row_begin * e_;
      BT::gemm(*ctx_, ta, Trans::N, m, e_, k, C(1), ab, lda, 0, src + band.k_begin * e_, e_, src_stride, beta, rows, e_,
               n_ * e_, count);
      const int64_t rank = band.tail_rank();
      if (rank == 0) continue;
      const T* u = factors + band.factors;
      const T* vt_left = u + m * rank;
      const T* vt_right = vt_left + band.left_rank * band.left_width();
      const int64_t t_stride = most_rank * e_;
      if (band.left_rank > 0)
        BT::gemm(*ctx_, Trans::N, Trans::N, band.left_rank, e_, band.left_width(), C(1), vt_left, band.left_width(), 0,
                 src + band.left_begin * e_, e_, src_stride, C(0), tails.data(), e_, t_stride, count);
      if (band.right_rank > 0)
        BT::gemm(*ctx_, Trans::N, Trans::N, band.right_rank, e_, band.right_width(), C(1), vt_right, band.right_width(), 0,
                 src + band.k_end * e_, e_, src_stride, C(0), tails.data() + band.left_rank * e_, e_, t_stride, count);
      BT::gemm(*ctx_, Trans::N, Trans::N, m, e_, rank, C(1), u, rank, 0, tails.data(), e_, t_stride, C(1), rows, e_,
               n_ * e_, count);
    }
  }

  /// The read's context vectors without r in memory (§6): for each row b, head h and block of
  /// kReadBlock queries, r = N(μ; c_j, σ² + s_j²) of the block into a local buffer, then
  /// c = r V_h straight from V [nb, N, e] (head h: columns h·d_h.., stride e) into
  /// merged [nb, Lq, e] (the same columns), V = B W_V [nb, N, e] formed here into v. The same
  /// entries and products as the unblocked read, except in a float memory's rows whose densities
  /// are all wide (smooth_read.hpp): there c = a · (Φ V)_h with the moments Φ V = (Φ B) W_V
  /// [W·K, e] of the row taken once (and V itself not formed), the Chebyshev coefficients
  /// a [m, W·K] of each block's densities. The blocks run in parallel, each product on one thread.
  void blocked_context(const CTens& mu, const CTens& sigma2, const Tens& coefficients, Tens& v, Tens& merged,
                       int64_t nb, int64_t lq) const {
    Context<B>& ctx = *ctx_;
    const int64_t blocks = (lq + kReadBlock - 1) / kReadBlock, tasks = nb * h_ * blocks;
    const SmoothRows smooth = smooth_moments(sigma2, coefficients, nb, lq);
    if (smooth.degree.empty())
      BT::gemm(ctx, Trans::N, Trans::N, nb * n_, e_, e_, C(1), coefficients.data(), e_, 0, wv_->value.data(), e_, 0, C(0),
               v.data(), e_, 0, 1);
    else
      for (int64_t b = 0; b < nb; ++b)
        if (smooth.degree[static_cast<size_t>(b)] < 0)
          BT::gemm(ctx, Trans::N, Trans::N, n_, e_, e_, C(1), coefficients.data() + b * n_ * e_, e_, 0, wv_->value.data(),
                   e_, 0, C(0), v.data() + b * n_ * e_, e_, 0, 1);
    cpu::parallel_for(tasks, std::min(lq, kReadBlock) * n_ * (2 * dh_ + 16), [&](int64_t begin, int64_t end) {
      std::vector<T> r(static_cast<size_t>(std::min(lq, kReadBlock) * n_));
      for (int64_t task = begin; task < end; ++task) {
        const int64_t bh = task / blocks, q0 = (task % blocks) * kReadBlock, m = std::min(kReadBlock, lq - q0);
        const int64_t b = bh / h_, h = bh % h_, i0 = bh * lq + q0;
        T* c = merged.data() + (b * lq + q0) * e_ + h * dh_;
        if (const int d = smooth.degree.empty() ? -1 : smooth.degree[static_cast<size_t>(b)]; d >= 0) {
          if constexpr (std::is_same_v<T, float>) {
            const int64_t terms = smooth.terms[static_cast<size_t>(b)];
            r.resize(std::max(r.size(), static_cast<size_t>(m * terms)));
            ops_->smooth_read().coefficients(d, mu.data() + i0, sigma2.data() + i0, m, r.data());
            BT::gemm(ctx, Trans::N, Trans::N, m, dh_, terms, C(1), r.data(), terms, 0,
                     smooth.moments.data() + b * smooth.row_stride + h * dh_, e_, 0, C(0), c, e_, 0, 1);
            continue;
          }
        }
        BT::gaussian_expectation_forward(ctx, mu.data() + i0, sigma2.data() + i0, ops_->centres().data(),
                                         ops_->widths_sq().data(), r.data(), m, n_);
        BT::gemm(ctx, Trans::N, Trans::N, m, dh_, n_, C(1), r.data(), n_, 0, v.data() + b * n_ * e_ + h * dh_, e_, 0,
                 C(0), c, e_, 0, 1);
      }
    });
  }

  /// Per row of the batch, the degree of smooth_read.hpp's expansion that all of the row's
  /// densities allow (−1: the exact sum), its number of terms W·K and the moments
  /// Φ V = (Φ B) W_V [W·K, e] (two products of W·K rows instead of V's N).
  struct SmoothRows {
    std::vector<int> degree;
    std::vector<int64_t> terms;
    Tens moments;
    int64_t row_stride = 0;
  };
  /// Empty (every row exact) unless the memory computes in float on the CPU and
  /// MNEMO_SMOOTH_READ is not "0".
  SmoothRows smooth_moments(const CTens& sigma2, const Tens& coefficients, int64_t nb, int64_t lq) const {
    SmoothRows rows;
    if constexpr (std::is_same_v<T, float> && std::is_same_v<B, Cpu>) {
      static const bool enabled = [] {
        const char* env = std::getenv("MNEMO_SMOOTH_READ");
        return !(env && env[0] == '0');
      }();
      const auto& tables = ops_->smooth_read();  // (auto: see banded_gemm on the compiled mode)
      if (!enabled || !tables.usable()) return rows;
      rows.row_stride = tables.most_terms() * e_;
      rows.moments = Tens(Shape{nb, rows.row_stride}, ctx_->arena());
      Tens phi_b(Shape{rows.row_stride}, ctx_->arena());  // Φ B of one row
      const int64_t per_row = h_ * lq;
      for (int64_t b = 0; b < nb; ++b) {
        const float* s2 = sigma2.data() + b * per_row;
        const int d = tables.degree_for(*std::min_element(s2, s2 + per_row));
        const int64_t terms = d < 0 ? 0 : tables.terms(d);
        rows.degree.push_back(d);
        rows.terms.push_back(terms);
        if (d < 0) continue;
        BT::gemm(*ctx_, Trans::N, Trans::N, terms, e_, n_, 1.0f, tables.phi(d), n_, 0, coefficients.data() + b * n_ * e_,
                 e_, 0, 0.0f, phi_b.data(), e_, 0, 1);
        BT::gemm(*ctx_, Trans::N, Trans::N, terms, e_, e_, 1.0f, phi_b.data(), e_, 0, wv_->value.data(), e_, 0, 0.0f,
                 rows.moments.data() + b * rows.row_stride, e_, 0, 1);
      }
    }
    return rows;
  }

  /// The listed rows of dimension 0 (the tensor itself when that is every row, in order).
  Tens gather_rows(const Tens& t, const std::vector<int64_t>& rows) const {
    if (static_cast<int64_t>(rows.size()) == t.shape()[0]) return t;
    Shape s = t.shape();
    s[0] = static_cast<int64_t>(rows.size());
    Tens g(s, ctx_->arena());
    const int64_t per = t.numel() / t.shape()[0];
    for (size_t i = 0; i < rows.size(); ++i)
      BT::copy_device(*ctx_, g.data() + static_cast<int64_t>(i) * per, t.data() + rows[i] * per, static_cast<size_t>(per) * sizeof(T));
    return g;
  }
  /// dst[rows[i]] = src[i]; dst rows not listed are zeroed (unless every row is listed).
  void scatter_rows(const Tens& src, const std::vector<int64_t>& rows, Tens& dst) const {
    const int64_t per = dst.numel() / dst.shape()[0];
    if (static_cast<int64_t>(rows.size()) != dst.shape()[0]) dst.zero();
    for (size_t i = 0; i < rows.size(); ++i)
      BT::copy_device(*ctx_, dst.data() + rows[i] * per, src.data() + static_cast<int64_t>(i) * per, static_cast<size_t>(per) * sizeof(T));
  }
  double scalar_grad(const autograd::GradSlot<T, B>& slot) const {
    if (!slot.has_grad()) return 0.0;
    T g{};
    BT::copy_to_host(*ctx_, &g, slot.grad().data(), sizeof(T));
    return static_cast<double>(g);
  }

  Context<B>* ctx_;
  std::string name_;
  ContinuousMemoryConfig config_;
  int64_t e_, h_, dh_ = 1, n_ = 0;
  std::shared_ptr<const Operators> ops_;
  nn::Parameter<T, B>* gate_w_ = nullptr;
  nn::Parameter<T, B>* gate_b_ = nullptr;
  nn::Parameter<T, B>* wk_ = nullptr;
  nn::Parameter<T, B>* wv_ = nullptr;
  nn::Parameter<T, B>* wo_ = nullptr;
  nn::Parameter<T, B>* wmu_ = nullptr;
  nn::Parameter<T, B>* wsigma_ = nullptr;
};

template <class T, class B>
ContinuousMemory<T, B>::ContinuousMemory(nn::ParameterStore<T, B>& store, const std::string& name, int64_t d_model,
    int64_t heads, const ContinuousMemoryConfig& config, std::shared_ptr<const Operators> operators)
    : ctx_(&store.context()), name_(name), config_(config), e_(d_model), h_(heads) {
  config.validate();
  require<ConfigError>(d_model > 0 && heads > 0, "ContinuousMemory '", name, "': d_model and heads must be positive, got d_model=",
                       d_model, ", heads=", heads);
  require<ConfigError>(d_model % heads == 0, "ContinuousMemory '", name, "': d_model=", d_model,
                       " is not divisible by heads=", heads);
  dh_ = e_ / h_;
  ops_ = operators ? std::move(operators) : std::make_shared<const Operators>(config, store.context());
  require<ConfigError>(ops_->basis_size() == config.basis.count, "ContinuousMemory '", name,
                       "': shared operators have N=", ops_->basis_size(), ", expected basis.count=", config.basis.count);
  n_ = config.basis.count;
  const nn::Init init = nn::Init::normal(config.init_std);
  if (config.gate) {
    gate_w_ = &store.add(nn::join_name(name, "gate.weight"), Shape{3 * e_, e_}, init);
    gate_b_ = &store.add(nn::join_name(name, "gate.bias"), Shape{e_}, nn::Init::zeros());
  }
  wk_ = &store.add(nn::join_name(name, "k_proj.weight"), Shape{e_, e_}, init);
  wv_ = &store.add(nn::join_name(name, "v_proj.weight"), Shape{e_, e_}, init);
  wo_ = &store.add(nn::join_name(name, "o_proj.weight"), Shape{e_, e_}, init);
  wmu_ = &store.add(nn::join_name(name, "w_mu"), Shape{n_}, init);
  wsigma_ = &store.add(nn::join_name(name, "w_sigma"), Shape{n_}, init);
}

template <class T, class B>
auto ContinuousMemory<T, B>::initial_state(int64_t batch, uint64_t seed) const -> State {
  return State::empty(batch, n_, e_, RngKey{seed, 0}.derive(name_), ctx_->arena());
}

template <class T, class B>
auto ContinuousMemory<T, B>::write(const Tens& x, const Tensor<uint8_t, Cpu>* padding, State& state) const -> Var {
  const bool track = config_.gate && autograd::recording_tape() != nullptr;
  auto saved = std::make_shared<WriteSaved>();
  Tens coeffs = write_forward(x, padding, state, track ? saved.get() : nullptr);
  Var out = autograd::make_output(coeffs, track);
  if (track) note_parameter_uses();
  if (track)
    autograd::recording_tape()->record([self = *this, saved, so = out.slot()] { self.write_backward(*saved, so->grad()); },
                                       {out.slot()});
  return out;
}

template <class T, class B>
auto ContinuousMemory<T, B>::write_forward(const Tens& x, const Tensor<uint8_t, Cpu>* padding, State& state,
    WriteSaved* saved) const -> Tens {
  Context<B>& ctx = *ctx_;
  check_state(state, "write");
  check_shape("ContinuousMemory::write: x", x.shape(), {{"batch", state.batch()}, {"length", Dim::any}, {"d_model", e_}});
  const int64_t nb = state.batch(), L = x.shape()[1];
  require<ShapeError>(L >= 1, "ContinuousMemory::write: x has length 0, expected at least one vector");
  if (padding)
    check_shape("ContinuousMemory::write: padding", padding->shape(), {{"batch", nb}, {"length", L}});
  const LengthOperators<T, B>& ops = ops_->for_length(L);

  // Rows: reset by token count (checked before the write), then skip / first fit / contraction.
  std::vector<int64_t> valid(static_cast<size_t>(nb), L);
  std::vector<uint8_t> padded(static_cast<size_t>(nb * L), 0);
  bool any_padding = false;
  if (padding)
    for (int64_t i = 0; i < nb * L; ++i)
      if ((*padding)[i]) {
        padded[static_cast<size_t>(i)] = 1;
        --valid[static_cast<size_t>(i / L)];
        any_padding = true;
      }
  if (config_.reset_every_tokens > 0) {
    std::vector<uint8_t> reset(static_cast<size_t>(nb), 0);
    for (int64_t b = 0; b < nb; ++b)
      reset[static_cast<size_t>(b)] = continuous_write_resets(state.tokens_written[static_cast<size_t>(b)], config_.reset_every_tokens);
    state.reset_rows(reset);
  }
  std::vector<WriteMode> mode(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) {
    const auto k = static_cast<size_t>(b);
    mode[k] = continuous_write_mode(valid[k], state.has_memory[k] != 0);
  }

  // Gate (§4): X̃ = X ⊙ sigmoid(U W + b), U = [X_{t−1} | X_t | X_{t+1}] (zero outside the segment).
  Tens xm = x;
  if (any_padding) {
    xm = Tens(x.shape(), ctx.arena());
    Tens zero_row(Shape{e_}, ctx.arena());
    zero_row.zero();
    BT::select_rows(ctx, padded.data(), zero_row.data(), 0, x.data(), xm.data(), nb * L, e_);
  }
  Tens u, z;
  const Tens xt = gated(xm, saved ? &u : nullptr, &z);

  // Fit / contraction (§5.1, §5.2), one banded product per run of consecutive rows of the same
  // mode (continuous_operators.hpp: blocks of an operator below float resolution are skipped).
  Tens coeffs(Shape{nb, n_, e_}, ctx.arena());
  const Tens& prev = state.coefficients;
  const int64_t row = n_ * e_;
  bool sampled = false;
  auto sampled_row = [&](int64_t b) {
    return config_.sticky && mode[static_cast<size_t>(b)] == WriteMode::Contract && state.has_densities[static_cast<size_t>(b)];
  };
  for (int64_t b = 0; b < nb;) {
    const WriteMode m = mode[static_cast<size_t>(b)];
    T* dst = coeffs.data() + b * row;
    const T* xb = xt.data() + b * L * e_;
    const T* pb = prev.data() + b * row;
    if (m == WriteMode::Skip) {
      BT::copy_device(ctx, dst, pb, static_cast<size_t>(row) * sizeof(T));
      ++b;
      continue;
    }
    if (sampled_row(b)) {  // B = G_newᵀ X̃ + G_oldᵀ Ψ_s B_prev at sticky positions
      BT::gemm(ctx, Trans::T, Trans::N, n_, e_, L, C(1), ops.fit_new.data(), n_, 0, xb, e_, 0, C(0), dst, e_, 0, 1);
      const Tens psi = ops_->basis_at(sticky_positions(state, b));
      const int64_t M = config_.samples;
      Tens past(Shape{M, e_}, ctx.arena());
      BT::gemm(ctx, Trans::N, Trans::N, M, e_, n_, C(1), psi.data(), n_, 0, pb, e_, 0, C(0), past.data(), e_, 0, 1);
      BT::gemm(ctx, Trans::T, Trans::N, n_, e_, M, C(1), ops.fit_old.data(), n_, 0, past.data(), e_, 0, C(1), dst, e_, 0, 1);
      sampled = true;
      ++b;
      continue;
    }
    int64_t end = b + 1;
    while (end < nb && mode[static_cast<size_t>(end)] == m && !sampled_row(end)) ++end;
    const int64_t count = end - b;
    if (m == WriteMode::First) {  // B = G_Lᵀ X̃
      banded_gemm(ops.fit_bands, ops.fit_factors.data(), Trans::T, ops.fit.data(), n_, xb, L * e_, C(0), dst, count);
    } else {  // B = G_newᵀ X̃ + contract·B_prev
      banded_gemm(ops.fit_new_bands, ops.fit_new_factors.data(), Trans::T, ops.fit_new.data(), n_, xb, L * e_, C(0), dst, count);
      banded_gemm(ops.contract_bands, ops.contract_factors.data(), Trans::N, ops.contract.data(), n_, pb, row, C(1), dst, count);
    }
    b = end;
  }
  // The state keeps the new coefficients, detached (§5.2 step 7).
  state.coefficients = coeffs;
  for (int64_t b = 0; b < nb; ++b) {
    const auto k = static_cast<size_t>(b);
    continuous_write_advance(mode[k], valid[k], state.has_memory[k], state.tokens_written[k]);
  }
  if (sampled) ++state.draws;
  if (saved) {
    saved->x = xm;
    saved->u = std::move(u);
    saved->z = std::move(z);
    saved->mode = std::move(mode);
    saved->length = L;
  }
  return coeffs;
}

template <class T, class B>
auto ContinuousMemory<T, B>::write_backward(const WriteSaved& s, const Tens& dcoeffs) const -> void {
  if (!config_.gate) return;
  Context<B>& ctx = *ctx_;
  const int64_t nb = static_cast<int64_t>(s.mode.size()), L = s.length;
  const LengthOperators<T, B>& ops = ops_->for_length(L);
  Tens dxt(Shape{nb, L, e_}, ctx.arena());
  for (int64_t b = 0; b < nb; ++b) {
    T* dst = dxt.data() + b * L * e_;
    const WriteMode m = s.mode[static_cast<size_t>(b)];
    if (m == WriteMode::Skip) {
      BT::fill(ctx, dst, L * e_, T{});
      continue;
    }
    const Tens& g = m == WriteMode::First ? ops.fit : ops.fit_new;
    BT::gemm(ctx, Trans::N, Trans::N, L, e_, n_, C(1), g.data(), n_, 0, dcoeffs.data() + b * n_ * e_, e_, 0, C(0), dst,
             e_, 0, 1);
  }
  Tens dz(Shape{nb, L, e_}, ctx.arena());
  BT::sigmoid_gate_backward(ctx, dz.numel(), s.x.data(), s.z.data(), dxt.data(), dz.data());
  BT::gemm(ctx, Trans::T, Trans::N, 3 * e_, e_, nb * L, C(1), s.u.data(), 3 * e_, 0, dz.data(), e_, 0, C(1),
           gate_w_->grad.data(), e_, 0, 1);
  BT::sum_rows(ctx, dz.data(), gate_b_->grad.data(), nb * L, e_, true);
}

template <class T, class B>
auto ContinuousMemory<T, B>::read(const Var& coefficients, const Var& q_heads, State& state) const -> ReadOutput {
  const bool track = autograd::recording_tape() != nullptr;
  auto saved = track ? std::make_shared<ReadSaved>() : nullptr;
  double kl = 0;
  Tens z = read_forward(coefficients.value(), q_heads.value(), state, saved.get(), &kl);
  Tens klt(Shape{}, ctx_->arena());
  const T klv = static_cast<T>(kl);
  BT::copy_from_host(*ctx_, klt.data(), &klv, sizeof(T));
  ReadOutput out{autograd::make_output(std::move(z), track), autograd::make_output(std::move(klt), track)};
  if (!track) return out;
  note_parameter_uses();
  autograd::recording_tape()->record(
      [self = *this, saved, sb = coefficients.slot(), sq = q_heads.slot(), sz = out.z.slot(), sk = out.kl.slot()] {
        const Tens dz = sz->has_grad() ? sz->grad() : Tens::zeros(Shape{saved->batch, saved->queries, self.e_});
        ReadGrads g = self.read_backward(*saved, dz, self.scalar_grad(*sk), sq != nullptr, sb != nullptr);
        if (sq) sq->accumulate(*self.ctx_, std::move(g.dq_heads));
        if (sb) sb->accumulate(*self.ctx_, std::move(g.dcoefficients));
      },
      {out.z.slot(), out.kl.slot()});
  return out;
}

template <class T, class B>
auto ContinuousMemory<T, B>::read_forward(const Tens& coefficients, const Tens& q_heads, State& state, ReadSaved* saved,
    double* kl_sum) const -> Tens {
  Context<B>& ctx = *ctx_;
  check_state(state, "read");
  const int64_t batch = state.batch();
  check_shape("ContinuousMemory::read: coefficients", coefficients.shape(), {{"batch", batch}, {"basis", n_}, {"d_model", e_}});
  check_shape("ContinuousMemory::read: queries", q_heads.shape(),
              {{"batch", batch}, {"heads", h_}, {"queries", Dim::any}, {"head_dim", dh_}});
  const int64_t lq = q_heads.shape()[2];
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch; ++b)
    if (state.has_memory[static_cast<size_t>(b)]) rows.push_back(b);
  const int64_t nb = static_cast<int64_t>(rows.size()), n = nb * h_ * lq;
  Tens out(Shape{batch, lq, e_}, ctx.arena());
  if (kl_sum) *kl_sum = 0;
  if (saved) {
    *saved = ReadSaved{};
    saved->rows = rows;
    saved->batch = batch;
    saved->queries = lq;
  }
  if (config_.sticky) std::fill(state.has_densities.begin(), state.has_densities.end(), uint8_t{0});
  if (nb == 0 || lq == 0) {
    out.zero();
    return out;
  }
  const Tens bc = gather_rows(coefficients, rows), qc = gather_rows(q_heads, rows);
  // V in head layout.
  const bool blocked = kBlockedRead && saved == nullptr;  // r and the head layouts are not kept
  Tens v(Shape{nb, n_, e_}, ctx.arena()), vh;  // the blocked read forms V where it needs it
  if (!blocked) {
    BT::gemm(ctx, Trans::N, Trans::N, nb * n_, e_, e_, C(1), bc.data(), e_, 0, wv_->value.data(), e_, 0, C(0), v.data(), e_, 0, 1);
    vh = Tens(Shape{nb, h_, n_, dh_}, ctx.arena());
    BT::permute_0213(ctx, v.data(), vh.data(), nb, n_, h_, dh_);
  }
  // Scores (§6): a = q·(w_μᵀ B W_K)_h/√d_h, b likewise with w_σ.
  Tens w2(Shape{n_, 2}, ctx.arena());
  BT::copy_2d(ctx, w2.data(), 2 * sizeof(T), wmu_->value.data(), sizeof(T), sizeof(T), static_cast<size_t>(n_));
  BT::copy_2d(ctx, w2.data() + 1, 2 * sizeof(T), wsigma_->value.data(), sizeof(T), sizeof(T), static_cast<size_t>(n_));
  Tens p(Shape{nb, 2, e_}, ctx.arena()), kw(Shape{nb, 2, e_}, ctx.arena());
  BT::gemm(ctx, Trans::T, Trans::N, 2, e_, n_, C(1), w2.data(), 2, 0, bc.data(), e_, n_ * e_, C(0), p.data(), e_, 2 * e_, nb);
  BT::gemm(ctx, Trans::N, Trans::N, nb * 2, e_, e_, C(1), p.data(), e_, 0, wk_->value.data(), e_, 0, C(0), kw.data(), e_, 0, 1);
  Tens scores(Shape{2, n}, ctx.arena());
  const C inv_sqrt_dh = C(1) / std::sqrt(static_cast<C>(dh_));
  for (int64_t b = 0; b < nb; ++b)  // [a; b] of head h = Kw_h (2×d_h) · q_hᵀ (d_h×Lq)
    BT::gemm(ctx, Trans::N, Trans::T, 2, lq, dh_, inv_sqrt_dh, kw.data() + b * 2 * e_, e_, dh_, qc.data() + b * h_ * lq * dh_,
             dh_, lq * dh_, C(0), scores.data() + b * h_ * lq, n, lq, h_);
  // Densities, expectations, context vectors, output projection.
  CTens mu(Shape{n}, ctx.arena()), sigma2(Shape{n}, ctx.arena()), kl(Shape{n}, ctx.arena());
  const C eps = static_cast<C>(config_.sigma2_floor), s0 = static_cast<C>(config_.sigma0 * config_.sigma0);
  Tens merged(Shape{nb, lq, e_}, ctx.arena());
  if (blocked) {
    BT::density_parameters_forward(ctx, scores.data(), scores.data() + n, mu.data(), sigma2.data(), kl.data(), n, eps, s0);
    if constexpr (kBlockedRead) blocked_context(mu, sigma2, bc, v, merged, nb, lq);
  } else {
    Tens r(Shape{nb, h_, lq, n_}, ctx.arena());
    Tens ch(Shape{nb, h_, lq, dh_}, ctx.arena());
    if constexpr (kFusedRead) {
      BT::continuous_read_forward(ctx, scores.data(), scores.data() + n, ops_->centres().data(), ops_->widths_sq().data(),
                                  vh.data(), mu.data(), sigma2.data(), kl.data(), r.data(), ch.data(),
                                  ContinuousReadDims{n, lq, n_, dh_}, eps, s0);
    } else {
      BT::density_parameters_forward(ctx, scores.data(), scores.data() + n, mu.data(), sigma2.data(), kl.data(), n, eps, s0);
      BT::gaussian_expectation_forward(ctx, mu.data(), sigma2.data(), ops_->centres().data(), ops_->widths_sq().data(),
                                       r.data(), n, n_);
      BT::gemm(ctx, Trans::N, Trans::N, lq, dh_, n_, C(1), r.data(), n_, lq * n_, vh.data(), dh_, n_ * dh_, C(0), ch.data(),
               dh_, lq * dh_, nb * h_);
    }
    BT::permute_0213(ctx, ch.data(), merged.data(), nb, h_, lq, dh_);
    if (saved) saved->r = std::move(r);
  }
  Tens zc(Shape{nb, lq, e_}, ctx.arena());
  BT::gemm(ctx, Trans::N, Trans::N, nb * lq, e_, e_, C(1), merged.data(), e_, 0, wo_->value.data(), e_, 0, C(0), zc.data(), e_, 0, 1);
  scatter_rows(zc, rows, out);
  if (kl_sum) *kl_sum = BT::sum(ctx, kl.data(), n);
  if (config_.sticky) remember_densities(mu, sigma2, rows, lq, state);
  if (saved) {
    saved->coefficients = bc;
    saved->q = qc;
    saved->v_heads = std::move(vh);
    saved->w2 = std::move(w2);
    saved->p = std::move(p);
    saved->kw = std::move(kw);
    saved->scores = std::move(scores);
    saved->mu = std::move(mu);
    saved->sigma2 = std::move(sigma2);
    saved->merged = std::move(merged);
  }
  return out;
}

template <class T, class B>
auto ContinuousMemory<T, B>::read_backward(const ReadSaved& s, const Tens& dz, double kl_grad, bool need_dq,
    bool need_dcoefficients) const -> ReadGrads {
  Context<B>& ctx = *ctx_;
  const int64_t nb = static_cast<int64_t>(s.rows.size()), lq = s.queries, n = nb * h_ * lq;
  ReadGrads out;
  if (need_dq) {
    out.dq_heads = Tens(Shape{s.batch, h_, lq, dh_}, ctx.arena());
    if (nb < s.batch) out.dq_heads.zero();
  }
  if (need_dcoefficients) {
    out.dcoefficients = Tens(Shape{s.batch, n_, e_}, ctx.arena());
    if (nb < s.batch) out.dcoefficients.zero();
  }
  if (nb == 0 || lq == 0) {
    if (need_dq) out.dq_heads.zero();
    if (need_dcoefficients) out.dcoefficients.zero();
    return out;
  }
  const Tens dzc = gather_rows(dz.reshape(Shape{s.batch, lq, e_}), s.rows);
  // Output projection and heads.
  BT::gemm(ctx, Trans::T, Trans::N, e_, e_, nb * lq, C(1), s.merged.data(), e_, 0, dzc.data(), e_, 0, C(1), wo_->grad.data(), e_, 0, 1);
  Tens dmerged(Shape{nb, lq, e_}, ctx.arena());
  BT::gemm(ctx, Trans::N, Trans::T, nb * lq, e_, e_, C(1), dzc.data(), e_, 0, wo_->value.data(), e_, 0, C(0), dmerged.data(), e_, 0, 1);
  Tens dch(Shape{nb, h_, lq, dh_}, ctx.arena());
  BT::permute_0213(ctx, dmerged.data(), dch.data(), nb, lq, h_, dh_);
  // dV_h = rᵀ·dc
  Tens dvh(Shape{nb, h_, n_, dh_}, ctx.arena());
  BT::gemm(ctx, Trans::T, Trans::N, n_, dh_, lq, C(1), s.r.data(), n_, lq * n_, dch.data(), dh_, lq * dh_, C(0), dvh.data(), dh_,
           n_ * dh_, nb * h_);
  // dr = dc·V_hᵀ, then through the expectation and the density maps (KL included).
  Tens dscores(Shape{2, n}, ctx.arena());
  const C eps = static_cast<C>(config_.sigma2_floor), s0 = static_cast<C>(config_.sigma0 * config_.sigma0);
  if constexpr (kFusedRead) {
    BT::continuous_read_backward(ctx, s.scores.data() + n, s.mu.data(), s.sigma2.data(), ops_->centres().data(),
                                 ops_->widths_sq().data(), s.v_heads.data(), dch.data(), dscores.data(), dscores.data() + n,
                                 ContinuousReadDims{n, lq, n_, dh_}, eps, s0, static_cast<C>(kl_grad));
  } else {
    Tens dr(Shape{nb, h_, lq, n_}, ctx.arena());
    BT::gemm(ctx, Trans::N, Trans::T, lq, n_, dh_, C(1), dch.data(), dh_, lq * dh_, s.v_heads.data(), dh_, n_ * dh_, C(0),
             dr.data(), n_, lq * n_, nb * h_);
    CTens dmu(Shape{n}, ctx.arena()), dsigma2(Shape{n}, ctx.arena());
    BT::gaussian_expectation_backward(ctx, s.mu.data(), s.sigma2.data(), ops_->centres().data(), ops_->widths_sq().data(),
                                      dr.data(), dmu.data(), dsigma2.data(), n, n_);
    BT::density_parameters_backward(ctx, s.scores.data() + n, s.mu.data(), s.sigma2.data(), dmu.data(), dsigma2.data(),
                                    dscores.data(), dscores.data() + n, n, eps, s0, static_cast<C>(kl_grad));
  }
  const C inv_sqrt_dh = C(1) / std::sqrt(static_cast<C>(dh_));
  // Scores = Kw_h q_hᵀ/√d_h: dq_h = [da db]ᵀ Kw_h/√d_h ; dKw_h = [da db] q_h/√d_h.
  Tens dqc;
  if (need_dq) dqc = Tens(Shape{nb, h_, lq, dh_}, ctx.arena());
  Tens dkw(Shape{nb, 2, e_}, ctx.arena());
  for (int64_t b = 0; b < nb; ++b) {
    const T* ds = dscores.data() + b * h_ * lq;
    if (need_dq)
      BT::gemm(ctx, Trans::T, Trans::N, lq, dh_, 2, inv_sqrt_dh, ds, n, lq, s.kw.data() + b * 2 * e_, e_, dh_, C(0),
               dqc.data() + b * h_ * lq * dh_, dh_, lq * dh_, h_);
    BT::gemm(ctx, Trans::N, Trans::N, 2, dh_, lq, inv_sqrt_dh, ds, n, lq, s.q.data() + b * h_ * lq * dh_, dh_, lq * dh_, C(0),
             dkw.data() + b * 2 * e_, e_, dh_, h_);
  }
  // Kw = P W_K ; P = W2ᵀ B.
  BT::gemm(ctx, Trans::T, Trans::N, e_, e_, nb * 2, C(1), s.p.data(), e_, 0, dkw.data(), e_, 0, C(1), wk_->grad.data(), e_, 0, 1);
  Tens dp(Shape{nb, 2, e_}, ctx.arena());
  BT::gemm(ctx, Trans::N, Trans::T, nb * 2, e_, e_, C(1), dkw.data(), e_, 0, wk_->value.data(), e_, 0, C(0), dp.data(), e_, 0, 1);
  Tens dw2(Shape{n_, 2}, ctx.arena());
  for (int64_t b = 0; b < nb; ++b)
    BT::gemm(ctx, Trans::N, Trans::T, n_, 2, e_, C(1), s.coefficients.data() + b * n_ * e_, e_, 0, dp.data() + b * 2 * e_, e_, 0,
             b == 0 ? C(0) : C(1), dw2.data(), 2, 0, 1);
  Tens column(Shape{n_}, ctx.arena());
  for (int i = 0; i < 2; ++i) {
    BT::copy_2d(ctx, column.data(), sizeof(T), dw2.data() + i, 2 * sizeof(T), sizeof(T), static_cast<size_t>(n_));
    BT::template axpby<T>(ctx, n_, C(1), column.data(), C(1), (i == 0 ? wmu_ : wsigma_)->grad.data());
  }
  // V = B W_V.
  Tens dv(Shape{nb, n_, e_}, ctx.arena());
  BT::permute_0213(ctx, dvh.data(), dv.data(), nb, h_, n_, dh_);
  BT::gemm(ctx, Trans::T, Trans::N, e_, e_, nb * n_, C(1), s.coefficients.data(), e_, 0, dv.data(), e_, 0, C(1), wv_->grad.data(),
           e_, 0, 1);
  if (need_dcoefficients) {
    Tens dbc(Shape{nb, n_, e_}, ctx.arena());
    BT::gemm(ctx, Trans::N, Trans::T, nb * n_, e_, e_, C(1), dv.data(), e_, 0, wv_->value.data(), e_, 0, C(0), dbc.data(), e_, 0, 1);
    BT::gemm(ctx, Trans::N, Trans::N, n_, e_, 2, C(1), s.w2.data(), 2, 0, dp.data(), e_, 2 * e_, C(1), dbc.data(), e_, n_ * e_, nb);
    scatter_rows(dbc, s.rows, out.dcoefficients);
  }
  if (need_dq) scatter_rows(dqc, s.rows, out.dq_heads);
  return out;
}

}  // namespace mnemo::memory

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::memory {
extern template class ContinuousMemory<float, Cpu>;
extern template class ContinuousMemory<double, Cpu>;
}  // namespace mnemo::memory
#endif  // MNEMO_COMPILED
