// mnemo/models/infinite_former_stream.cuh — a stream of segments through an ∞-former on the GPU as
// a CUDA graph: the inference step (short-term attention over the window of cached segments, the
// long-term memory's write of the segment leaving the window and its continuous read, the logits)
// is captured once and replayed for every segment.
//
//   mnemo::CudaContext ctx;                                               // a stream of its own
//   mnemo::models::InfiniteFormer<float, mnemo::Cuda> model(config, /*seed=*/1, ctx);
//   mnemo::cuda::InfiniteFormerStream<float> stream(model, /*batch=*/1);  // captures the step
//   for (const auto& tokens : segments) {
//     stream.push(tokens);                                                // returns at once
//     if (want_logits) use(stream.logits_to_host());                      // the only synchronisation
//   }
//   auto state = stream.state();   // an InfiniteFormerState (synchronises), e.g. for io::save_state
//
// The same step as InfiniteFormer::step without a tape (infinite_former.md §9), rearranged so
// that every shape and address is fixed:
//   - the short-term window is a shift window per layer: [batch, (S + 1)·L, e] device buffers
//     (S = stm_segments), oldest segment first, the current layer input in the last slot; at
//     each step the slots move one segment towards the front (device copies) and the oldest goes
//     to a fixed "leaving" buffer, which the long-term memory writes. The keys therefore stay in
//     age order and the causal offset is always S·L: the same keys, distances and ALiBi biases as
//     the eager step's [cache ; segment].
//   - the key padding of the window shifts with it (device copies). Slots not yet filled (the
//     first S steps) are all padding: never attended, and their write is a Skip for every row,
//     which is what the eager step does by not writing.
//   - the write's per-row decisions (reset, Skip / First / Contract, has_memory,
//     tokens_written) run on the device from the leaving padding and the row state in device
//     memory (backend/continuous_write_rule.hpp, shared with ContinuousMemory::write_forward);
//     both the first fit and the contraction are computed for every row and a kernel selects.
//   - the read runs for every row; a kernel adds it only in rows that hold a memory (the eager
//     step skips the other rows: the same result).
//   - no KL term (a training regulariser; the inference step does not need it) and no host
//     values read back.
// The per-row state (has_memory, tokens_written) is the only state that varies per step besides
// the buffers, and lives in device memory updated by kernels inside the graph.
//
// Not supported (ConfigError at construction): sticky memories (their sampler draws positions on
// the host from the previous read's densities). Fixed at construction: batch, padding or not. A
// segment of another shape, padding given to a stream created without, or an id outside the
// vocabulary throws mnemo::Error (ShapeError / ValueError) before anything is queued, and the
// stream is unchanged. The model's parameters are read where they were at capture (values may
// change in place, tensors must not be replaced).
//
// The GPU results equal the eager InfiniteFormer<T, Cuda>::step within rounding, not bit for bit:
// the window attends over masked slots while it fills, and the writes and reads run batched over
// all rows. Options::graph = false runs the same step without a graph (bitwise equal to replays).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "mnemo/backend/continuous_write_rule.hpp"
#include "mnemo/backend/cuda/graph.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/backend/cuda/pinned.cuh"
#include "mnemo/backend/cuda/traits.cuh"
#include "mnemo/models/infinite_former.hpp"

