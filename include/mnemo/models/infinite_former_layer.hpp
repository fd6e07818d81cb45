// mnemo/models/infinite_former_layer.hpp — one pre-LN decoder block of the ∞-former
// (infinite_former.md §9):
//   a = MHA_causal(LN₁(h) over [short-term cache ; current segment])      → Z_short
//   z = Z_ltm(the queries of that MHA, this layer's long-term memory)      → 0 while EMPTY
//   h = h + Drop(Z_short + z);   h = h + Drop(FFN(LN₂(h)))
// Before the read, the segment leaving the short-term window (if any) is written into the
// long-term memory; that write's coefficients are the ones read, so the gate learns in this step.
// The attention and the memory read share the host's query projection and form ONE tape node:
// its backward runs the memory read backward first and hands dL/dq to the MHA backward
// (extra_dq_heads), so W_Q learns from both paths.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/autograd/ops/activation.hpp"
#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/layout.hpp"
#include "mnemo/memory/continuous_memory.hpp"
#include "mnemo/models/infinite_former_config.hpp"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/layer_norm.hpp"

namespace mnemo::models {

template <class T, class B>
class InfiniteFormerLayer {
  using BT = BackendTraits<B>;

 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;
  using Memory = memory::ContinuousMemory<T, B>;
  using MemoryState = memory::ContinuousState<T, B>;

  /// What a step gives the layer besides its input.
  struct StepInputs {
    std::vector<Tens> cache;                  // this layer's cached inputs, oldest first ([batch, L_s, e])
    nn::AttentionMask<B> mask;                // causal, query_offset = cache length, key padding, ALiBi
    const Tens* write = nullptr;              // inputs of the segment leaving the short-term window
    const Tensor<uint8_t, Cpu>* write_padding = nullptr;
    float dropout = 0.0f;
    RngKey key;                               // this layer's dropout stream for the step
  };
  struct Output {
    Var h;   // [batch, Lq, e]
    Var kl;  // Σ KL of this layer's read (one element; 0 without a read)
  };

  InfiniteFormerLayer(nn::ParameterStore<T, B>& store, const std::string& name, const InfiniteFormerConfig& config,
                      std::shared_ptr<const typename Memory::Operators> operators);

  const Memory* memory() const { return ltm_.get(); }
  const nn::MultiHeadAttention<T, B>& attention() const { return attn_; }
  const nn::LayerNorm<T, B>& norm_1() const { return ln1_; }  // before the attention
  const nn::LayerNorm<T, B>& norm_2() const { return ln2_; }  // before the FFN
  const nn::FeedForward<T, B>& ffn() const { return ffn_; }

  /// One step of the block; `state` is this layer's long-term memory (nullptr without one).
  Output operator()(const Var& h, const StepInputs& in, MemoryState* state) const;

  /// Z_short + Z_ltm as one tape node (see the file comment).
  std::pair<Var, Var> attend(const Var& xq, const Var& xkv, const nn::AttentionMask<B>& mask, const Var& coefficients,
                             MemoryState* state) const;

