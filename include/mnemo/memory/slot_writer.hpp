// mnemo/memory/slot_writer.hpp — Memformer's memory writer with forgetting: slot attention
// (memformer.md §2.4) followed by biased memory normalisation (BMN, §2.5), as one fused block.
//
//   q_i = γ·m_i·W_Q,  k_i = γ·m_i·W_K,  K_x = H·W_K,  V_x = H·W_V          (no biases)
//   p_i = softmax( [q_i·k_i, q_i·K_x[1..L]] / (τ·√d_h) )  per head, padded tokens masked
//   m'_i = p_{i,0}·m_i + Σ_l p_{i,l}·V_x[l]                                 (raw self-value)
//   m_next,i = normalize(m'_i + v_i)
// The attention core is the backend primitive pair memformer_writer_forward/backward; the
// projections are GEMMs and BMN uses the L2-normalisation primitives. Backward per §3.
// Parameters: "<name>.{q,k,v}_proj.weight" [d, d]; v ("memory.v_bias") is owned by SlotMemory.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::memory {

struct SlotWriterOptions {
  int64_t d_model = 512;
  int64_t heads = 8;
  int64_t slots = 64;
  double temperature = 0.5;  // τ
  double slot_scale = 1.0;   // γ: multiplies the slots where they enter W_Q, W_K
  double init_std = 0.02;
  double eps = 1e-12;        // BMN: u / max(||u||, eps)
};

template <class T, class B>
class SlotWriter {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;
  using A = accumulate_t<T>;

 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;
  using Mask = Tensor<uint8_t, B>;

  /// What backward() consumes; filled by forward().
  struct Saved {
    Tens memory, hidden;             // inputs [batch, K, d], [batch, L, d]
    Tens q, k_self, k_tok, v_tok;    // projections
    Tens probs;                      // [batch, heads, K, 1+L]
    Tens m_prime;                    // writer output before BMN [batch, K, d]
    Tens next;                       // BMN output [batch, K, d]
    Tensor<A, B> norms;              // ||m' + v|| per slot [batch·K]
    MemformerWriterDims dims;
  };
  struct InputGrads {
    Tens dmemory, dhidden;  // undefined when not requested
  };

  SlotWriter(nn::ParameterStore<T, B>& store, const std::string& name, nn::Parameter<T, B>& v_bias,
             const SlotWriterOptions& opt);

  const SlotWriterOptions& options() const { return opt_; }
  nn::Parameter<T, B>& weight(int i) const { return *w_[i]; }  // 0, 1, 2 = q, k, v
  /// Parameter::note_use for dW_Q, dW_K, dW_V and dv (before recording a node that runs backward()).
  void note_parameter_uses() const {
    v_->note_use();
    for (auto* w : w_) w->note_use();
  }
  /// Softmax logit scale 1/(τ·√d_h).
  C logit_scale() const {
    return static_cast<C>(1.0 / (opt_.temperature * std::sqrt(static_cast<double>(opt_.d_model / opt_.heads))));
  }

  /// memory [batch, K, d], hidden [batch, L, d], padding [batch, L] (nullable) → next memory.
  Var operator()(const Var& memory, const Var& hidden, const Mask* padding = nullptr) const;

  /// Tensor-level forward; fills `saved` when given.
  Tens forward(const Tens& memory, const Tens& hidden, const Mask* padding, Saved* saved) const;

  /// Tensor-level backward from d(next memory): accumulates dW_Q, dW_K, dW_V and dv; returns the
  /// memory and hidden gradients when asked (§3).
  InputGrads backward(const Saved& s, const Tens& dnext, bool need_dmemory, bool need_dhidden) const;

 private:
  void check_inputs(const Tens& memory, const Tens& hidden, const Mask* padding) const {
    check_shape("SlotWriter: memory", memory.shape(),
                {{"batch", Dim::any}, {"slots", opt_.slots}, {"d_model", opt_.d_model}});
    check_shape("SlotWriter: hidden", hidden.shape(),
                {{"batch", memory.size(0)}, {"tokens", Dim::any}, {"d_model", opt_.d_model}});
    if (padding)
      check_shape("SlotWriter: padding", padding->shape(), {{"batch", memory.size(0)}, {"tokens", hidden.size(1)}});
  }