namespace mnemo::cuda {

namespace detail_infinite_former_stream {

/// out[r, :] = 0 where padding[r] is set, x[r, :] otherwise (the write zeroes padded vectors).
template <class T>
struct ZeroPadded {
  const T* x;
  const uint8_t* padding;
  T* out;
  int64_t cols;
  __device__ void operator()(int64_t i) const { out[i] = padding[i / cols] ? T{} : x[i]; }
};

/// One row's write decision (continuous_write_row) from its leaving padding, in place on the
/// row state; the source of the row's new coefficients into `source`.
struct WriteDecision {
  const uint8_t* padding;  // [batch, L]
  int64_t length, reset_every;
  uint8_t* has_memory;      // [batch]
  int64_t* tokens_written;  // [batch]
  uint8_t* source;          // [batch] ContinuousWriteSource
  __device__ void operator()(int64_t b) const {
    uint8_t has = has_memory[b];
    int64_t written = tokens_written[b];
    const int64_t valid = continuous_write_valid(padding + b * length, length);
    source[b] = static_cast<uint8_t>(continuous_write_row(valid, reset_every, has, written));
    has_memory[b] = has;
    tokens_written[b] = written;
  }
};

/// coefficients[b] ← the row's source: itself, zeros, the first fit or the contraction.
template <class T>
struct SelectCoefficients {
  T* coefficients;
  const T* fit;
  const T* contraction;
  const uint8_t* source;
  int64_t per_row;
  __device__ void operator()(int64_t i) const {
    switch (static_cast<ContinuousWriteSource>(source[i / per_row])) {
      case ContinuousWriteSource::Previous: break;
      case ContinuousWriteSource::Zero: coefficients[i] = T{}; break;
      case ContinuousWriteSource::Fit: coefficients[i] = fit[i]; break;
      default: coefficients[i] = contraction[i]; break;
    }
  }
};

/// z[b] += z_ltm[b] in the rows that hold a memory (computed in compute_t<T>, rounded once).
template <class T>
struct AddWhereMemory {
  T* z;
  const T* z_ltm;
  const uint8_t* has_memory;
  int64_t per_row;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    if (has_memory[i / per_row]) z[i] = convert<T>(convert<C>(z[i]) + convert<C>(z_ltm[i]));
  }
};

}  // namespace detail_infinite_former_stream

/// An ∞-former inference step captured as a CUDA graph and replayed per segment.
template <class T>
class InfiniteFormerStream {
 public:
  using Model = models::InfiniteFormer<T, Cuda>;
  using State = typename Model::State;

  struct Options {
    bool padding = false;   // segments may carry key padding (a mask uploaded with every push)
    bool graph = true;      // false: run the same step eagerly per push (debugging, comparisons)
    int staging_slots = 2;  // pushes the host may run ahead of the GPU
  };

  /// Captures the step of `model` (on the model's context, which should own a stream: see
  /// docs/cuda.md) for `batch` rows, starting from model.initial_state(batch, seed).
  InfiniteFormerStream(const Model& model, int64_t batch, Options options, uint64_t seed = 0);
  InfiniteFormerStream(const Model& model, int64_t batch) : InfiniteFormerStream(model, batch, Options{}) {}

  InfiniteFormerStream(const InfiniteFormerStream&) = delete;
  InfiniteFormerStream& operator=(const InfiniteFormerStream&) = delete;

  int64_t batch() const { return batch_; }
  /// Segments processed: those of the state given to reset() (0 at construction) plus the pushes.
  int64_t steps() const { return steps_; }

  /// Continues from `state` (of this model and batch, its segments of segment_length tokens;
  /// copied on the model's stream). Throws StateError / ShapeError for a state that does not fit.
  void reset(const State& state);

  /// One step: tokens [batch, L] (host), padding [batch, L] (host, nonzero = padding; nullable).
  /// Asynchronous. Throws before queueing anything when a segment does not fit the stream.
  void push(const Tensor<int32_t, Cpu>& tokens, const Tensor<uint8_t, Cpu>* padding = nullptr);

  /// The same with ids already on the device ([batch, L]; padding nullable): device copies into
  /// the input buffers, then the replay. The ids are not checked on the device.
  void push_device(const Tensor<int32_t, Cuda>& tokens, const Tensor<uint8_t, Cuda>* padding = nullptr);

  /// Written by the last push: the logits [batch, L, vocab] (read on the model's stream or after).
  const Tensor<T, Cuda>& logits() const { return logits_; }

  /// SYNCHRONISES: the last push's logits in host memory.
  std::vector<T> logits_to_host() const;

  /// SYNCHRONISES: the stream state as an InfiniteFormerState (a deep copy: long-term memories,
  /// row flags, the cached segments of the window), as InfiniteFormer::step would have left it.
  State state() const;

  /// Device memory held by the graph's temporaries (none with Options::graph = false).
  MemoryStats graph_memory() const { return graph_ ? graph_->memory_stats() : MemoryStats{}; }

 private:
  using BT = BackendTraits<Cuda>;
  using C = compute_t<T>;
  using Tens = Tensor<T, Cuda>;