 private:
  Context<B>* ctx_;
  nn::LayerNorm<T, B> ln1_;
  nn::MultiHeadAttention<T, B> attn_;
  nn::LayerNorm<T, B> ln2_;
  nn::FeedForward<T, B> ffn_;
  std::shared_ptr<Memory> ltm_;
};

template <class T, class B>
InfiniteFormerLayer<T, B>::InfiniteFormerLayer(nn::ParameterStore<T, B>& store, const std::string& name,
    const InfiniteFormerConfig& config, std::shared_ptr<const typename Memory::Operators> operators)
    : ctx_(&store.context()),
      ln1_(store, nn::join_name(name, "ln_1"), config.d_model),
      attn_(store, nn::join_name(name, "attn"), config.d_model, config.heads, true, config.init_std),
      ln2_(store, nn::join_name(name, "ln_2"), config.d_model),
      ffn_(store, nn::join_name(name, "ffn"), config.d_model, config.d_ff, Activation::Gelu, config.init_std) {
  if (config.use_ltm) {
    memory::ContinuousMemoryConfig mc = config.memory_config();
    mc.init_std = config.init_std;
    ltm_ = std::make_shared<Memory>(store, nn::join_name(name, "ltm"), config.d_model, config.heads, mc, std::move(operators));
  }
}

template <class T, class B>
auto InfiniteFormerLayer<T, B>::operator()(const Var& h, const StepInputs& in, MemoryState* state) const -> Output {
  Context<B>& ctx = *ctx_;
  Var coefficients;
  if (ltm_) coefficients = in.write ? ltm_->write(*in.write, in.write_padding, *state) : Var(state->coefficients);
  const Var xq = ln1_(h);
  Var xkv = xq;
  if (!in.cache.empty()) {
    Var cached(in.cache.front());
    for (size_t i = 1; i < in.cache.size(); ++i) cached = autograd::concat1(ctx, cached, Var(in.cache[i]));
    xkv = autograd::concat1(ctx, ln1_(cached), xq);
  }
  auto [z, kl] = attend(xq, xkv, in.mask, coefficients, state);
  Var x = autograd::add(ctx, h, autograd::dropout(ctx, z, in.dropout, in.key.derive("attn")));
  Var f = ffn_(ln2_(x));
  return {autograd::add(ctx, x, autograd::dropout(ctx, f, in.dropout, in.key.derive("ffn"))), kl};
}

template <class T, class B>
auto InfiniteFormerLayer<T, B>::attend(const Var& xq, const Var& xkv, const nn::AttentionMask<B>& mask,
    const Var& coefficients, MemoryState* state) const -> std::pair<Var, Var> {
  Context<B>& ctx = *ctx_;
  const bool track = autograd::recording_tape() != nullptr;
  auto mha_saved = std::make_shared<typename nn::MultiHeadAttention<T, B>::Saved>();
  Tens z = attn_.forward(xq.value(), xkv.value(), mask, mha_saved.get());
  std::shared_ptr<typename Memory::ReadSaved> read_saved;
  double kl = 0;
  if (ltm_ && state->any_memory()) {
    read_saved = std::make_shared<typename Memory::ReadSaved>();
    const Tens zl = ltm_->read_forward(coefficients.value(), mha_saved->q, *state, track ? read_saved.get() : nullptr, &kl);
    BT::add(ctx, z.numel(), z.data(), zl.data(), z.data());
  } else if (ltm_) {  // no row holds a memory: nothing read, so no densities for the next write
    std::fill(state->has_densities.begin(), state->has_densities.end(), uint8_t{0});
  }
  Tens klt(Shape{}, ctx.arena());
  const T klv = static_cast<T>(kl);
  BT::copy_from_host(ctx, klt.data(), &klv, sizeof(T));
  Var out = autograd::make_output(std::move(z), track);
  Var kl_out = autograd::make_output(std::move(klt), track && read_saved != nullptr);
  if (!track) return {out, kl_out};
  std::vector<std::shared_ptr<autograd::GradSlotBase>> outputs{out.slot()};
  if (kl_out.requires_grad()) outputs.push_back(kl_out.slot());
  attn_.note_parameter_uses();  // the node below runs the fused backward of both
  if (ltm_) ltm_->note_parameter_uses();
  autograd::recording_tape()->record(
      [self = *this, mha_saved, read_saved, sq = xq.slot(), skv = xkv.slot(), sb = coefficients.slot(), so = out.slot(),
       sk = kl_out.slot()] {
        Context<B>& c = *self.ctx_;
        const Tens dz = so->has_grad() ? so->grad() : Tens::zeros(Shape{mha_saved->batch, mha_saved->lq, self.attn_.d_model()});
        typename Memory::ReadGrads g;
        if (read_saved) {
          double kl_grad = 0;
          if (sk && sk->has_grad()) {
            T v{};
            BT::copy_to_host(c, &v, sk->grad().data(), sizeof(T));
            kl_grad = static_cast<double>(v);
          }
          g = self.ltm_->read_backward(*read_saved, dz, kl_grad, true, sb != nullptr);
          if (sb) sb->accumulate(c, std::move(g.dcoefficients));
        }
        auto dx = self.attn_.backward(*mha_saved, dz, sq != nullptr, skv != nullptr, read_saved ? &g.dq_heads : nullptr,
                                      sq && sq == skv);
        if (sq) sq->accumulate(c, std::move(dx.dxq));
        if (skv && dx.dxkv.defined()) skv->accumulate(c, std::move(dx.dxkv));
      },
      std::move(outputs));
  return {out, kl_out};
}

}  // namespace mnemo::models

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::models {
extern template class InfiniteFormerLayer<float, Cpu>;
extern template class InfiniteFormerLayer<double, Cpu>;
}  // namespace mnemo::models
#endif  // MNEMO_COMPILED
