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
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "mnemo/autograd/var.hpp"
#include "mnemo/core/error.hpp"

namespace mnemo::autograd {

class Tape {
 public:
  using Backward = std::function<void()>;

  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  /// Appends a node. `outputs` are the slots of the values the node produced: the node runs in
  /// the sweep only if one of them holds a gradient, and their gradients are released after it.
  void record(Backward backward, std::vector<std::shared_ptr<GradSlotBase>> outputs) {
    nodes_.push_back(Node{std::move(backward), std::move(outputs)});
  }

  size_t size() const { return nodes_.size(); }
  /// A position to come back to with rewind().
  size_t mark() const { return nodes_.size(); }
  /// Drops every node recorded after `mark`, with its saved tensors.
  void rewind(size_t mark) {
    if (mark > nodes_.size())
      throw StateError(detail::cat("rewind(", mark, "): the tape holds only ", nodes_.size(), " nodes"));
    nodes_.resize(mark);
  }
  void clear() { nodes_.clear(); }

  /// Sets the gradient that flows into `v` from outside the recorded graph.
  template <class T, class B>
  void seed(const Var<T, B>& v, Tensor<T, B> grad) {
    if (!v.requires_grad())
      throw StateError("seed(): the value does not record a gradient (was it computed under NoGrad?)");
    v.slot()->set(std::move(grad));
  }

  /// Reverse sweep over nodes [from, end). Seed first (seed(), or backward(loss)).
  void backward(size_t from = 0) {
    if (from > nodes_.size())
      throw StateError(detail::cat("backward(", from, "): the tape holds only ", nodes_.size(), " nodes"));
    for (size_t i = nodes_.size(); i-- > from;) {
      Node& node = nodes_[i];
      bool any = false;
      for (const auto& s : node.outputs) any = any || s->has_grad();
      if (!any) continue;  // nothing flows through this node
      node.backward();
      for (const auto& s : node.outputs) s->release();
    }
  }

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
  std::vector<Node> nodes_;
};

}  // namespace mnemo::autograd

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