  void check_host(const char* who, const Shape& shape) const;
  /// Advances the stream by one segment from the input buffers (what the graph captures).
  void run_step(CudaContext& ctx);
  /// Moves the segments of a [batch, (S + 1)·L, width] window one slot to the front; the front
  /// slot goes to `leaving` [batch, L, width] and `current` [batch, L, width] fills the last slot.
  void shift(CudaContext& ctx, void* window, void* leaving, const void* current, size_t elem_bytes, int64_t width) const;
  /// The long-term memory write of layer i (the leaving segment), per row on the device.
  void write(CudaContext& ctx, size_t i);
  void replay(CudaContext& ctx);

  const Model* model_;
  CudaContext* ctx_;
  int64_t batch_, length_, stm_;
  Options opt_;
  std::vector<RngKey> keys_;     // per layer: the sticky sampler's key of the state (kept for state())
  Tensor<int32_t, Cuda> ids_;         // [batch, L]
  Tensor<uint8_t, Cuda> pad_;         // [batch, L] the current segment's padding (zeros without padding)
  Tensor<uint8_t, Cuda> key_pad_;     // [batch, (S + 1)·L] the window's padding
  Tensor<uint8_t, Cuda> leave_pad_;   // [batch, L]
  std::vector<Tens> window_, leaving_;  // per layer [batch, (S + 1)·L, e], [batch, L, e]
  std::vector<memory::ContinuousState<T, Cuda>> ltm_;  // per layer: coefficients (has_memory all 1: see run_step)
  Tensor<uint8_t, Cuda> has_memory_, source_;  // [layers, batch]
  Tensor<int64_t, Cuda> tokens_written_;       // [layers, batch]
  Tens logits_;
  PinnedStaging id_staging_, mask_staging_;
  std::vector<uint8_t> zeros_;
  std::unique_ptr<CudaGraph> graph_;
  int64_t steps_ = 0, cached_ = 0;  // cached_: real segments in the window (≤ S + 1)
};

template <class T>
InfiniteFormerStream<T>::InfiniteFormerStream(const Model& model, int64_t batch, Options options, uint64_t seed)
    : model_(&model),
      ctx_(&model.context()),
      batch_(batch),
      length_(model.config().segment_length),
      stm_(model.config().stm_segments),
      opt_(options),
      id_staging_(model.context(), sizeof(int32_t) * static_cast<size_t>((batch > 0 ? batch : 0) * length_),
                  options.staging_slots),
      mask_staging_(model.context(), options.padding ? static_cast<size_t>((batch > 0 ? batch : 0) * length_) : 0,
                    options.staging_slots) {
  require<ShapeError>(batch >= 1, "InfiniteFormerStream: batch = ", batch, ", expected >= 1");
  const auto& c = model.config();
  require<ConfigError>(!(c.use_ltm && c.ltm.sticky), "InfiniteFormerStream: the model uses sticky memories, expected "
                       "none (their sampler runs on the host; use InfiniteFormer::step)");
  Arena& arena = ctx_->arena();
  const int64_t L = length_, keys = (stm_ + 1) * L, e = c.d_model, layers = c.layers;
  ids_ = Tensor<int32_t, Cuda>(Shape{batch, L}, arena);
  BT::fill(*ctx_, ids_.data(), ids_.numel(), int32_t{0});  // valid ids for the capture runs
  pad_ = Tensor<uint8_t, Cuda>(Shape{batch, L}, arena);
  BT::fill(*ctx_, pad_.data(), pad_.numel(), uint8_t{0});
  key_pad_ = Tensor<uint8_t, Cuda>(Shape{batch, keys}, arena);
  leave_pad_ = Tensor<uint8_t, Cuda>(Shape{batch, L}, arena);
  for (int64_t i = 0; i < layers; ++i) {
    window_.emplace_back(Shape{batch, keys, e}, arena);
    leaving_.emplace_back(Shape{batch, L, e}, arena);
  }
  if (c.use_ltm) {
    const int64_t n = c.ltm.basis.count;
    for (int64_t i = 0; i < layers; ++i) {
      memory::ContinuousState<T, Cuda> s;
      s.coefficients = Tens(Shape{batch, n, e}, arena);
      s.has_memory.assign(static_cast<size_t>(batch), 1);  // the read runs for every row
      s.tokens_written.assign(static_cast<size_t>(batch), 0);
      s.has_densities.assign(static_cast<size_t>(batch), 0);
      ltm_.push_back(std::move(s));
    }
    has_memory_ = Tensor<uint8_t, Cuda>(Shape{layers, batch}, arena);
    source_ = Tensor<uint8_t, Cuda>(Shape{layers, batch}, arena);
    tokens_written_ = Tensor<int64_t, Cuda>(Shape{layers, batch}, arena);
  }
  logits_ = Tens(Shape{batch, L, c.vocab}, arena);
  BT::fill(*ctx_, logits_.data(), logits_.numel(), T{});
  reset(model.initial_state(batch, seed));
  if (opt_.graph) {
    // The capture runs the step twice (warm-up and capture) on the initial state; start again.
    graph_ = std::make_unique<CudaGraph>(*ctx_, [this](CudaContext& ctx) { run_step(ctx); });
    reset(model.initial_state(batch, seed));
  }
}

