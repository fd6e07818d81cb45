// mnemo/models/memformer_stream.cuh — a stream of segments through a Memformer on the GPU as a
// CUDA graph: the inference step (encoder, writer + BMN, and optionally the decoder's logits for
// the next segment) is captured once and replayed for every segment.
//
//   mnemo::CudaContext ctx;                                        // a stream of its own
//   mnemo::models::Memformer<float, mnemo::Cuda> model(config, /*seed=*/1, ctx);
//   mnemo::cuda::MemformerStream<float> stream(model, /*batch=*/1); // captures the step
//   for (size_t t = 0; t + 1 < segments.size(); ++t) {
//     stream.push(segments[t], &segments[t + 1]);                  // returns at once
//     if (want_logits) use(stream.logits_to_host());               // the only synchronisation
//   }
//   auto state = stream.state();                                  // M after the last push
//
// push() checks the ids on the host, copies the segment into pinned staging and from there into
// the stream's fixed input buffers with one cudaMemcpyAsync per kind (ids, masks) on the model's
// stream, then launches the graph: no host synchronisation per step. The host waits only when it
// is more than `staging_slots` segments ahead of the GPU (it then waits for the copy issued that
// many pushes earlier). The graph updates the state in place, so step t + 1 reads what step t
// wrote, and writes the logits, the encoder output and the state into fixed buffers that stay
// valid until the next push.
//
// Fixed at construction: batch, whether inputs carry padding, whether logits are computed. A
// segment of another shape, or padding given to a stream created without, throws mnemo::Error
// (ShapeError / ValueError) naming what was expected and what came, before anything is queued:
// create a new stream (a new capture) for another shape. The model must not change (no training)
// while a stream uses it: the graph reads the parameters where they were at capture, which
// optimizer steps update in place, so values may change but tensors must not be replaced.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "mnemo/backend/cuda/graph.cuh"
#include "mnemo/backend/cuda/pinned.cuh"
#include "mnemo/backend/cuda/traits.cuh"
#include "mnemo/models/memformer.hpp"

namespace mnemo::cuda {

/// A Memformer inference step captured as a CUDA graph and replayed per segment.
template <class T>
class MemformerStream {
 public:
  using Model = models::Memformer<T, Cuda>;
  using State = typename Model::State;
  using Segment = train::Segment;

  struct Options {
    bool logits = true;      // decode the target segment given to push (its logits)
    bool padding = false;    // inputs may carry key padding (masks uploaded with every push)
    int staging_slots = 2;   // pushes the host may run ahead of the GPU
  };

  /// Captures the step of `model` (on the model's context, which should own a stream: see
  /// docs/cuda.md) for `batch` rows, starting from model.initial_state(batch).
  MemformerStream(const Model& model, int64_t batch, Options options);
  MemformerStream(const Model& model, int64_t batch) : MemformerStream(model, batch, Options{}) {}

  MemformerStream(const MemformerStream&) = delete;
  MemformerStream& operator=(const MemformerStream&) = delete;

  int64_t batch() const { return batch_; }
  /// Segments pushed since construction or the last reset().
  int64_t steps() const { return steps_; }

  /// Continues from `state` ([batch, K, d]; copied on the model's stream, asynchronously).
  void reset(const State& state);

  /// One step: reads `input` with the current state, advances the state and, when the stream
  /// computes logits, the decoder's logits for `target` (required then, ignored otherwise).
  /// Asynchronous. Throws before queueing anything when a segment does not fit the stream.
  void push(const Segment& input, const Segment* target = nullptr);

  /// The same with ids already on the device ([batch, L] each; masks nullable): device copies
  /// into the input buffers, then the replay. The ids are not checked (see step_on_device).
  void push_device(const Tensor<int32_t, Cuda>& tokens, const Tensor<int32_t, Cuda>* target = nullptr,
                   const Tensor<uint8_t, Cuda>* padding = nullptr, const Tensor<uint8_t, Cuda>* target_padding = nullptr);

  /// Device buffers written by the last push (read them on the model's stream or after it).
  const Tensor<T, Cuda>& logits() const { return logits_; }  // [batch, L, vocab] (undefined without logits)
  const Tensor<T, Cuda>& hidden() const { return hidden_; }  // H_t [batch, L, d]
  const State& state() const { return state_; }              // M_{t+1} [batch, K, d]