  /// alpha·x·W_i over the last dimension.
  Tens project(const Tens& x, int i, C alpha) const {
    const int64_t rows = x.shape().rows(), d = opt_.d_model;
    Tens y(x.shape(), ctx_->arena());
    BT::gemm(*ctx_, Trans::N, Trans::N, rows, d, d, alpha, x.data(), d, 0, w_[i]->value.data(), d, 0, C(0),
             y.data(), d, 0, 1);
    return y;
  }

  Context<B>* ctx_;
  SlotWriterOptions opt_;
  nn::Parameter<T, B>* v_;
  nn::Parameter<T, B>* w_[3] = {};
};

template <class T, class B>
SlotWriter<T, B>::SlotWriter(nn::ParameterStore<T, B>& store, const std::string& name, nn::Parameter<T, B>& v_bias,
    const SlotWriterOptions& opt)
    : ctx_(&store.context()), opt_(opt), v_(&v_bias) {
  require<ConfigError>(opt.d_model > 0 && opt.heads > 0 && opt.d_model % opt.heads == 0, "SlotWriter '", name,
                       "': d_model=", opt.d_model, " must be a positive multiple of heads=", opt.heads);
  require<ConfigError>(opt.temperature > 0, "SlotWriter '", name, "': temperature = ", opt.temperature,
                       ", expected > 0");
  check_shape("SlotWriter: v_bias", v_bias.shape(), {{"slots", opt.slots}, {"d_model", opt.d_model}});
  const char* proj[3] = {"q_proj", "k_proj", "v_proj"};
  for (int i = 0; i < 3; ++i)
    w_[i] = &store.add(nn::join_name(name, proj[i]) + ".weight", Shape{opt.d_model, opt.d_model},
                       nn::Init::normal(opt.init_std));
}

template <class T, class B>
auto SlotWriter<T, B>::operator()(const Var& memory, const Var& hidden, const Mask* padding) const -> Var {
  const bool track = autograd::recording_tape() != nullptr;
  Saved saved;
  Tens next = forward(memory.value(), hidden.value(), padding, track ? &saved : nullptr);
  Var out = autograd::make_output(std::move(next), track);
  if (!track) return out;
  note_parameter_uses();
  autograd::recording_tape()->record(
      [self = *this, saved = std::move(saved), sm = memory.slot(), sh = hidden.slot(), so = out.slot()] {
        InputGrads g = self.backward(saved, so->grad(), sm != nullptr, sh != nullptr);
        if (sm) sm->accumulate(*self.ctx_, std::move(g.dmemory));
        if (sh) sh->accumulate(*self.ctx_, std::move(g.dhidden));
      },
      {out.slot()});
  return out;
}

template <class T, class B>
auto SlotWriter<T, B>::forward(const Tens& memory, const Tens& hidden, const Mask* padding,
    Saved* saved) const -> Tens {
  check_inputs(memory, hidden, padding);
  Context<B>& ctx = *ctx_;
  MemformerWriterDims dims;
  dims.batch = memory.size(0);
  dims.slots = opt_.slots;
  dims.tokens = hidden.size(1);
  dims.heads = opt_.heads;
  dims.head_dim = opt_.d_model / opt_.heads;
  const C gamma = static_cast<C>(opt_.slot_scale);
  Tens q = project(memory, 0, gamma), k_self = project(memory, 1, gamma);
  Tens k_tok = project(hidden, 1, C(1)), v_tok = project(hidden, 2, C(1));
  Tens probs(Shape{dims.batch, dims.heads, dims.slots, dims.prob_cols()}, ctx.arena());
  Tens m_prime(memory.shape(), ctx.arena());
  BT::memformer_writer_forward(ctx, q.data(), k_self.data(), k_tok.data(), v_tok.data(), memory.data(),
                               padding ? padding->data() : nullptr, probs.data(), m_prime.data(), dims,
                               logit_scale());
  // BMN: u = m' + v (v broadcast over rows), next = u / max(||u||, eps)   (§2.5)
  const int64_t slot_rows = dims.batch * dims.slots, d = opt_.d_model;
  Tens next(memory.shape(), ctx.arena());
  BT::add_row_broadcast(ctx, m_prime.data(), v_->value.data(), next.data(), dims.batch, dims.slots * d);
  Tensor<A, B> norms;
  if (saved) norms = Tensor<A, B>(Shape{slot_rows}, ctx.arena());
  BT::l2_normalize_forward(ctx, next.data(), next.data(), norms.data(), slot_rows, d, static_cast<A>(opt_.eps));
  if (saved) {
    saved->memory = memory;
    saved->hidden = hidden;
    saved->q = std::move(q);
    saved->k_self = std::move(k_self);
    saved->k_tok = std::move(k_tok);
    saved->v_tok = std::move(v_tok);
    saved->probs = std::move(probs);
    saved->m_prime = std::move(m_prime);
    saved->next = next;
    saved->norms = std::move(norms);
    saved->dims = dims;
  }
  return next;
}