template <class T>
void InfiniteFormerStream<T>::shift(CudaContext& ctx, void* window, void* leaving, const void* current, size_t elem_bytes,
                                    int64_t width) const {
  const size_t seg = static_cast<size_t>(length_ * width) * elem_bytes, pitch = static_cast<size_t>(stm_ + 1) * seg;
  const auto rows = static_cast<size_t>(batch_);
  char* w = static_cast<char*>(window);
  BT::copy_2d(ctx, leaving, seg, w, pitch, seg, rows);
  for (int64_t k = 0; k < stm_; ++k)  // slot k ← slot k + 1, front to back: no copy overlaps a later source
    BT::copy_2d(ctx, w + static_cast<size_t>(k) * seg, pitch, w + static_cast<size_t>(k + 1) * seg, pitch, seg, rows);
  BT::copy_2d(ctx, w + static_cast<size_t>(stm_) * seg, pitch, current, seg, seg, rows);
}

template <class T>
void InfiniteFormerStream<T>::write(CudaContext& ctx, size_t i) {
  namespace d = detail_infinite_former_stream;
  const auto& mem = *model_->layer(static_cast<int64_t>(i)).memory();
  const int64_t L = length_, e = model_->config().d_model, n = mem.basis_size(), nb = batch_;
  Tens xm(Shape{nb, L, e}, ctx.arena());
  for_each(ctx, xm.numel(), d::ZeroPadded<T>{leaving_[i].data(), leave_pad_.data(), xm.data(), e}, "stream zero padded");
  const Tens xt = mem.gated(xm, nullptr, nullptr);
  const auto& ops = mem.operators()->for_length(L);
  Tens& coeffs = ltm_[i].coefficients;
  Tens fit(Shape{nb, n, e}, ctx.arena()), contraction(Shape{nb, n, e}, ctx.arena());
  // First fit B = G_Lᵀ X̃ and contraction B = G_newᵀ X̃ + contract·B_prev, for every row.
  BT::gemm(ctx, Trans::T, Trans::N, n, e, L, C(1), ops.fit.data(), n, 0, xt.data(), e, L * e, C(0), fit.data(), e, n * e, nb);
  BT::gemm(ctx, Trans::T, Trans::N, n, e, L, C(1), ops.fit_new.data(), n, 0, xt.data(), e, L * e, C(0), contraction.data(), e,
           n * e, nb);
  BT::gemm(ctx, Trans::N, Trans::N, n, e, n, C(1), ops.contract.data(), n, 0, coeffs.data(), e, n * e, C(1), contraction.data(),
           e, n * e, nb);
  const int64_t row = static_cast<int64_t>(i) * nb;
  for_each(ctx, nb,
           d::WriteDecision{leave_pad_.data(), L, mem.config().reset_every_tokens, has_memory_.data() + row,
                            tokens_written_.data() + row, source_.data() + row},
           "stream write decision");
  for_each(ctx, coeffs.numel(), d::SelectCoefficients<T>{coeffs.data(), fit.data(), contraction.data(), source_.data() + row, n * e},
           "stream select coefficients");
}

