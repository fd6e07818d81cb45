// mnemo/models/infinite_former.hpp — the ∞-former decoder language model (infinite_former.md §9):
// token embedding → layers (causal short-term attention with ALiBi over [cache ; segment] plus a
// continuous long-term memory per layer) → final LN → vocabulary head (tied by default).
//
//   models::InfiniteFormer<float, Cpu> model(config, /*seed=*/1);
//   auto state = model.initial_state(batch);
//   for (const auto& segment : stream) {
//     auto out = model.step(segment.tokens, nullptr, state);   // logits [batch, L, vocab]
//   }
//
// The model holds parameters only; the stream state (long-term memories + short-term cache) is a
// separate value. Per step and layer: (1) the segment leaving the short-term window is written
// into the long-term memory, (2) the layer reads it, (3) the densities are kept for sticky
// memories, (4) the layer input joins the cache. No gradient crosses steps (§7): every step can be
// back-propagated on its own.
//
// Threads: inference (step without a recording tape, generate) only reads the model, so several
// threads may run it at once, each with its own state; training writes parameters and gradients
// (docs/hardening.md). A failing step leaves its state as it was (strong guarantee).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/autograd/ops/activation.hpp"
#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/matmul.hpp"
#include "mnemo/autograd/tape.hpp"
#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES
#include "mnemo/memory/continuous_operators.hpp"
#else  // compiled mode: the operators are built in mnemo::compiled, held here by shared_ptr
#include "mnemo/memory/continuous_operators_fwd.hpp"
#endif
#include "mnemo/models/infinite_former_config.hpp"
#include "mnemo/models/infinite_former_layer.hpp"
#include "mnemo/models/infinite_former_state.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::models {

template <class T, class B>
class InfiniteFormer {
  using BT = BackendTraits<B>;

 public:
  using Var = autograd::Var<T, B>;
  using Tens = Tensor<T, B>;
  using State = InfiniteFormerState<T, B>;
  using Layer = InfiniteFormerLayer<T, B>;

  struct StepOptions {
    bool training = false;  // dropout on
    RngKey dropout_key;     // this step's dropout stream (the trainer derives it per step)
  };
  struct StepOutput {
    Var logits;   // [batch, L, vocab]
    Var kl_mean;  // mean over rows, heads and queries of Σ_layers KL (one element, §6)
  };
  struct GenerateOptions {
    double temperature = 0.0;  // 0: greedy (argmax); otherwise sample from softmax(logits / T)
    uint64_t seed = 0;         // sampling stream
  };

  /// Parameters are created in the model's own store, seeded: a pure function of (seed, name).
  explicit InfiniteFormer(const InfiniteFormerConfig& config, uint64_t seed = 0,
                          Context<B>& ctx = BT::default_context());

  const InfiniteFormerConfig& config() const { return config_; }
  nn::ParameterStore<T, B>& parameters() { return *store_; }
  const nn::ParameterStore<T, B>& parameters() const { return *store_; }
  Context<B>& context() const { return store_->context(); }
  const Layer& layer(int64_t i) const { return *layers_.at(static_cast<size_t>(i)); }
  /// The pieces around the layers (read by the CUDA streaming step, models/infinite_former_stream.cuh).
  const nn::Embedding<T, B>& embedding() const { return *embedding_; }
  const nn::LayerNorm<T, B>& final_norm() const { return *ln_f_; }
  /// The output head; nullptr when it is tied to the embedding (logits = h Eᵀ).
  const nn::Linear<T, B>* head() const { return head_.get(); }
  /// ALiBi slopes [heads] (zeros without ALiBi).
  const Tensor<float, B>& alibi_slopes() const { return alibi_; }

  /// An empty stream state for `batch` rows; `seed` names the sticky samplers' streams.
  State initial_state(int64_t batch, uint64_t seed = 0) const;

  /// One segment: tokens [batch, L] (host), padding [batch, L] (host, nonzero = padding; nullable).
  /// Advances `state`. Records on the active tape when one is recording.
  ///
  /// Strong guarantee: every argument is checked (shapes, token ids in [0, vocab)) before the
  /// state is touched, and if anything later throws (an allocation, a backend error) `state` is
  /// put back as it was — the segment that was leaving the short-term window stays cached.
  StepOutput step(const Tensor<int32_t, Cpu>& tokens, const Tensor<uint8_t, Cpu>* padding, State& state,
                  const StepOptions& options = {}) const;

