// mnemo/models/memformer.hpp — the Memformer (memformer.md §2): an encoder that reads each
// segment together with K memory slots, a writer that updates the slots after the last encoder
// layer, and a decoder that predicts the next segment from the encoder output.
//
//   Step(s_t, s_{t+1}, M_t):  M_eff = where(reset, normalize(v), M_t)
//                             H_t = Encoder(s_t, M_eff)             (pre-LN: self-attn, reader, FFN)
//                             M_{t+1} = BMN(Writer(M_eff, H_t))
//                             logits = Decoder([BOS, s_{t+1,1..L−1}], H_t)·Eᵀ
//
// The model holds parameters only (its own ParameterStore, seeded); the stream state is a
// separate value (Memformer::State = memory::SlotState, [batch, K, d]). Choices where the paper
// is silent (see docs/memformer.md): sinusoidal absolute positions within a segment (positions
// 1..L, scaled by position_scale, none for slots), one embedding matrix for encoder, decoder and head, pre-LN, GELU,
// dropout on the embeddings and on every residual branch only, γ = sqrt(d) by default.
//
// Parameter names: embed.weight; encoder.layers.{i}.{self_attn, mem_read, ffn}.*,
// encoder.layers.{i}.{self_attn_norm, mem_read_norm, ffn_norm}.*, encoder.norm.*;
// writer.{q,k,v}_proj.weight, memory.v_bias; decoder.layers.{i}.{self_attn, cross_attn, ffn}.*,
// decoder.layers.{i}.{self_attn_norm, cross_attn_norm, ffn_norm}.*, decoder.norm.*;
// lm_head.weight [d, vocab] when the head is untied.
//
// Inference (step, step_on_device, generate) runs inside an nn::InferenceScope: attention without
// the probabilities tensor and the FFN's first product with its activation per column block
// (equal to the recorded arithmetic to rounding); encode()/decode() outside a scope keep the
// arithmetic MRBP's replay reproduces bit for bit.
//
// Threads: inference (step, generate) only reads the model, so several threads may run it at once,
// each with its own state; training writes parameters and gradients (docs/hardening.md).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "mnemo/autograd/ops/activation.hpp"
#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/embedding.hpp"
#include "mnemo/autograd/ops/loss.hpp"
#include "mnemo/autograd/ops/matmul.hpp"
#include "mnemo/backend/cpu.hpp"  // segments are host (Cpu) tensors
#include "mnemo/core/rng.hpp"
#include "mnemo/memory/slot_memory.hpp"
#include "mnemo/memory/slot_state.hpp"
#include "mnemo/models/memformer_config.hpp"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/inference_scope.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/nn/parameter_store.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::models {

/// How generate() picks each token.
struct GenerateOptions {
  double temperature = 0.0;  // 0: greedy (argmax); > 0: sample from softmax(logits / temperature)
  RngKey key{};              // sampling draws: draw b·L + n of `key` for row b, position n
};

template <class T, class B>
class Memformer {
  using BT = BackendTraits<B>;
  using C = compute_t<T>;

 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;
  using Mask = Tensor<uint8_t, B>;
  using Ids = Tensor<int32_t, B>;
  using State = memory::SlotState<T, B>;
  using Segment = train::Segment;
  using Attention = nn::MultiHeadAttention<T, B>;

  /// What the encoder half of a step produces (differentiable when recorded).
  struct Encoded {
    Var hidden;       // H_t [batch, L, d]
    Var next_memory;  // M_{t+1} [batch, K, d]
    Mask padding;     // key padding of s_t [batch, L] on the backend; undefined: none
  };

  /// What an inference step returns.
  struct StepOutput {
    Tens hidden;   // H_t
    Mask padding;  // of the input segment (undefined: none)
    Tens logits;   // [batch, L, vocab] for the target segment (undefined when none was given)
    State next;    // M_{t+1}
  };

  explicit Memformer(const MemformerConfig& config, uint64_t seed = 0, Context<B>& ctx = BT::default_context());

  Memformer(const Memformer&) = delete;
  Memformer& operator=(const Memformer&) = delete;
  Memformer(Memformer&&) = default;  // layers point at parameters, which never move

  const MemformerConfig& config() const { return config_; }
  nn::ParameterStore<T, B>& parameters() { return store_; }
  const nn::ParameterStore<T, B>& parameters() const { return store_; }
  const memory::SlotMemory<T, B>& memory() const { return memory_; }
  Context<B>& context() const { return *ctx_; }