  /// SYNCHRONISES: the last push's logits in host memory.
  std::vector<T> logits_to_host() const;

  /// Device memory held by the graph's temporaries.
  MemoryStats graph_memory() const { return graph_->memory_stats(); }

 private:
  void check_segment(const char* who, const Segment& s) const;
  void check_device(const char* who, const Shape& shape) const;
  /// The captured work: one step from the fixed buffers into the fixed buffers.
  void run_step(CudaContext& ctx);

  const Model* model_;
  CudaContext* ctx_;
  int64_t batch_, length_;
  Options opt_;
  Tensor<int32_t, Cuda> ids_;   // [2·batch, L]: input rows, then target rows
  Tensor<uint8_t, Cuda> masks_;  // [2·batch, L] likewise (with padding only)
  Tensor<int32_t, Cuda> tokens_, target_;
  Tensor<uint8_t, Cuda> padding_, target_padding_;
  State state_;
  Tensor<T, Cuda> logits_, hidden_;
  PinnedStaging id_staging_, mask_staging_;
  std::vector<int32_t> id_host_;
  std::vector<uint8_t> mask_host_;
  std::unique_ptr<CudaGraph> graph_;
  int64_t steps_ = 0;
};

template <class T>
MemformerStream<T>::MemformerStream(const Model& model, int64_t batch, Options options)
    : model_(&model),
      ctx_(&model.context()),
      batch_(batch),
      length_(model.config().segment_length),
      opt_(options),
      id_staging_(model.context(), sizeof(int32_t) * static_cast<size_t>(2 * (batch > 0 ? batch : 0) * length_),
                  options.staging_slots),
      mask_staging_(model.context(), options.padding ? static_cast<size_t>(2 * (batch > 0 ? batch : 0) * length_) : 0,
                    options.staging_slots) {
  require<ShapeError>(batch >= 1, "MemformerStream: batch = ", batch, ", expected >= 1");
  const auto& c = model.config();
  Arena& arena = ctx_->arena();
  ids_ = Tensor<int32_t, Cuda>(Shape{2 * batch, length_}, arena);
  BackendTraits<Cuda>::fill(*ctx_, ids_.data(), ids_.numel(), int32_t{0});  // valid ids for the capture runs
  tokens_ = ids_.slice(0, batch);
  target_ = ids_.slice(batch, batch);
  if (opt_.padding) {
    masks_ = Tensor<uint8_t, Cuda>(Shape{2 * batch, length_}, arena);
    BackendTraits<Cuda>::fill(*ctx_, masks_.data(), masks_.numel(), uint8_t{0});
    padding_ = masks_.slice(0, batch);
    target_padding_ = masks_.slice(batch, batch);
  }
  state_ = State(Tensor<T, Cuda>(Shape{batch, c.slots, c.d_model}, arena));
  hidden_ = Tensor<T, Cuda>(Shape{batch, length_, c.d_model}, arena);
  if (opt_.logits) logits_ = Tensor<T, Cuda>(Shape{batch, length_, c.vocab}, arena);
  reset(model.initial_state(batch));
  // The capture runs the step twice (warm-up and capture) on the initial state; start again.
  graph_ = std::make_unique<CudaGraph>(*ctx_, [this](CudaContext& ctx) { run_step(ctx); });
  reset(model.initial_state(batch));
}

template <class T>
void MemformerStream<T>::run_step(CudaContext& ctx) {
  const auto out = model_->step_on_device(state_, tokens_, opt_.padding ? &padding_ : nullptr,
                                          opt_.logits ? &target_ : nullptr,
                                          opt_.logits && opt_.padding ? &target_padding_ : nullptr);
  // The next state is a temporary of the step: copied over the state at the end (in place).
  BackendTraits<Cuda>::copy_device(ctx, state_.slots().data(), out.next.slots().data(), state_.slots().bytes());
  BackendTraits<Cuda>::copy_device(ctx, hidden_.data(), out.hidden.data(), hidden_.bytes());
  if (opt_.logits) BackendTraits<Cuda>::copy_device(ctx, logits_.data(), out.logits.data(), logits_.bytes());
}

template <class T>
void MemformerStream<T>::reset(const State& state) {
  const auto& c = model_->config();
  state.check("MemformerStream::reset", batch_, c.slots, c.d_model);
  BackendTraits<Cuda>::copy_device(*ctx_, state_.slots().data(), state.slots().data(), state_.slots().bytes());
  steps_ = 0;
}

template <class T>
void MemformerStream<T>::check_segment(const char* who, const Segment& s) const {
  check_shape(detail::cat("MemformerStream::push: ", who, " tokens").c_str(), s.tokens.shape(),
              {{"batch", batch_}, {"segment_length", length_}});
  if (s.has_padding()) {
    require<ValueError>(opt_.padding, "MemformerStream::push: the ", who,
                        " segment has padding, expected none (create the stream with Options::padding = true)");
    check_shape(detail::cat("MemformerStream::push: ", who, " padding").c_str(), s.padding.shape(),
                {{"batch", batch_}, {"segment_length", length_}});
  }
  autograd::check_ids(BackendTraits<Cpu>::default_context(), detail::cat("MemformerStream::push: ", who, " tokens").c_str(),
                      s.tokens, model_->config().vocab);
}

template <class T>
void MemformerStream<T>::push(const Segment& input, const Segment* target) {
  check_segment("input", input);
  if (opt_.logits) {
    require<ValueError>(target != nullptr, "MemformerStream::push: no target segment, expected one (the stream ",
                        "computes logits; create it with Options::logits = false to only advance the state)");
    check_segment("target", *target);
  }
  const size_t n = static_cast<size_t>(batch_ * length_);
  id_host_.assign(2 * n, 0);
  std::copy_n(input.tokens.data(), n, id_host_.begin());
  if (opt_.logits) std::copy_n(target->tokens.data(), n, id_host_.begin() + static_cast<std::ptrdiff_t>(n));
  id_staging_.upload(ids_.data(), id_host_.data(), id_host_.size() * sizeof(int32_t));
  if (opt_.padding) {
    mask_host_.assign(2 * n, 0);
    if (input.has_padding()) std::copy_n(input.padding.data(), n, mask_host_.begin());
    if (opt_.logits && target->has_padding())
      std::copy_n(target->padding.data(), n, mask_host_.begin() + static_cast<std::ptrdiff_t>(n));
    mask_staging_.upload(masks_.data(), mask_host_.data(), mask_host_.size());
  }
  graph_->replay();
  ++steps_;
}

template <class T>
void MemformerStream<T>::check_device(const char* who, const Shape& shape) const {
  check_shape(detail::cat("MemformerStream::push_device: ", who).c_str(), shape,
              {{"batch", batch_}, {"segment_length", length_}});
}

template <class T>
void MemformerStream<T>::push_device(const Tensor<int32_t, Cuda>& tokens, const Tensor<int32_t, Cuda>* target,
                                     const Tensor<uint8_t, Cuda>* padding, const Tensor<uint8_t, Cuda>* target_padding) {
  check_device("tokens", tokens.shape());
  if (opt_.logits) {
    require<ValueError>(target != nullptr, "MemformerStream::push_device: no target, expected one (the stream computes logits)");
    check_device("target", target->shape());
  }
  require<ValueError>(opt_.padding || (!padding && !target_padding),
                      "MemformerStream::push_device: padding given, expected none (create the stream with Options::padding = true)");
  if (padding) check_device("padding", padding->shape());
  if (target_padding) check_device("target padding", target_padding->shape());
  using BT = BackendTraits<Cuda>;
  BT::copy_device(*ctx_, tokens_.data(), tokens.data(), tokens_.bytes());
  if (opt_.logits) BT::copy_device(*ctx_, target_.data(), target->data(), target_.bytes());
  if (opt_.padding) {
    if (padding) BT::copy_device(*ctx_, padding_.data(), padding->data(), padding_.bytes());
    else BT::fill(*ctx_, padding_.data(), padding_.numel(), uint8_t{0});
    if (target_padding) BT::copy_device(*ctx_, target_padding_.data(), target_padding->data(), target_padding_.bytes());
    else BT::fill(*ctx_, target_padding_.data(), target_padding_.numel(), uint8_t{0});
  }
  graph_->replay();
  ++steps_;
}

template <class T>
std::vector<T> MemformerStream<T>::logits_to_host() const {
  require<StateError>(opt_.logits, "MemformerStream::logits_to_host: the stream computes no logits (Options::logits = false)");
  std::vector<T> host(static_cast<size_t>(logits_.numel()));
  BackendTraits<Cuda>::copy_to_host(*ctx_, host.data(), logits_.data(), logits_.bytes());
  return host;
}

}  // namespace mnemo::cuda