 private:
  /// step() after its checks: advances `state` in place.
  StepOutput advance(const Tensor<int32_t, Cpu>& tokens, const Tensor<uint8_t, Cpu>* padding, State& state,
                     const StepOptions& options) const;

 public:
  /// Continues every row of `prompt` [batch, P ≥ 1] (host) by `count` tokens (returned [batch,
  /// count]). The stream is committed to `state` in whole segments of segment_length tokens
  /// (prompt and generated tokens alike); the tokens of an unfinished segment are re-read on a
  /// copy of the state for every new token, so the state only ever holds complete segments
  /// plus `pending` (the unfinished segment, returned through it for the next call).
  Tensor<int32_t, Cpu> generate(const Tensor<int32_t, Cpu>& prompt, int64_t count, State& state, std::vector<int32_t>& pending_tokens,
                                const GenerateOptions& options = {}) const;

 private:
  InfiniteFormerConfig config_;
  std::unique_ptr<nn::ParameterStore<T, B>> store_;
  std::unique_ptr<nn::Embedding<T, B>> embedding_;
  std::shared_ptr<const memory::ContinuousOperators<T, B>> operators_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::unique_ptr<nn::LayerNorm<T, B>> ln_f_;
  std::unique_ptr<nn::Linear<T, B>> head_;
  Tensor<float, B> alibi_;
};

template <class T, class B>
InfiniteFormer<T, B>::InfiniteFormer(const InfiniteFormerConfig& config, uint64_t seed, Context<B>& ctx)
    : config_((config.validate(), config)), store_(std::make_unique<nn::ParameterStore<T, B>>(seed, ctx)) {
  auto& store = *store_;
  embedding_ = std::make_unique<nn::Embedding<T, B>>(store, "embedding", config.vocab, config.d_model, config.init_std);
  if (config.use_ltm) operators_ = std::make_shared<const memory::ContinuousOperators<T, B>>(config.memory_config(), ctx);
  for (int64_t i = 0; i < config.layers; ++i)
    layers_.push_back(std::make_unique<Layer>(store, detail::cat("layers.", i), config, operators_));
  ln_f_ = std::make_unique<nn::LayerNorm<T, B>>(store, "ln_f", config.d_model);
  if (!config.tie_embeddings)
    head_ = std::make_unique<nn::Linear<T, B>>(store, "head", config.d_model, config.vocab, nn::LinearOptions{false, config.init_std});
  std::vector<float> slopes(static_cast<size_t>(config.heads), 0.0f);
  for (int64_t h = 0; h < config.heads; ++h)  // ALiBi: 2^(−8(h+1)/H)
    slopes[static_cast<size_t>(h)] = config.alibi ? std::pow(2.0f, -8.0f * static_cast<float>(h + 1) / static_cast<float>(config.heads)) : 0.0f;
  alibi_ = Tensor<float, B>(Shape{config.heads}, ctx.arena());
  BT::copy_from_host(ctx, alibi_.data(), slopes.data(), slopes.size() * sizeof(float));
}

template <class T, class B>
auto InfiniteFormer<T, B>::initial_state(int64_t batch, uint64_t seed) const -> State {
  require<ShapeError>(batch >= 1, "InfiniteFormer::initial_state: batch = ", batch, ", expected >= 1");
  State s;
  s.batch = batch;
  for (const auto& layer : layers_)
    if (layer->memory()) s.ltm.push_back(layer->memory()->initial_state(batch, seed));
  return s;
}

template <class T, class B>
auto InfiniteFormer<T, B>::step(const Tensor<int32_t, Cpu>& tokens, const Tensor<uint8_t, Cpu>* padding, State& state,
    const StepOptions& options) const -> StepOutput {
  const auto& c = config_;
  require<StateError>(state.batch >= 1 && static_cast<int64_t>(state.ltm.size()) == (c.use_ltm ? c.layers : 0),
                      "InfiniteFormer::step: the state does not belong to this model (create it with initial_state)");
  check_shape("InfiniteFormer::step: tokens", tokens.shape(), {{"batch", state.batch}, {"length", Dim::any}});
  const int64_t len = tokens.shape()[1];
  require<ShapeError>(len >= 1, "InfiniteFormer::step: tokens have length 0, expected at least one token");
  if (padding) check_shape("InfiniteFormer::step: padding", padding->shape(), {{"batch", state.batch}, {"length", len}});
  for (int64_t i = 0; i < tokens.numel(); ++i)
    require<ValueError>(tokens[i] >= 0 && tokens[i] < c.vocab, "InfiniteFormer::step: token id ", tokens[i],
                        " at position ", i, " is outside [0, ", c.vocab, ") (the vocabulary)");
  // A shallow copy: the tensors are aliased, and every change step makes replaces a tensor or
  // copies it first (ContinuousState::own_coefficients), so the copy keeps the old values.
  State backup = state;
  try {
    return advance(tokens, padding, state, options);
  } catch (...) {
    state = std::move(backup);
    throw;
  }
}