template <class T>
void InfiniteFormerStream<T>::run_step(CudaContext& ctx) {
  namespace d = detail_infinite_former_stream;
  autograd::NoGrad off;
  const auto& c = model_->config();
  const int64_t L = length_, e = c.d_model, nb = batch_;
  shift(ctx, key_pad_.data(), leave_pad_.data(), pad_.data(), sizeof(uint8_t), 1);
  Tens x0(Shape{nb, L, e}, ctx.arena());
  BT::embedding_gather(ctx, model_->embedding().weight().value.data(), ids_.data(), x0.data(), ids_.numel(), e);
  autograd::Var<T, Cuda> h(std::move(x0));
  for (size_t i = 0; i < window_.size(); ++i) {
    const auto& layer = model_->layer(static_cast<int64_t>(i));
    shift(ctx, window_[i].data(), leaving_[i].data(), h.value().data(), sizeof(T), e);
    if (c.use_ltm) write(ctx, i);
    const auto xq = layer.norm_1()(h);
    const auto xkv = layer.norm_1()(autograd::Var<T, Cuda>(window_[i]));
    nn::AttentionMask<Cuda> mask;
    mask.causal = true;
    mask.query_offset = stm_ * L;
    mask.key_padding = &key_pad_;
    mask.alibi_slopes = c.alibi ? &model_->alibi_slopes() : nullptr;
    typename nn::MultiHeadAttention<T, Cuda>::Saved saved;
    Tens z = layer.attention().forward(xq.value(), xkv.value(), mask, &saved);
    if (c.use_ltm) {
      const Tens zl = layer.memory()->read_forward(ltm_[i].coefficients, saved.q, ltm_[i], nullptr, nullptr);
      for_each(ctx, z.numel(), d::AddWhereMemory<T>{z.data(), zl.data(), has_memory_.data() + static_cast<int64_t>(i) * nb, L * e},
               "stream add memory read");
    }
    const auto x = autograd::add(ctx, h, autograd::Var<T, Cuda>(std::move(z)));
    h = autograd::add(ctx, x, layer.ffn()(layer.norm_2()(x)));
  }
  const auto hf = model_->final_norm()(h);
  const auto logits = model_->head() ? (*model_->head())(hf)
                                     : autograd::matmul(ctx, hf, model_->embedding().weight().var(), Trans::N, Trans::T);
  BT::copy_device(ctx, logits_.data(), logits.value().data(), logits_.bytes());
}

