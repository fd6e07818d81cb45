// examples/memory_token_cell.hpp — a user-defined recurrent cell built only from mnemo's public
// layers, trainable with train::Mrbp: a decoder-only transformer that carries K memory tokens
// from segment to segment, after the Recurrent Memory Transformer (Bulatov et al., 2022).
//
//   sequence of step t:  [ M_t + p_read (K) ;  E(s_t) + P (L) ;  M_t + p_write (K) ]
//   N pre-LN layers of causal self-attention + FFN over the whole sequence
//   logits_n = head(LN(h_{K+n}))            predicts the target segment's token n
//   M_{t+1}   = LN_mem(h of the K write tokens after the last layer)
//
// The read tokens come first, so every segment token attends to the memory; the write tokens
// come last, so they attend to the memory and to the whole segment: the last layer's write
// tokens are the next memory. The causal attention over the joined sequence is computed as two
// query blocks over the same keys (read + segment tokens with query offset 0, write tokens with
// offset K+L), which is the same attention without slicing the sequence.
//
// Why it is a train::RecurrentCell: M_{t+1} depends on (M_t, s_t, k_t) only; every dropout draw
// comes from the step key through a fixed site number; the loss head (head + cross-entropy) reads
// the hidden states but nothing on the memory path reads the loss head, so CellPart::CriticalPath
// skips it and the memory is the same bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/mnemo.hpp"

namespace examples {

struct MemoryTokenConfig {
  int64_t vocab = 67;
  int64_t d_model = 64;
  int64_t heads = 4;
  int64_t d_ff = 128;
  int64_t memory_tokens = 8;   // K
  int64_t layers = 2;
  int64_t segment_length = 8;  // L
  double dropout = 0.0;        // on the embeddings and on every residual branch
  double init_std = 0.02;
};

template <class T>
class MemoryTokenLM {
  using B = mnemo::Cpu;

 public:
  using value_type = T;
  using backend = B;
  using State = mnemo::train::CellState<T, B, 1>;  // M_t [batch, K, d]
  using Var = mnemo::autograd::Var<T, B>;
  using Segment = mnemo::train::Segment;

  /// Step t reads `input` and predicts `target` (the next segment), position by position.
  struct Input {
    const Segment* input = nullptr;
    const Segment* target = nullptr;
  };

  /// What one forward pass computes.
  struct Forward {
    Var next;    // M_{t+1} [batch, K, d]
    Var hidden;  // LN(h) of the read and segment tokens [batch, K+L, d]
  };

  explicit MemoryTokenLM(const MemoryTokenConfig& c, uint64_t seed = 0)
      : c_(c),
        store_(seed),
        embed_(store_, "embed", c.vocab, c.d_model, c.init_std),
        positions_(store_, "positions", c.segment_length, c.d_model, c.init_std),
        read_pos_(store_.add("memory.read", mnemo::Shape{c.memory_tokens * c.d_model}, mnemo::nn::Init::normal(c.init_std))),
        write_pos_(store_.add("memory.write", mnemo::Shape{c.memory_tokens * c.d_model}, mnemo::nn::Init::normal(c.init_std))),
        final_norm_(store_, "norm", c.d_model),
        memory_norm_(store_, "memory.norm", c.d_model),
        head_(store_, "head", c.d_model, c.vocab, mnemo::nn::LinearOptions{true, c.init_std}) {
    mnemo::require<mnemo::ConfigError>(c.memory_tokens > 0 && c.segment_length > 0 && c.layers > 0,
                                       "MemoryTokenLM: memory_tokens, segment_length and layers must be positive, got ",
                                       c.memory_tokens, ", ", c.segment_length, ", ", c.layers);
    for (int64_t l = 0; l < c.layers; ++l) layers_.emplace_back(store_, mnemo::detail::cat("layers.", l), c);
  }

  const MemoryTokenConfig& config() const { return c_; }
  mnemo::nn::ParameterStore<T, B>& parameters() { return store_; }

  /// The memory of `batch` fresh streams: zeros (the read and write embeddings tell the tokens apart).
  State initial_state(int64_t batch) const {
    return State{mnemo::Tensor<T, B>::zeros({batch, c_.memory_tokens, c_.d_model})};
  }