template <class T, class B>
auto InfiniteFormer<T, B>::advance(const Tensor<int32_t, Cpu>& tokens, const Tensor<uint8_t, Cpu>* padding,
    State& state, const StepOptions& options) const -> StepOutput {
  Context<B>& ctx = context();
  const auto& c = config_;
  const int64_t batch = state.batch, len = tokens.shape()[1];
  Tensor<uint8_t, Cpu> pad = padding ? padding->clone() : Tensor<uint8_t, Cpu>::zeros(Shape{batch, len});

  // The segment leaving the short-term window (written into every layer's memory).
  typename State::CachedSegment leaving;
  const bool writes = static_cast<int64_t>(state.cache.size()) > c.stm_segments;
  if (writes) {
    leaving = std::move(state.cache.front());
    state.cache.pop_front();
  }
  // Short-term keys: [cache ; current] with their padding, causal with the cache as offset.
  int64_t cached = 0;
  for (const auto& entry : state.cache) cached += entry.length();
  Tensor<uint8_t, Cpu> key_pad_host(Shape{batch, cached + len});
  for (int64_t b = 0; b < batch; ++b) {
    int64_t col = 0;
    for (const auto& entry : state.cache)
      for (int64_t t = 0; t < entry.length(); ++t) key_pad_host[b * (cached + len) + col++] = entry.padding[b * entry.length() + t];
    for (int64_t t = 0; t < len; ++t) key_pad_host[b * (cached + len) + col++] = pad[b * len + t];
  }
  Tensor<uint8_t, B> key_pad(key_pad_host.shape(), ctx.arena());
  BT::copy_from_host(ctx, key_pad.data(), key_pad_host.data(), static_cast<size_t>(key_pad.numel()));

  Tensor<int32_t, B> ids(tokens.shape(), ctx.arena());
  BT::copy_from_host(ctx, ids.data(), tokens.data(), static_cast<size_t>(tokens.numel()) * sizeof(int32_t));
  const float p = options.training ? static_cast<float>(c.dropout) : 0.0f;
  Var h = autograd::dropout(ctx, (*embedding_)(ids), p, options.dropout_key.derive("embedding"));
  typename State::CachedSegment entry;
  entry.padding = pad;
  Var kl_sum;
  for (size_t i = 0; i < layers_.size(); ++i) {
    typename Layer::StepInputs in;
    for (const auto& e : state.cache) in.cache.push_back(e.inputs[i]);
    in.mask.causal = true;
    in.mask.query_offset = cached;
    in.mask.key_padding = &key_pad;
    in.mask.alibi_slopes = c.alibi ? &alibi_ : nullptr;
    if (writes && c.use_ltm) {
      in.write = &leaving.inputs[i];
      in.write_padding = &leaving.padding;
    }
    in.dropout = p;
    in.key = options.dropout_key.derive(static_cast<uint64_t>(i));
    entry.inputs.push_back(h.value());  // the layer input, detached (§9)
    auto out = (*layers_[i])(h, in, c.use_ltm ? &state.ltm[i] : nullptr);
    h = out.h;
    if (out.kl.defined()) kl_sum = kl_sum.defined() ? autograd::add(ctx, kl_sum, out.kl) : out.kl;
  }
  h = (*ln_f_)(h);
  Var logits = head_ ? (*head_)(h) : autograd::matmul(ctx, h, embedding_->weight().var(), Trans::N, Trans::T);
  state.cache.push_back(std::move(entry));
  ++state.steps;
  const double per_query = 1.0 / static_cast<double>(batch * c.heads * len);
  Var kl_mean = kl_sum.defined() ? autograd::scale(ctx, kl_sum, static_cast<compute_t<T>>(per_query)) : Var(Tens::zeros(Shape{}));
  return {logits, kl_mean};
}