template <class T>
void InfiniteFormerStream<T>::reset(const State& state) {
  const auto& c = model_->config();
  const int64_t L = length_, e = c.d_model, keys = (stm_ + 1) * L;
  require<StateError>(state.batch == batch_ && static_cast<int64_t>(state.ltm.size()) == (c.use_ltm ? c.layers : 0),
                      "InfiniteFormerStream::reset: the state has batch ", state.batch, " and ", state.ltm.size(),
                      " long-term memories, expected batch ", batch_, " and ", c.use_ltm ? c.layers : 0,
                      " (a state of this model: initial_state(batch))");
  require<StateError>(static_cast<int64_t>(state.cache.size()) <= stm_ + 1, "InfiniteFormerStream::reset: the state caches ",
                      state.cache.size(), " segments, expected at most stm_segments + 1 = ", stm_ + 1);
  for (const auto& entry : state.cache) {
    check_shape("InfiniteFormerStream::reset: cached padding", entry.padding.shape(), {{"batch", batch_}, {"segment_length", L}});
    require<StateError>(static_cast<int64_t>(entry.inputs.size()) == c.layers, "InfiniteFormerStream::reset: a cached segment has ",
                        entry.inputs.size(), " layer inputs, expected ", c.layers);
    for (const auto& x : entry.inputs)
      check_shape("InfiniteFormerStream::reset: cached inputs", x.shape(), {{"batch", batch_}, {"segment_length", L}, {"d_model", e}});
  }
  for (const auto& s : state.ltm) {
    check_shape("InfiniteFormerStream::reset: coefficients", s.coefficients.shape(),
                {{"batch", batch_}, {"basis", c.ltm.basis.count}, {"d_model", e}});
    for (uint8_t has : s.has_densities)
      require<StateError>(has == 0, "InfiniteFormerStream::reset: the state holds sticky densities, expected none");
  }
  // Everything checked: nothing below throws for the state's contents.
  CudaContext& ctx = *ctx_;
  const int64_t empty = stm_ + 1 - static_cast<int64_t>(state.cache.size());  // front slots without a segment
  std::vector<uint8_t> key_pad(static_cast<size_t>(batch_ * keys), 1);
  for (int64_t k = 0; k < static_cast<int64_t>(state.cache.size()); ++k) {
    const auto& entry = state.cache[static_cast<size_t>(k)];
    for (int64_t b = 0; b < batch_; ++b)
      std::copy_n(entry.padding.data() + b * L, L, key_pad.begin() + b * keys + (empty + k) * L);
  }
  BT::copy_from_host(ctx, key_pad_.data(), key_pad.data(), key_pad.size());
  const size_t seg = static_cast<size_t>(L * e) * sizeof(T), pitch = static_cast<size_t>(stm_ + 1) * seg;
  for (size_t i = 0; i < window_.size(); ++i) {
    BT::fill(ctx, window_[i].data(), window_[i].numel(), T{});  // finite values under the masked slots
    for (int64_t k = 0; k < static_cast<int64_t>(state.cache.size()); ++k)
      BT::copy_2d(ctx, reinterpret_cast<char*>(window_[i].data()) + static_cast<size_t>(empty + k) * seg, pitch,
                  state.cache[static_cast<size_t>(k)].inputs[i].data(), seg, seg, static_cast<size_t>(batch_));
  }
  if (c.use_ltm) {
    std::vector<uint8_t> has;
    std::vector<int64_t> written;
    for (size_t i = 0; i < ltm_.size(); ++i) {
      BT::copy_device(ctx, ltm_[i].coefficients.data(), state.ltm[i].coefficients.data(), ltm_[i].coefficients.bytes());
      has.insert(has.end(), state.ltm[i].has_memory.begin(), state.ltm[i].has_memory.end());
      written.insert(written.end(), state.ltm[i].tokens_written.begin(), state.ltm[i].tokens_written.end());
    }
    keys_.clear();
    for (const auto& m : state.ltm) keys_.push_back(m.key);
    BT::copy_from_host(ctx, has_memory_.data(), has.data(), has.size());
    BT::copy_from_host(ctx, tokens_written_.data(), written.data(), written.size() * sizeof(int64_t));
  }
  cached_ = static_cast<int64_t>(state.cache.size());
  steps_ = state.steps;
}

template <class T>
void InfiniteFormerStream<T>::check_host(const char* who, const Shape& shape) const {
  check_shape(detail::cat("InfiniteFormerStream::push: ", who).c_str(), shape, {{"batch", batch_}, {"segment_length", length_}});
}

template <class T>
void InfiniteFormerStream<T>::replay(CudaContext& ctx) {
  if (graph_) graph_->replay();
  else run_step(ctx);
  ++steps_;
  cached_ = std::min(cached_ + 1, stm_ + 1);
}

template <class T>
void InfiniteFormerStream<T>::push(const Tensor<int32_t, Cpu>& tokens, const Tensor<uint8_t, Cpu>* padding) {
  check_host("tokens", tokens.shape());
  if (padding) {
    require<ValueError>(opt_.padding, "InfiniteFormerStream::push: the segment has padding, expected none (create the ",
                        "stream with Options::padding = true)");
    check_host("padding", padding->shape());
  }
  autograd::check_ids(BackendTraits<Cpu>::default_context(), "InfiniteFormerStream::push: tokens", tokens, model_->config().vocab);
  id_staging_.upload(ids_.data(), tokens.data(), static_cast<size_t>(tokens.numel()) * sizeof(int32_t));
  if (opt_.padding) {
    if (!padding) zeros_.assign(static_cast<size_t>(pad_.numel()), 0);
    mask_staging_.upload(pad_.data(), padding ? padding->data() : zeros_.data(), static_cast<size_t>(pad_.numel()));
  }
  replay(*ctx_);
}