  /// One segment from memory `memory`; `key` null: no dropout (inference).
  Forward forward(const Var& memory, const Segment& input, const mnemo::RngKey* key) const {
    using namespace mnemo;
    auto& ctx = store_.context();
    const int64_t K = c_.memory_tokens, L = c_.segment_length, d = c_.d_model;
    check_shape("MemoryTokenLM: input tokens", input.tokens.shape(), {{"batch", Dim::any}, {"segment_length", L}});
    const int64_t batch = input.batch();
    check_shape("MemoryTokenLM: memory", memory.shape(), {{"batch", batch}, {"memory_tokens", K}, {"d_model", d}});
    // Token embeddings + learned positions.
    Tensor<int32_t, B> pos_ids(Shape{batch, L});
    for (int64_t i = 0; i < batch * L; ++i) pos_ids[i] = static_cast<int32_t>(i % L);
    Var x = dropped(autograd::add(ctx, embed_(input.tokens), positions_(pos_ids)), key, 0);
    // Read tokens + segment tokens form one causal stream u; the write tokens form w.
    Var u = autograd::concat1(ctx, with_embedding(memory, read_pos_), x);
    Var w = with_embedding(memory, write_pos_);
    // Key padding over [read; segment; write]: only the segment's padded tokens.
    Tensor<uint8_t, B> pad = Tensor<uint8_t, B>::zeros({batch, 2 * K + L});
    if (input.has_padding())
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t n = 0; n < L; ++n) pad[b * (2 * K + L) + K + n] = input.padding[b * L + n];
    nn::AttentionMask<B> stream_mask, write_mask;
    stream_mask.causal = write_mask.causal = true;
    write_mask.query_offset = K + L;
    stream_mask.key_padding = write_mask.key_padding = &pad;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& layer = layers_[l];
      const uint64_t site = 1 + 4 * l;
      const Var au = layer.attn_norm(u), aw = layer.attn_norm(w);
      const Var keys = autograd::concat1(ctx, au, aw);
      u = autograd::add(ctx, u, dropped(layer.attn(au, keys, stream_mask), key, site));
      w = autograd::add(ctx, w, dropped(layer.attn(aw, keys, write_mask), key, site + 1));
      u = autograd::add(ctx, u, dropped(layer.ffn(layer.ffn_norm(u)), key, site + 2));
      w = autograd::add(ctx, w, dropped(layer.ffn(layer.ffn_norm(w)), key, site + 3));
    }
    return Forward{memory_norm_(w), final_norm_(u)};
  }

  /// Logits [batch, K+L, vocab] of the hidden states (rows 0..K−1 belong to the read tokens).
  Var logits(const Var& hidden) const { return head_(hidden); }

  /// Mean cross-entropy of the segment rows of `logits` against `target` (padding ignored);
  /// `counted` receives how many tokens carried loss.
  Var loss(const Var& logits, const Segment& target, int64_t* counted) const {
    using namespace mnemo;
    const int64_t K = c_.memory_tokens, L = c_.segment_length, batch = target.batch();
    check_shape("MemoryTokenLM: target tokens", target.tokens.shape(), {{"batch", batch}, {"segment_length", L}});
    autograd::CrossEntropyOptions opt;
    Tensor<int32_t, B> ids(Shape{batch, K + L});
    int64_t n = 0;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < K + L; ++i) {
        const bool counts = i >= K && !(target.has_padding() && target.padding[b * L + i - K]);
        ids[b * (K + L) + i] = counts ? target.tokens[b * L + i - K] : opt.ignore_index;
        n += counts ? 1 : 0;
      }
    *counted = n;
    const Tensor<float, B>* no_weights = nullptr;
    return autograd::cross_entropy(store_.context(), logits, ids, no_weights, opt);
  }

  // ---- train::RecurrentCell ----------------------------------------------------------------
  mnemo::train::CellStep<T, B, 1> step(const mnemo::train::CellVars<T, B, 1>& state, const Input& x,
                                       const mnemo::RngKey& key, mnemo::train::CellPart part) const {
    mnemo::train::CellStep<T, B, 1> out;
    const mnemo::RngKey* k = c_.dropout > 0 ? &key : nullptr;
    Forward f = forward(state[0], *x.input, k);
    out.next[0] = f.next;
    out.output = f.hidden;
    if (part == mnemo::train::CellPart::WithLoss)
      out.losses.push_back({loss(logits(f.hidden), *x.target, &out.tokens), 1.0});
    return out;
  }
  std::vector<mnemo::nn::ParameterStore<T, B>*> parameter_stores() { return {&store_}; }

 private:
  struct Layer {
    mnemo::nn::LayerNorm<T, B> attn_norm, ffn_norm;
    mnemo::nn::MultiHeadAttention<T, B> attn;
    mnemo::nn::FeedForward<T, B> ffn;
    Layer(mnemo::nn::ParameterStore<T, B>& store, const std::string& name, const MemoryTokenConfig& c)
        : attn_norm(store, name + ".attn_norm", c.d_model),
          ffn_norm(store, name + ".ffn_norm", c.d_model),
          attn(store, name + ".attn", c.d_model, c.heads, true, c.init_std),
          ffn(store, name + ".ffn", c.d_model, c.d_ff, mnemo::Activation::Gelu, c.init_std) {}
  };

  /// memory [batch, K, d] + a learned embedding [K·d] of each memory token.
  Var with_embedding(const Var& memory, const mnemo::nn::Parameter<T, B>& embedding) const {
    using namespace mnemo;
    const int64_t batch = memory.shape()[0], K = c_.memory_tokens, d = c_.d_model;
    const Var flat = autograd::reshape(memory, Shape{batch, K * d});
    return autograd::reshape(autograd::add_bias(store_.context(), flat, embedding.var()), Shape{batch, K, d});
  }

  Var dropped(const Var& x, const mnemo::RngKey* key, uint64_t site) const {
    if (!key) return x;
    return mnemo::autograd::dropout(store_.context(), x, static_cast<float>(c_.dropout), key->derive(site));
  }

  MemoryTokenConfig c_;
  mnemo::nn::ParameterStore<T, B> store_;
  mnemo::nn::Embedding<T, B> embed_, positions_;
  mnemo::nn::Parameter<T, B>& read_pos_;
  mnemo::nn::Parameter<T, B>& write_pos_;
  mnemo::nn::LayerNorm<T, B> final_norm_, memory_norm_;
  mnemo::nn::Linear<T, B> head_;
  std::vector<Layer> layers_;
};

}  // namespace examples
