// mnemo/autograd/tape.hpp — the tape: a flat list of backward closures in execution order (a
// Wengert list). Running it backwards is a valid reverse-mode sweep because every node was
// recorded after the nodes that produced its inputs.
//
//   Tape tape;
//   { Recording on(tape); loss = model(...); }   // ops record while a Recording is active
//   tape.backward(loss);                          // gradients land in leaves and parameters
//   tape.rewind(0);                               // frees the saved activations
//
// mark()/rewind() let MRBP drop one segment's part and record it again; NoGrad suspends
// recording (inference, MRBP's first pass).
//
// Final gradients (data-parallel overlap, docs/distributed.md). A trainer calls final_sweep()
// before recording the part of a rollout whose reverse sweep is the rollout's last. If a
// GradientObserver is installed on the thread (ObserveGradients), the tape then notes the tape
// position at which each parameter is first used (Parameter::var and the fused layers call
// note_use), and the sweep reports a parameter's gradient as final as soon as it has run every
// node recorded at or after that position: no later node can add to it.
#pragma once

#include <functional>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mnemo/autograd/var.hpp"
#include "mnemo/core/error.hpp"

namespace mnemo::autograd {

/// Told, during a rollout's last reverse sweep, that a parameter's gradient is final (see the top
/// of this file). Install one on a thread with ObserveGradients.
class GradientObserver {
 public:
  virtual ~GradientObserver() = default;
  /// The last sweep starts; `used` holds the slots its nodes may add to. Any other parameter's
  /// gradient is already final (no node left to run touches it).
  virtual void final_sweep_begins(const std::unordered_set<const GradSlotBase*>& used) = 0;
  /// `slot` (a parameter's persistent slot) will receive no further gradient in this rollout.
  virtual void gradient_final(const GradSlotBase& slot) = 0;
};

}  // namespace mnemo::autograd

namespace mnemo::detail {
inline thread_local autograd::GradientObserver* g_gradient_observer = nullptr;
}  // namespace mnemo::detail

namespace mnemo::autograd {

/// Installs `observer` on this thread for the scope's lifetime (the previous one is restored).
class ObserveGradients {
 public:
  explicit ObserveGradients(GradientObserver& observer) : previous_(detail::g_gradient_observer) {
    detail::g_gradient_observer = &observer;
  }
  ~ObserveGradients() { detail::g_gradient_observer = previous_; }
  ObserveGradients(const ObserveGradients&) = delete;
  ObserveGradients& operator=(const ObserveGradients&) = delete;

 private:
  GradientObserver* previous_;
};

class Tape {
 public:
  using Backward = std::function<void()>;

  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// Appends a node. `outputs` are the slots of the values the node produced: the node runs in
  /// the sweep only if one of them holds a gradient, and their gradients are released after it.
  void record(Backward backward, std::vector<std::shared_ptr<GradSlotBase>> outputs);

  size_t size() const { return nodes_.size(); }
  /// A position to come back to with rewind().
  size_t mark() const { return nodes_.size(); }
  /// Drops every node recorded after `mark`, with its saved tensors.
  void rewind(size_t mark);
  void clear();

  /// The part recorded from now on is swept last in this rollout: with a GradientObserver on the
  /// thread, first uses of parameters are noted and the next backward() reports final gradients.
  void final_sweep();
  /// A node recorded from now on may add to `slot`'s gradient (only noted after final_sweep()).
  void note_use(const GradSlotBase* slot);

  /// Sets the gradient that flows into `v` from outside the recorded graph.
  template <class T, class B>
  void seed(const Var<T, B>& v, Tensor<T, B> grad) {
    if (!v.requires_grad())
      throw StateError("seed(): the value does not record a gradient (was it computed under NoGrad?)");
    v.slot()->set(std::move(grad));
  }

  /// Reverse sweep over nodes [from, end). Seed first (seed(), or backward(loss)).
  void backward(size_t from = 0);

  /// Seeds d(loss)/d(loss) = weight for a one-element loss and runs the whole sweep.
  template <class T, class B>
  void backward(const Var<T, B>& loss, T weight = T(1)) {
    if (loss.numel() != 1)
      throw ShapeError(detail::cat("backward(loss): loss must hold one element, it has shape ", loss.shape().str()));
    seed(loss, Tensor<T, B>::full(loss.shape(), weight));
    backward(size_t{0});
  }

 private:
  struct Node {
    Backward backward;
    std::vector<std::shared_ptr<GradSlotBase>> outputs;
  };
  // Every node at or after `swept` has run: a slot first used there is final.
  void report_final(size_t swept);

  std::vector<Node> nodes_;
  GradientObserver* observer_ = nullptr;                       // set by final_sweep()
  std::vector<std::pair<size_t, const GradSlotBase*>> first_uses_;  // (tape position, slot), ascending
  std::unordered_set<const GradSlotBase*> seen_;
};

}  // namespace mnemo::autograd

// Tape's members above that are not templates: inline here in the header-only mode; in the
// compiled mode (MNEMO_COMPILED) compiled once in mnemo::compiled (src/compiled/backend_nn_float.cpp),
// so a user TU does not instantiate the node list's and the observer set's members.
#if !defined(MNEMO_COMPILED)
#include "mnemo/autograd/tape_members.hpp"
#endif

namespace mnemo::detail {
inline thread_local autograd::Tape* g_active_tape = nullptr;
inline thread_local int g_no_grad_depth = 0;
}  // namespace mnemo::detail

namespace mnemo::autograd {

/// The tape ops record into on this thread, or nullptr (none active, or inside NoGrad).
inline Tape* recording_tape() {
  return detail::g_no_grad_depth == 0 ? detail::g_active_tape : nullptr;
}

/// Makes `tape` the active tape of this thread for the scope's lifetime.
class Recording {
 public:
  explicit Recording(Tape& tape) : previous_(detail::g_active_tape), previous_depth_(detail::g_no_grad_depth) {
    detail::g_active_tape = &tape;
    detail::g_no_grad_depth = 0;
  }
  ~Recording() {
    detail::g_active_tape = previous_;
    detail::g_no_grad_depth = previous_depth_;
  }
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

 private:
  Tape* previous_;
  int previous_depth_;
};

/// Suspends recording on this thread for the scope's lifetime.
class NoGrad {
 public:
  NoGrad() { ++detail::g_no_grad_depth; }
  ~NoGrad() { --detail::g_no_grad_depth; }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;
};

/// True when an op with these inputs must record a node.
template <class... Vars>
bool should_record(const Vars&... inputs) {
  return recording_tape() != nullptr && (inputs.requires_grad() || ...);
}

/// A fresh output Var; it gets an intermediate gradient slot when `track` is set.
template <class T, class B>
Var<T, B> make_output(Tensor<T, B> value, bool track) {
  if (!track) return Var<T, B>(std::move(value));
  auto slot = std::make_shared<GradSlot<T, B>>(value.shape(), *value.arena(),
                                               GradSlot<T, B>::Kind::Intermediate);
  return Var<T, B>(std::move(value), std::move(slot));
}

}  // namespace mnemo::autograd