template <class T, class B>
auto SlotWriter<T, B>::backward(const Saved& s, const Tens& dnext, bool need_dmemory,
    bool need_dhidden) const -> InputGrads {
  Context<B>& ctx = *ctx_;
  const MemformerWriterDims& dims = s.dims;
  const int64_t d = opt_.d_model, slot_rows = dims.batch * dims.slots, tok_rows = dims.batch * dims.tokens;
  const C gamma = static_cast<C>(opt_.slot_scale);
  // BMN: du = (g − y·<y, g>)/||u||;  dm' = du;  dv += Σ_rows du.
  Tens du(s.next.shape(), ctx.arena());
  BT::l2_normalize_backward(ctx, s.next.data(), s.norms.data(), dnext.data(), du.data(), slot_rows, d,
                            static_cast<A>(opt_.eps));
  BT::sum_rows(ctx, du.data(), v_->grad.data(), dims.batch, dims.slots * d, true);
  // Attention core.
  Tens dq(s.q.shape(), ctx.arena()), dk_self(s.q.shape(), ctx.arena()), dm(s.q.shape(), ctx.arena());
  Tens dk_tok(s.k_tok.shape(), ctx.arena()), dv_tok(s.k_tok.shape(), ctx.arena());
  BT::memformer_writer_backward(ctx, s.q.data(), s.k_self.data(), s.k_tok.data(), s.v_tok.data(),
                                s.memory.data(), s.probs.data(), du.data(), dq.data(), dk_self.data(),
                                dk_tok.data(), dv_tok.data(), dm.data(), dims, logit_scale());
  // Projection weights: dW_Q = γ Mᵀ dq;  dW_K = γ Mᵀ dk_self + Hᵀ dK_x;  dW_V = Hᵀ dV_x.
  auto weight_grad = [&](int i, const Tens& x, const Tens& dy, int64_t rows, C alpha) {
    BT::gemm(ctx, Trans::T, Trans::N, d, d, rows, alpha, x.data(), d, 0, dy.data(), d, 0, C(1),
             w_[i]->grad.data(), d, 0, 1);
  };
  weight_grad(0, s.memory, dq, slot_rows, gamma);
  weight_grad(1, s.memory, dk_self, slot_rows, gamma);
  weight_grad(1, s.hidden, dk_tok, tok_rows, C(1));
  weight_grad(2, s.hidden, dv_tok, tok_rows, C(1));
  // Input gradients: dM = dm_direct + γ(dq W_Qᵀ + dk_self W_Kᵀ);  dH = dK_x W_Kᵀ + dV_x W_Vᵀ.
  auto input_grad = [&](Tens& acc, const Tens& dy, int i, int64_t rows, C alpha) {
    BT::gemm(ctx, Trans::N, Trans::T, rows, d, d, alpha, dy.data(), d, 0, w_[i]->value.data(), d, 0, C(1),
             acc.data(), d, 0, 1);
  };
  InputGrads out;
  if (need_dmemory) {
    input_grad(dm, dq, 0, slot_rows, gamma);
    input_grad(dm, dk_self, 1, slot_rows, gamma);
    out.dmemory = std::move(dm);
  }
  if (need_dhidden) {
    Tens dh(s.hidden.shape(), ctx.arena());
    dh.zero();
    input_grad(dh, dk_tok, 1, tok_rows, C(1));
    input_grad(dh, dv_tok, 2, tok_rows, C(1));
    out.dhidden = std::move(dh);
  }
  return out;
}

}  // namespace mnemo::memory

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::memory {
extern template class SlotWriter<float, Cpu>;
extern template class SlotWriter<double, Cpu>;
}  // namespace mnemo::memory
#endif  // MNEMO_COMPILED