  // ---- state --------------------------------------------------------------------------------
  /// `batch` fresh streams: every row's slots are normalize(v) (§2.5).
  State initial_state(int64_t batch) const;
  /// Rows with a nonzero mask entry start a new document; the other rows are untouched.
  void reset_rows(State& state, const std::vector<uint8_t>& mask) const;

  // ---- differentiable pieces (the trainers record these) ------------------------------------
  /// Encoder + writer + BMN for segment `input` from memory M_t [batch, K, d]; rows flagged in
  /// `reset` (empty: none) start from normalize(v). `dropout_key` null: no dropout (inference).
  Encoded encode(const Segment& input, const Var& memory, const std::vector<uint8_t>& reset = {},
                 const RngKey* dropout_key = nullptr) const;

  /// Decoder logits [batch, L, vocab] for `target` (teacher forcing: input [BOS, target_{1..L−1}])
  /// cross-attending to H_t (`hidden`, with `hidden_padding`, undefined: none) (§2.6).
  Var decode(const Var& hidden, const Mask& hidden_padding, const Segment& target,
             const RngKey* dropout_key = nullptr) const;

  /// Mean cross-entropy of `logits` [batch, L, vocab] against the non-padded tokens of
  /// `target`; `counted` (optional) receives how many tokens carried loss.
  Var loss(const Var& logits, const Segment& target, int64_t* counted = nullptr) const;

  // ---- inference (never records) ------------------------------------------------------------
  /// Reads segment `input` with memory `state`: returns H_t, the next state and, when `target`
  /// is given, the decoder's logits for it. `state` is not modified.
  StepOutput step(const State& state, const Segment& input, const Segment* target = nullptr) const;

  /// step() on segments already in backend memory: `tokens` [batch, L], its key padding
  /// (nullable, nonzero = padding) and, when logits are wanted, `target` [batch, L] with its
  /// padding. Nothing moves between host and device and nothing synchronises, so on Cuda it can be
  /// captured in a CUDA graph (mnemo::cuda::MemformerStream). The ids are NOT checked here: they
  /// must lie in [0, vocab) (step() checks host segments; the stream checks before its upload).
  StepOutput step_on_device(const State& state, const Ids& tokens, const Mask* padding = nullptr,
                            const Ids* target = nullptr, const Mask* target_padding = nullptr) const;

  /// Generates the next segment token by token (decoder with a key/value cache inside the
  /// segment) from the encoder output of a step. Feed the result to step() to encode it and
  /// advance the state: streaming generation with constant memory.
  Segment generate(const StepOutput& context, const GenerateOptions& opt = {}) const;

 private:
  /// One pre-LN transformer layer; `a` = self-attention, `b` = memory reader (encoder, held by
  /// SlotMemory) or cross-attention (decoder), `c` = FFN.
  struct Layer {
    nn::LayerNorm<T, B> norm_a, norm_b, norm_c;
    Attention self_attn;
    std::optional<Attention> cross;  // decoder only
    nn::FeedForward<T, B> ffn;
    const Attention& cross_attn() const { return *cross; }

    Layer(nn::ParameterStore<T, B>& store, const std::string& name, const MemformerConfig& c, bool decoder)
        : norm_a(store, name + ".self_attn_norm", c.d_model, c.layer_norm_eps),
          norm_b(store, name + (decoder ? ".cross_attn_norm" : ".mem_read_norm"), c.d_model, c.layer_norm_eps),
          norm_c(store, name + ".ffn_norm", c.d_model, c.layer_norm_eps),
          self_attn(store, name + ".self_attn", c.d_model, c.heads, true, c.init_std),
          ffn(store, name + ".ffn", c.d_model, c.d_ff, Activation::Gelu, c.init_std) {
      if (decoder) cross.emplace(store, name + ".cross_attn", c.d_model, c.heads, true, c.init_std);
    }
  };

  static memory::SlotMemoryOptions memory_options(const MemformerConfig& c) {
    memory::SlotMemoryOptions o;
    o.d_model = c.d_model;
    o.heads = c.heads;
    o.slots = c.slots;
    o.temperature = c.temperature;
    o.slot_scale = c.resolved_slot_scale();
    o.bias_init_norm = c.bias_init_norm;
    o.init_std = c.init_std;
    o.readers = c.encoder_layers;
    o.reader_prefix = "encoder.layers";
    return o;
  }

