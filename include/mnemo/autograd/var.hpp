// mnemo/autograd/var.hpp — Var<T, Backend>: a tensor value plus, when it takes part in
// differentiation, a shared gradient slot. Ops read the slots of their outputs and accumulate
// into the slots of their inputs during the reverse sweep (mnemo/autograd/tape.hpp).
#pragma once

#include <memory>
#include <utility>

#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::autograd {

/// Type-erased part of a gradient slot, as the tape sees it.
class GradSlotBase {
 public:
  virtual ~GradSlotBase() = default;
  virtual bool has_grad() const = 0;
  /// Drops the gradient of an intermediate value once its producer has consumed it.
  virtual void release() = 0;
};

/// Where the gradient of one value accumulates.
///  - intermediate: filled during the sweep, released after its producer ran;
///  - leaf: kept after the sweep (a user input such as a memory state);
///  - persistent: a parameter's gradient buffer, always allocated, accumulated in place.
template <class T, class Backend>
class GradSlot final : public GradSlotBase {
 public:
  enum class Kind { Intermediate, Leaf, Persistent };

  GradSlot(Shape shape, Arena& arena, Kind kind) : shape_(shape), arena_(&arena), kind_(kind) {}
  /// A persistent slot over an existing gradient buffer (a parameter's).
  explicit GradSlot(Tensor<T, Backend> buffer)
      : shape_(buffer.shape()), arena_(buffer.arena()), kind_(Kind::Persistent), grad_(std::move(buffer)) {}

  bool has_grad() const override { return grad_.defined(); }
  void release() override {
    if (kind_ == Kind::Intermediate) grad_ = Tensor<T, Backend>{};
  }
  Kind kind() const { return kind_; }
  const Shape& shape() const { return shape_; }
  const Tensor<T, Backend>& grad() const { return grad_; }

  /// Adds `g` (same element count). When no gradient is held yet, `g` is taken over without a
  /// copy if nothing else aliases it (pass it with std::move), and copied otherwise.
  void accumulate(Context<Backend>& ctx, Tensor<T, Backend> g) {
    check(g.shape());
    if (!grad_.defined()) {
      grad_ = g.unique() ? std::move(g) : g.clone();
      grad_ = grad_.reshape(shape_);
      return;
    }
    BackendTraits<Backend>::template axpby<T>(ctx, grad_.numel(), compute_t<T>(1), g.data(),
                                              compute_t<T>(1), grad_.data());
  }

  /// For kernels that accumulate themselves (GEMM with beta): the buffer to write into and the
  /// beta to use: 0 for a freshly allocated buffer, 1 when a gradient is already held.
  std::pair<T*, compute_t<T>> accumulation_target() {
    if (grad_.defined()) return {grad_.data(), compute_t<T>(1)};
    grad_ = Tensor<T, Backend>(shape_, *arena_);
    return {grad_.data(), compute_t<T>(0)};
  }

  /// A buffer holding the gradient so far, zero-filled if none: for kernels that only add.
  T* zeroed_target() {
    if (!grad_.defined()) {
      grad_ = Tensor<T, Backend>(shape_, *arena_);
      grad_.zero();
    }
    return grad_.data();
  }

  /// Replaces the gradient (seeding the reverse sweep).
  void set(Tensor<T, Backend> g) {
    check(g.shape());
    if (kind_ == Kind::Persistent) grad_.copy_from(g);
    else grad_ = (g.unique() ? std::move(g) : g.clone()).reshape(shape_);
  }
  /// Clears a leaf's gradient (a persistent one is zero-filled instead).
  void zero() {
    if (kind_ == Kind::Persistent) grad_.zero();
    else grad_ = Tensor<T, Backend>{};
  }

 private:
  void check(const Shape& s) const {
    if (s.numel() != shape_.numel())
      throw ShapeError(detail::cat("gradient of shape ", s.str(), " for a value of shape ", shape_.str()));
  }
  Shape shape_;
  Arena* arena_;
  Kind kind_;
  Tensor<T, Backend> grad_;
};

template <class T, class Backend = Cpu>
class Var {
 public:
  using Slot = GradSlot<T, Backend>;
  using value_type = T;
  using backend = Backend;

  Var() = default;
  /// A constant: no gradient is recorded for it.
  Var(Tensor<T, Backend> value) : value_(std::move(value)) {}  // NOLINT(implicit)
  Var(Tensor<T, Backend> value, std::shared_ptr<Slot> slot)
      : value_(std::move(value)), slot_(std::move(slot)) {}

  /// A leaf whose gradient is recorded and kept after the reverse sweep.
  static Var leaf(Tensor<T, Backend> value) {
    auto slot = std::make_shared<Slot>(value.shape(), *value.arena(), Slot::Kind::Leaf);
    return Var(std::move(value), std::move(slot));
  }

  const Tensor<T, Backend>& value() const { return value_; }
  const Shape& shape() const { return value_.shape(); }
  int64_t numel() const { return value_.numel(); }
  const T* data() const { return value_.data(); }
  bool defined() const { return value_.defined(); }

  bool requires_grad() const { return slot_ != nullptr; }
  const std::shared_ptr<Slot>& slot() const { return slot_; }

  /// The accumulated gradient of a leaf (or a parameter) after a reverse sweep.
  const Tensor<T, Backend>& grad() const {
    if (!slot_) throw StateError("grad(): this value does not record a gradient (make it a Var::leaf)");
    if (!slot_->has_grad())
      throw StateError("grad(): no gradient has reached this value (run tape.backward first)");
    return slot_->grad();
  }
  bool has_grad() const { return slot_ && slot_->has_grad(); }
  void zero_grad() {
    if (slot_) slot_->zero();
  }

  /// The same value, cut from the graph.
  Var detach() const { return Var(value_); }

 private:
  Tensor<T, Backend> value_;
  std::shared_ptr<Slot> slot_;
};

}  // namespace mnemo::autograd