template <class T>
void InfiniteFormerStream<T>::push_device(const Tensor<int32_t, Cuda>& tokens, const Tensor<uint8_t, Cuda>* padding) {
  check_shape("InfiniteFormerStream::push_device: tokens", tokens.shape(), {{"batch", batch_}, {"segment_length", length_}});
  require<ValueError>(opt_.padding || !padding, "InfiniteFormerStream::push_device: padding given, expected none (create the ",
                      "stream with Options::padding = true)");
  if (padding)
    check_shape("InfiniteFormerStream::push_device: padding", padding->shape(), {{"batch", batch_}, {"segment_length", length_}});
  BT::copy_device(*ctx_, ids_.data(), tokens.data(), ids_.bytes());
  if (opt_.padding) {
    if (padding) BT::copy_device(*ctx_, pad_.data(), padding->data(), pad_.bytes());
    else BT::fill(*ctx_, pad_.data(), pad_.numel(), uint8_t{0});
  }
  replay(*ctx_);
}

template <class T>
std::vector<T> InfiniteFormerStream<T>::logits_to_host() const {
  std::vector<T> host(static_cast<size_t>(logits_.numel()));
  BT::copy_to_host(*ctx_, host.data(), logits_.data(), logits_.bytes());
  return host;
}

template <class T>
auto InfiniteFormerStream<T>::state() const -> State {
  const auto& c = model_->config();
  CudaContext& ctx = *ctx_;
  const int64_t L = length_, e = c.d_model, keys = (stm_ + 1) * L, empty = stm_ + 1 - cached_;
  State s;
  s.batch = batch_;
  s.steps = steps_;
  std::vector<uint8_t> key_pad(static_cast<size_t>(key_pad_.numel()));
  BT::copy_to_host(ctx, key_pad.data(), key_pad_.data(), key_pad.size());
  const size_t seg = static_cast<size_t>(L * e) * sizeof(T), pitch = static_cast<size_t>(stm_ + 1) * seg;
  for (int64_t k = empty; k <= stm_; ++k) {
    typename State::CachedSegment entry;
    entry.padding = Tensor<uint8_t, Cpu>(Shape{batch_, L});
    for (int64_t b = 0; b < batch_; ++b)
      std::copy_n(key_pad.begin() + b * keys + k * L, L, entry.padding.data() + b * L);
    for (const auto& w : window_) {
      Tens x(Shape{batch_, L, e}, ctx.arena());
      BT::copy_2d(ctx, x.data(), seg, reinterpret_cast<const char*>(w.data()) + static_cast<size_t>(k) * seg, pitch, seg,
                  static_cast<size_t>(batch_));
      entry.inputs.push_back(std::move(x));
    }
    s.cache.push_back(std::move(entry));
  }
  if (c.use_ltm) {
    std::vector<uint8_t> has(static_cast<size_t>(has_memory_.numel()));
    std::vector<int64_t> written(static_cast<size_t>(tokens_written_.numel()));
    BT::copy_to_host(ctx, has.data(), has_memory_.data(), has.size());
    BT::copy_to_host(ctx, written.data(), tokens_written_.data(), written.size() * sizeof(int64_t));
    const auto nb = static_cast<size_t>(batch_);
    for (size_t i = 0; i < ltm_.size(); ++i) {
      auto m = memory::ContinuousState<T, Cuda>::empty(batch_, c.ltm.basis.count, e, keys_[i], ctx.arena());
      BT::copy_device(ctx, m.coefficients.data(), ltm_[i].coefficients.data(), m.coefficients.bytes());
      m.has_memory.assign(has.begin() + static_cast<std::ptrdiff_t>(i * nb), has.begin() + static_cast<std::ptrdiff_t>((i + 1) * nb));
      m.tokens_written.assign(written.begin() + static_cast<std::ptrdiff_t>(i * nb),
                              written.begin() + static_cast<std::ptrdiff_t>((i + 1) * nb));
      s.ltm.push_back(std::move(m));
    }
  }
  ctx.synchronize();  // the copies above are done when the state is returned
  return s;
}

}  // namespace mnemo::cuda