  /// scale·PE: PE(p, 2i) = sin(p / 10000^{2i/d}),  PE(p, 2i+1) = cos(p / 10000^{2i/d}),  p = 1..L.
  static Tens sinusoidal_positions(int64_t length, int64_t d, double scale) {
    std::vector<T> pe(static_cast<size_t>(length * d));
    for (int64_t p = 0; p < length; ++p)
      for (int64_t i = 0; i < d; ++i) {
        const double freq = std::pow(10000.0, -static_cast<double>(i - i % 2) / static_cast<double>(d));
        const double angle = static_cast<double>(p + 1) * freq;
        pe[static_cast<size_t>(p * d + i)] = static_cast<T>(scale * (i % 2 == 0 ? std::sin(angle) : std::cos(angle)));
      }
    return Tens::from_host(Shape{length, d}, pe);
  }

  template <class X>
  static Tensor<X, B> to_backend(const Tensor<X, Cpu>& t) {
    if constexpr (std::is_same_v<B, Cpu>) return t;
    else return Tensor<X, B>::from_host(t.shape(), t.to_host());
  }

  void check_segment(const char* who, const Segment& s, int64_t batch) const {
    const Label tokens(who, " tokens");
    check_shape(tokens, s.tokens.shape(), {{"batch", batch < 0 ? Dim::any : batch},
                                           {"segment_length", config_.segment_length}});
    if (s.has_padding())
      check_shape(Label(who, " padding"), s.padding.shape(), {{"batch", s.batch()}, {"segment_length", s.length()}});
    autograd::check_ids(BackendTraits<Cpu>::default_context(), tokens, s.tokens, config_.vocab);
  }

  void check_state(const char* who, const State& state, int64_t batch) const {
    state.check(who, batch, config_.slots, config_.d_model);
  }

  /// E[ids] + PE(offset + 1 .. offset + len): ids [batch, len] → [batch, len, d]. `checked`
  /// false: a plain gather (no id check, which would read a count back; inference only).
  Var embed_tokens(const Ids& ids, int64_t offset, bool checked = true) const {
    const int64_t batch = ids.size(0), len = ids.size(1), d = config_.d_model;
    Var x;
    if (checked) {
      x = embed_(ids);
    } else {
      Tens y(Shape{batch, len, d}, ctx_->arena());
      BT::embedding_gather(*ctx_, embed_.weight().value.data(), ids.data(), y.data(), ids.numel(), d);
      x = Var(std::move(y));
    }
    const Var pe(positions_.slice(offset, len).reshape(Shape{len * d}));
    return autograd::reshape(autograd::add_bias(*ctx_, autograd::reshape(x, Shape{batch, len * d}), pe),
                             Shape{batch, len, d});
  }

  Var dropped(const Var& x, const RngKey* key, uint64_t site) const {
    if (!key || config_.dropout == 0.0) return x;
    return autograd::dropout(*ctx_, x, static_cast<float>(config_.dropout), key->derive(site));
  }
  Var residual(const Var& x, const Var& branch, const RngKey* key, uint64_t site) const {
    return autograd::add(*ctx_, x, dropped(branch, key, site));
  }

  /// Vocabulary logits of normalised decoder states: y·Eᵀ (tied) or y·W_out.
  Var head(const Var& y) const {
    if (lm_head_) return autograd::linear<T, B>(*ctx_, y, lm_head_->var(), nullptr);
    return autograd::matmul(*ctx_, y, embed_.weight().var(), Trans::N, Trans::T);
  }

  /// cache[:, :, row, :] = x[:, :, 0, :] for a [batch, heads, capacity, d_h] cache.
  void append_row(Tens& cache, const Tens& x, int64_t row) const {
    const int64_t dh = config_.head_dim(), capacity = cache.size(2);
    const size_t e = sizeof(T);
    BT::copy_2d(*ctx_, cache.data() + row * dh, e * static_cast<size_t>(capacity * dh), x.data(),
                e * static_cast<size_t>(dh), e * static_cast<size_t>(dh), static_cast<size_t>(x.numel() / dh));
  }

