// mnemo/memory/slot_state.hpp — the state of a Memformer stream: K memory slots of width d for
// every batch row, [batch, slots, d] (memformer.md §1, M_t). A value separate from the model's
// parameters: one model serves many streams, a row is reset at a document boundary without
// touching the others, and a state is copied, sliced, saved and restored bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/autograd/ops/common.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/shape.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::memory {

template <class T, class B>
class SlotState {
  using BT = BackendTraits<B>;

 public:
  SlotState() = default;
  /// Takes `slots` [batch, slots, d] (aliased, not copied).
  explicit SlotState(Tensor<T, B> slots) : slots_(std::move(slots)) {
    if (slots_.rank() != 3)
      throw ShapeError(detail::cat("SlotState: slots have shape ", slots_.shape().str(),
                                   ", expected [batch, slots, d_model]"));
  }

  bool defined() const { return slots_.defined(); }
  const Tensor<T, B>& slots() const { return slots_; }
  Tensor<T, B>& slots() { return slots_; }
  int64_t batch() const { return slots_.size(0); }
  int64_t num_slots() const { return slots_.size(1); }
  int64_t width() const { return slots_.size(2); }
  /// Bytes held: batch·slots·d elements, whatever the length of the stream read so far.
  size_t bytes() const { return slots_.bytes(); }

  /// A deep copy.
  SlotState clone() const { return SlotState(slots_.clone()); }

  /// Rows [start, start + count) as a new state (deep copy).
  SlotState rows(int64_t start, int64_t count) const { return SlotState(slots_.slice(start, count).clone()); }

  /// Row `row` of this state ← row `src_row` of `src` (same slots and width).
  void copy_row(int64_t row, const SlotState& src, int64_t src_row) {
    check_row("copy_row: row", row, batch());
    check_row("copy_row: src_row", src_row, src.batch());
    check_shape("SlotState::copy_row: source slots", src.slots_.shape(),
                {{"batch", Dim::any}, {"slots", num_slots()}, {"d_model", width()}});
    slots_.slice(row, 1).copy_from(src.slots_.slice(src_row, 1));
  }

  /// Rows whose mask entry is nonzero get `initial` [slots, d] (normalize(v), memformer.md
  /// §2.5); the other rows are left untouched, bit for bit.
  void reset_rows(const std::vector<uint8_t>& mask, const Tensor<T, B>& initial) {
    if (static_cast<int64_t>(mask.size()) != batch())
      throw ShapeError(detail::cat("SlotState::reset_rows: mask has ", mask.size(), " entries, expected batch=",
                                   batch()));
    check_shape("SlotState::reset_rows: initial", initial.shape(), {{"slots", num_slots()}, {"d_model", width()}});
    BT::select_rows(BT::default_context(), mask.data(), initial.data(), 0, slots_.data(), slots_.data(), batch(),
                    num_slots() * width());
  }

  /// Throws ShapeError unless the state is [batch, slots, d] with the given extents (Dim::any
  /// accepts any batch), and ValueError if it holds NaN or Inf.
  void check(const char* who, int64_t expected_batch, int64_t slots, int64_t d) const {
    if (!defined()) throw StateError(detail::cat(who, ": the memory state is empty (use initial_state(batch))"));
    const Label what(who, ": memory state");
    if (batch() < 1)
      throw ShapeError(detail::cat(what, " has shape ", slots_.shape().str(), ", expected batch >= 1"));
    check_shape(what, slots_.shape(), {{"batch", expected_batch}, {"slots", slots}, {"d_model", d}});
    autograd::check_finite(BT::default_context(), what, slots_);
  }

 private:
  static void check_row(const char* what, int64_t row, int64_t rows) {
    if (row < 0 || row >= rows)
      throw ShapeError(detail::cat("SlotState::", what, " = ", row, ", expected 0 <= row < batch=", rows));
  }

  Tensor<T, B> slots_;
};

}  // namespace mnemo::memory