template <class T, class B>
auto InfiniteFormer<T, B>::generate(const Tensor<int32_t, Cpu>& prompt, int64_t count, State& state,
    std::vector<int32_t>& pending_tokens, const GenerateOptions& options) const -> Tensor<int32_t, Cpu> {
  autograd::NoGrad off;
  const int64_t batch = state.batch, L = config_.segment_length;
  check_shape("InfiniteFormer::generate: prompt", prompt.shape(), {{"batch", batch}, {"length", Dim::any}});
  require<ValueError>(count >= 0, "InfiniteFormer::generate: count = ", count, ", expected >= 0");
  require<ValueError>(options.temperature >= 0, "InfiniteFormer::generate: temperature = ", options.temperature, ", expected >= 0");
  // Per row, tokens not yet committed (row-major [batch][pending]); all rows advance together.
  const int64_t carried = static_cast<int64_t>(pending_tokens.size()) / batch;
  require<ShapeError>(carried * batch == static_cast<int64_t>(pending_tokens.size()) && carried < L,
                      "InfiniteFormer::generate: pending holds ", pending_tokens.size(), " tokens, expected batch×p with p < segment_length");
  std::vector<std::vector<int32_t>> buffer(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    auto& row = buffer[static_cast<size_t>(b)];
    row.assign(pending_tokens.begin() + b * carried, pending_tokens.begin() + (b + 1) * carried);
    for (int64_t i = 0; i < prompt.shape()[1]; ++i) row.push_back(prompt[b * prompt.shape()[1] + i]);
  }
  auto segment_of = [&](int64_t len) {
    Tensor<int32_t, Cpu> t(Shape{batch, len});
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < len; ++i) t[b * len + i] = buffer[static_cast<size_t>(b)][static_cast<size_t>(i)];
    return t;
  };
  const int64_t vocab = config_.vocab;
  std::vector<T> boundary_logits;  // the last position's logits of the last committed segment
  auto commit_full_segments = [&] {
    while (static_cast<int64_t>(buffer[0].size()) >= L) {
      const auto logits = step(segment_of(L), nullptr, state).logits.value().to_host();
      boundary_logits.resize(static_cast<size_t>(batch * vocab));
      for (int64_t b = 0; b < batch; ++b)
        std::copy_n(logits.begin() + (b * L + L - 1) * vocab, vocab, boundary_logits.begin() + b * vocab);
      for (auto& row : buffer) row.erase(row.begin(), row.begin() + L);
    }
  };
  commit_full_segments();
  Tensor<int32_t, Cpu> out(Shape{batch, count});
  const RngKey key{options.seed, 0x6e};
  for (int64_t k = 0; k < count; ++k) {
    const auto len = static_cast<int64_t>(buffer[0].size());
    std::vector<T> last(static_cast<size_t>(batch * vocab));
    if (len == 0) {  // at a segment boundary: the committed segment's last logits
      require<ValueError>(!boundary_logits.empty(), "InfiniteFormer::generate: nothing to continue from (empty prompt at a segment boundary)");
      last = boundary_logits;
    } else {
      State trial = state.clone();
      const auto logits = step(segment_of(len), nullptr, trial).logits.value().to_host();
      for (int64_t b = 0; b < batch; ++b)
        std::copy_n(logits.begin() + (b * len + len - 1) * vocab, vocab, last.begin() + b * vocab);
    }
    for (int64_t b = 0; b < batch; ++b) {
      const T* row = last.data() + b * vocab;
      int32_t next = 0;
      if (options.temperature == 0.0) {
        next = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
      } else {
        const double mx = static_cast<double>(*std::max_element(row, row + vocab));
        std::vector<double> p(static_cast<size_t>(vocab));
        double total = 0;
        for (int64_t v = 0; v < vocab; ++v) total += p[static_cast<size_t>(v)] = std::exp((static_cast<double>(row[v]) - mx) / options.temperature);
        double u = key.derive(static_cast<uint64_t>(state.steps * L + len)).uniform_double(static_cast<uint64_t>(b)) * total;
        next = static_cast<int32_t>(vocab - 1);
        for (int64_t v = 0; v < vocab; ++v)
          if ((u -= p[static_cast<size_t>(v)]) < 0) {
            next = static_cast<int32_t>(v);
            break;
          }
      }
      out[b * count + k] = next;
      buffer[static_cast<size_t>(b)].push_back(next);
    }
    commit_full_segments();
  }
  pending_tokens.clear();
  for (const auto& row : buffer) pending_tokens.insert(pending_tokens.end(), row.begin(), row.end());
  return out;
}

}  // namespace mnemo::models

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::models {
extern template class InfiniteFormer<float, Cpu>;
extern template class InfiniteFormer<double, Cpu>;
}  // namespace mnemo::models
#endif  // MNEMO_COMPILED