  /// One query per row over the first `keys` cached keys/values: the attention of
  /// MultiHeadAttention::forward on a cache ([batch, heads, capacity, d_h] with capacity ≥ keys).
  Tens attend_cached(const Attention& mha, const Tens& q, const Tens& k, const Tens& v, int64_t keys,
                     const Mask* padding) const {
    Context<B>& ctx = *ctx_;
    const int64_t batch = q.size(0), h = config_.heads, dh = config_.head_dim(), d = config_.d_model;
    const int64_t cap = k.size(2);
    Tens probs(Shape{batch, h, 1, keys}, ctx.arena());
    BT::gemm(ctx, Trans::N, Trans::T, 1, keys, dh, C(1), q.data(), dh, dh, k.data(), dh, cap * dh, C(0),
             probs.data(), keys, keys, batch * h);
    SoftmaxMask sm;
    sm.key_padding = padding ? padding->data() : nullptr;
    BT::softmax_forward(ctx, probs.data(), probs.data(), SoftmaxDims{batch, h, 1, keys}, mha.scale(), sm);
    Tens o(Shape{batch, h, 1, dh}, ctx.arena());
    BT::gemm(ctx, Trans::N, Trans::N, 1, dh, keys, C(1), probs.data(), keys, keys, v.data(), dh, cap * dh, C(0),
             o.data(), dh, dh, batch * h);
    const Tens merged = mha.merge_heads(o, batch, 1);
    Tens y(Shape{batch, 1, d}, ctx.arena());
    BT::gemm(ctx, Trans::N, Trans::N, batch, d, d, C(1), merged.data(), d, 0, mha.weight(3).value.data(), d, 0, C(0),
             y.data(), d, 0, 1);
    if (mha.bias(3)) BT::add_row_broadcast(ctx, y.data(), mha.bias(3)->value.data(), y.data(), batch, d);
    return y;
  }

  /// Greedy or temperature sampling over one row of logits.
  int32_t pick(const T* logits, const GenerateOptions& opt, uint64_t draw) const {
    const int64_t V = config_.vocab;
    int64_t best = 0;
    for (int64_t c = 1; c < V; ++c)
      if (logits[c] > logits[best]) best = c;
    if (opt.temperature == 0.0) return static_cast<int32_t>(best);
    const double mx = static_cast<double>(logits[best]);
    std::vector<double> w(static_cast<size_t>(V));
    double total = 0;
    for (int64_t c = 0; c < V; ++c) total += (w[static_cast<size_t>(c)] = std::exp((static_cast<double>(logits[c]) - mx) / opt.temperature));
    double u = opt.key.uniform_double(draw) * total;
    for (int64_t c = 0; c < V; ++c) {
      u -= w[static_cast<size_t>(c)];
      if (u < 0) return static_cast<int32_t>(c);
    }
    return static_cast<int32_t>(best);
  }

  /// encode() after its host-side checks: the encoder, writer and BMN on backend ids.
  Encoded encode_ids(const Ids& ids, Mask padding, const Var& memory, const std::vector<uint8_t>& reset,
                     const RngKey* dropout_key, bool checked) const;
  /// decode() on the decoder's backend input ids [BOS, target_{1..L−1}] and their padding.
  Var decode_ids(const Var& hidden, const Mask& hidden_padding, const Ids& ids, const Mask& self_pad,
                 const RngKey* dropout_key, bool checked) const;

  MemformerConfig config_;
  nn::ParameterStore<T, B> store_;
  Context<B>* ctx_;
  nn::Embedding<T, B> embed_;
  memory::SlotMemory<T, B> memory_;
  nn::LayerNorm<T, B> encoder_norm_, decoder_norm_;
  Tens positions_;  // [L, d]
  std::vector<Layer> encoder_, decoder_;
  nn::Parameter<T, B>* lm_head_ = nullptr;
};

template <class T, class B>
Memformer<T, B>::Memformer(const MemformerConfig& config, uint64_t seed, Context<B>& ctx)
    : config_((config.validate(), config)),
      store_(seed, ctx),
      ctx_(&ctx),
      embed_(store_, "embed", config.vocab, config.d_model, config.init_std),
      memory_(store_, memory_options(config)),
      encoder_norm_(store_, "encoder.norm", config.d_model, config.layer_norm_eps),
      decoder_norm_(store_, "decoder.norm", config.d_model, config.layer_norm_eps),
      positions_(sinusoidal_positions(config.segment_length, config.d_model, config.resolved_position_scale())) {
  for (int64_t i = 0; i < config.encoder_layers; ++i)
    encoder_.emplace_back(store_, detail::cat("encoder.layers.", i), config, false);
  for (int64_t i = 0; i < config.decoder_layers; ++i)
    decoder_.emplace_back(store_, detail::cat("decoder.layers.", i), config, true);
  if (!config.tie_embeddings)
    lm_head_ = &store_.add("lm_head.weight", Shape{config.d_model, config.vocab}, nn::Init::normal(config.init_std));
}

template <class T, class B>
auto Memformer<T, B>::initial_state(int64_t batch) const -> State { return memory_.initial_state(batch); }

template <class T, class B>
auto Memformer<T, B>::reset_rows(State& state,
    const std::vector<uint8_t>& mask) const -> void { memory_.reset_rows(state, mask); }

template <class T, class B>
auto Memformer<T, B>::encode(const Segment& input, const Var& memory, const std::vector<uint8_t>& reset,
    const RngKey* dropout_key) const -> Encoded {
  check_segment("Memformer::encode: input", input, memory.shape().rank() > 0 ? memory.shape()[0] : -1);
  return encode_ids(to_backend(input.tokens), input.has_padding() ? to_backend(input.padding) : Mask{}, memory, reset,
                    dropout_key, true);
}

template <class T, class B>
auto Memformer<T, B>::encode_ids(const Ids& ids, Mask padding, const Var& memory, const std::vector<uint8_t>& reset,
    const RngKey* dropout_key, bool checked) const -> Encoded {
  Encoded out;
  out.padding = std::move(padding);
  const Mask* pad = out.padding.defined() ? &out.padding : nullptr;
  const RngKey key = dropout_key ? dropout_key->derive("encoder") : RngKey{};
  const RngKey* k = dropout_key ? &key : nullptr;
  const Var m = memory_.effective(memory, reset);
  const Var slots_in = memory_.reader_input(m);
  Var x = dropped(embed_tokens(ids, 0, checked), k, 0);
  nn::AttentionMask<B> self_mask;
  self_mask.key_padding = pad;
  for (size_t l = 0; l < encoder_.size(); ++l) {
    const Layer& layer = encoder_[l];
    const uint64_t site = 1 + 3 * l;
    const Var a = layer.norm_a(x);
    x = residual(x, layer.self_attn(a, a, self_mask), k, site);
    x = residual(x, memory_.read(static_cast<int64_t>(l), layer.norm_b(x), slots_in), k, site + 1);
    x = residual(x, layer.ffn(layer.norm_c(x)), k, site + 2);
  }
  out.hidden = encoder_norm_(x);
  out.next_memory = memory_.write(m, out.hidden, pad);
  return out;
}

template <class T, class B>
auto Memformer<T, B>::decode(const Var& hidden, const Mask& hidden_padding, const Segment& target,
    const RngKey* dropout_key) const -> Var {
  const int64_t batch = hidden.shape().rank() == 3 ? hidden.shape()[0] : -1;
  check_shape("Memformer::decode: hidden", hidden.shape(),
              {{"batch", Dim::any}, {"tokens", Dim::any}, {"d_model", config_.d_model}});
  check_segment("Memformer::decode: target", target, batch);
  const int64_t L = target.length();
  // Decoder input: BOS then the target shifted right; its padding shifted likewise.
  // Built in host tensors (the arena's blocks: no heap allocation on the CPU, where to_backend
  // hands them over as they are).
  Tensor<int32_t, Cpu> in(Shape{batch, L});
  Tensor<uint8_t, Cpu> in_pad;
  if (target.has_padding()) in_pad = Tensor<uint8_t, Cpu>(Shape{batch, L});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < L; ++n) {
      const int64_t i = b * L + n;
      in[i] = n == 0 ? config_.bos_id : target.tokens[i - 1];
      if (in_pad.defined()) in_pad[i] = n == 0 ? 0 : target.padding[i - 1];
    }
  const Ids ids = to_backend(in);
  Mask self_pad;
  if (in_pad.defined()) self_pad = to_backend(in_pad);
  return decode_ids(hidden, hidden_padding, ids, self_pad, dropout_key, true);
}

template <class T, class B>
auto Memformer<T, B>::decode_ids(const Var& hidden, const Mask& hidden_padding, const Ids& ids, const Mask& self_pad,
    const RngKey* dropout_key, bool checked) const -> Var {
  const RngKey key = dropout_key ? dropout_key->derive("decoder") : RngKey{};
  const RngKey* k = dropout_key ? &key : nullptr;
  nn::AttentionMask<B> self_mask, cross_mask;
  self_mask.causal = true;
  self_mask.key_padding = self_pad.defined() ? &self_pad : nullptr;
  cross_mask.key_padding = hidden_padding.defined() ? &hidden_padding : nullptr;
  Var y = dropped(embed_tokens(ids, 0, checked), k, 0);
  for (size_t l = 0; l < decoder_.size(); ++l) {
    const Layer& layer = decoder_[l];
    const uint64_t site = 1 + 3 * l;
    const Var a = layer.norm_a(y);
    y = residual(y, layer.self_attn(a, a, self_mask), k, site);
    y = residual(y, layer.cross_attn()(layer.norm_b(y), hidden, cross_mask), k, site + 1);
    y = residual(y, layer.ffn(layer.norm_c(y)), k, site + 2);
  }
  return head(decoder_norm_(y));
}

template <class T, class B>
auto Memformer<T, B>::loss(const Var& logits, const Segment& target, int64_t* counted) const -> Var {
  check_shape("Memformer::loss: logits", logits.shape(),
              {{"batch", target.batch()}, {"tokens", target.length()}, {"vocab", config_.vocab}});
  autograd::CrossEntropyOptions opt;
  std::vector<int32_t> ids = target.tokens.to_host();
  int64_t n = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (target.has_padding() && target.padding[static_cast<int64_t>(i)]) ids[i] = opt.ignore_index;
    else ++n;
  }
  if (counted) *counted = n;
  const Tensor<float, B>* no_weights = nullptr;
  return autograd::cross_entropy(*ctx_, logits, Ids::from_host(target.tokens.shape(), ids), no_weights, opt);
}

template <class T, class B>
auto Memformer<T, B>::step(const State& state, const Segment& input, const Segment* target) const -> StepOutput {
  autograd::NoGrad off;
  nn::InferenceScope inference;  // the layers' inference paths (nn/inference_scope.hpp)
  check_state("Memformer::step", state, input.tokens.rank() == 2 ? input.batch() : Dim::any);
  Encoded e = encode(input, Var(state.slots()), {}, nullptr);
  StepOutput out;
  out.hidden = e.hidden.value();
  out.padding = e.padding;
  out.next = State(e.next_memory.value());
  if (target) out.logits = decode(e.hidden, e.padding, *target, nullptr).value();
  return out;
}

template <class T, class B>
auto Memformer<T, B>::step_on_device(const State& state, const Ids& tokens, const Mask* padding, const Ids* target,
    const Mask* target_padding) const -> StepOutput {
  autograd::NoGrad off;
  nn::InferenceScope inference;  // the layers' inference paths (nn/inference_scope.hpp)
  const int64_t L = config_.segment_length;
  check_shape("Memformer::step_on_device: tokens", tokens.shape(), {{"batch", Dim::any}, {"segment_length", L}});
  const int64_t batch = tokens.size(0);
  check_state("Memformer::step_on_device", state, batch);
  if (padding) check_shape("Memformer::step_on_device: padding", padding->shape(), {{"batch", batch}, {"segment_length", L}});
  if (target) check_shape("Memformer::step_on_device: target", target->shape(), {{"batch", batch}, {"segment_length", L}});
  if (target_padding) {
    require<ValueError>(target != nullptr, "Memformer::step_on_device: target padding given without a target");
    check_shape("Memformer::step_on_device: target padding", target_padding->shape(),
                {{"batch", batch}, {"segment_length", L}});
  }
  Encoded e = encode_ids(tokens, padding ? *padding : Mask{}, Var(state.slots()), {}, nullptr, false);
  StepOutput out;
  out.hidden = e.hidden.value();
  out.padding = e.padding;
  out.next = State(e.next_memory.value());
  if (!target) return out;
  // Decoder input [BOS, target_{1..L−1}] and its padding, shifted on the backend: one fill and
  // one strided copy each (rows of L − 1 elements moved one column right).
  Context<B>& ctx = *ctx_;
  Ids in(Shape{batch, L}, ctx.arena());
  BT::fill(ctx, in.data(), in.numel(), static_cast<int32_t>(config_.bos_id));
  const auto shift = [&](void* dst, const void* src, size_t elem) {
    if (L > 1)
      BT::copy_2d(ctx, static_cast<char*>(dst) + elem, elem * static_cast<size_t>(L), src, elem * static_cast<size_t>(L),
                  elem * static_cast<size_t>(L - 1), static_cast<size_t>(batch));
  };
  shift(in.data(), target->data(), sizeof(int32_t));
  Mask self_pad;
  if (target_padding) {
    self_pad = Mask(Shape{batch, L}, ctx.arena());
    BT::fill(ctx, self_pad.data(), self_pad.numel(), uint8_t{0});
    shift(self_pad.data(), target_padding->data(), sizeof(uint8_t));
  }
  out.logits = decode_ids(e.hidden, e.padding, in, self_pad, nullptr, false).value();
  return out;
}

template <class T, class B>
auto Memformer<T, B>::generate(const StepOutput& context, const GenerateOptions& opt) const -> Segment {
  autograd::NoGrad off;
  nn::InferenceScope inference;  // the layers' inference paths (nn/inference_scope.hpp)
  require<StateError>(context.hidden.defined(), "Memformer::generate: the step output holds no encoder output");
  check_shape("Memformer::generate: hidden", context.hidden.shape(),
              {{"batch", Dim::any}, {"tokens", Dim::any}, {"d_model", config_.d_model}});
  require<ValueError>(opt.temperature >= 0 && std::isfinite(opt.temperature), "Memformer::generate: temperature = ",
                      opt.temperature, ", expected a finite value >= 0");
  const int64_t batch = context.hidden.size(0), keys = context.hidden.size(1), L = config_.segment_length;
  const int64_t h = config_.heads, dh = config_.head_dim();
  const Mask* pad = context.padding.defined() ? &context.padding : nullptr;
  struct Cache {
    Tens self_k, self_v, cross_k, cross_v;  // [batch, heads, capacity, d_h]
  };
  std::vector<Cache> cache(decoder_.size());
  for (size_t l = 0; l < decoder_.size(); ++l) {
    cache[l].self_k = Tens(Shape{batch, h, L, dh}, ctx_->arena());
    cache[l].self_v = Tens(Shape{batch, h, L, dh}, ctx_->arena());
    cache[l].cross_k = decoder_[l].cross_attn().project_heads(context.hidden, 1);
    cache[l].cross_v = decoder_[l].cross_attn().project_heads(context.hidden, 2);
  }
  Segment out{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  std::vector<int32_t> current(static_cast<size_t>(batch), config_.bos_id);
  for (int64_t n = 0; n < L; ++n) {
    Var y = embed_tokens(Ids::from_host(Shape{batch, 1}, current), n);
    for (size_t l = 0; l < decoder_.size(); ++l) {
      const Layer& layer = decoder_[l];
      Cache& c = cache[l];
      const Tens a = layer.norm_a(y).value();
      append_row(c.self_k, layer.self_attn.project_heads(a, 1), n);
      append_row(c.self_v, layer.self_attn.project_heads(a, 2), n);
      y = autograd::add(*ctx_, y, Var(attend_cached(layer.self_attn, layer.self_attn.project_heads(a, 0), c.self_k,
                                                    c.self_v, n + 1, nullptr)));
      const Tens q = layer.cross_attn().project_heads(layer.norm_b(y).value(), 0);
      y = autograd::add(*ctx_, y, Var(attend_cached(layer.cross_attn(), q, c.cross_k, c.cross_v, keys, pad)));
      y = autograd::add(*ctx_, y, layer.ffn(layer.norm_c(y)));
    }
    const std::vector<T> logits = head(decoder_norm_(y)).value().to_host();  // [batch, 1, vocab]
    for (int64_t b = 0; b < batch; ++b) {
      const int32_t tok = pick(logits.data() + b * config_.vocab, opt, static_cast<uint64_t>(b * L + n));
      out.tokens[b * L + n] = tok;
      current[static_cast<size_t>(b)] = tok;
    }
  }
  return out;
}

}  // namespace mnemo::models

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::models {
extern template class Memformer<float, Cpu>;
extern template class Memformer<double, Cpu>;
}  // namespace mnemo::models
#endif  // MNEMO_COMPILED
