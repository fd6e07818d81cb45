// mnemo/train/recurrent_cell.hpp — what memory replay back-propagation needs from a model: the
// train::RecurrentCell concept (docs/mrbp.md).
//
// A recurrent cell maps (S_t, x_t, k_t) to (S_{t+1}, o_t, ℓ_t): state S_t (N tensors), the step's
// input x_t, its random key k_t (dropout) → the next state, an output o_t (what a following cell
// reads) and a loss ℓ_t. Training minimises L = Σ_t w_t·ℓ_t over a rollout of T steps.
//
// Why MRBP's gradient equals BPTT's. BPTT records all T steps and sweeps once. By the chain rule
// the gradient reaching S_{t+1} from everything after step t is
//     g_{t+1} = ∂L/∂S_{t+1} = Σ_{u>t} w_u·∂ℓ_u/∂S_{t+1}   (g_T = 0),
// and step t's share of every parameter gradient is the vector–Jacobian product of step t alone
// with the two seeds (w_t on ℓ_t, g_{t+1} on S_{t+1}), which also yields g_t on S_t. MRBP
// computes exactly these products, newest step first, re-recording one step at a time from a
// leaf holding S_t. It needs S_t for every t, so phase 1 runs the critical path
// (S_t, x_t, k_t) → S_{t+1} forward without the tape and keeps the T+1 states. The products are
// BPTT's only if the replayed step is the step phase 1 ran: same S_t, same x_t, same key, so the
// same S_{t+1} bit for bit (TrainerOptions::check_replay verifies this).
//
// What must be deterministic given (S_t, x_t, k_t): the next state and the output, computed
// under CellPart::CriticalPath without the tape, must equal those computed under
// CellPart::WithLoss while the tape records, bit for bit. So every random draw comes from the
// key (counter-based RngKey, no generator that advances), the draws of the state path never
// depend on whether the loss head ran (derive separate sub-keys), and nothing else feeds the
// step: no counter, cache or clock in the cell, no state held outside S_t.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mnemo/autograd/var.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::train {

/// The state a cell carries between steps: N tensors (one memory, or several).
template <class T, class B, size_t N>
using CellState = std::array<Tensor<T, B>, N>;

/// The same state as it enters a recorded step: one Var per tensor (a tape leaf in MRBP's
/// replay, a constant in phase 1 and at the start of BPTT).
template <class T, class B, size_t N>
using CellVars = std::array<autograd::Var<T, B>, N>;

/// How much of a step the trainer asks for.
enum class CellPart {
  CriticalPath,  ///< the next state and the output; the loss may be skipped (phase 1, loss weight 0)
  WithLoss,      ///< the next state, the output and the loss
};

/// One term of a step's loss: `scale`·`value` enters ℓ_t.
template <class T, class B>
struct LossTerm {
  autograd::Var<T, B> value;  ///< a one-element loss
  double scale = 1.0;         ///< its weight inside ℓ_t (a composite's mix of its cells' losses)
};

/// What one step of a cell produces.
template <class T, class B, size_t N>
struct CellStep {
  CellVars<T, B, N> next;                 ///< S_{t+1}: a function of (S_t, x_t, key) only
  autograd::Var<T, B> output;             ///< o_t, what a following cell reads (undefined: none)
  std::vector<LossTerm<T, B>> losses;     ///< ℓ_t = Σ scale·value (empty under CriticalPath)
  int64_t tokens = 0;                     ///< targets that carried loss (reported, not used)
};

namespace cell_detail {
template <class S>
struct state_arity {
  static constexpr bool valid = false;
  static constexpr size_t size = 0;
};
template <class T, class B, size_t N>
struct state_arity<std::array<Tensor<T, B>, N>> {
  static constexpr bool valid = N >= 1;
  static constexpr size_t size = N;
};
}  // namespace cell_detail

/// A model MRBP (train::Mrbp<Cell>) and BPTT (train::Bptt<Cell>) can train. A type C provides:
///  - `value_type`, `backend`: the element type T and backend B of its tensors;
///  - `State` = CellState<T, B, N> (N ≥ 1) and `Input`, what one step reads;
///  - `c.step(vars, x, key, part)` (const) → CellStep<T, B, N>: one step from the state `vars`;
///    under CriticalPath it must produce `next` (and `output`), under WithLoss also `losses`.
///    `next` and `output` must not depend on `part` or on whether a tape records (see the top of
///    this file for why);
///  - `c.parameter_stores()` → std::vector<nn::ParameterStore<T, B>*>: where the gradients go.
template <class C>
concept RecurrentCell =
    requires {
      typename C::value_type;
      typename C::backend;
      typename C::Input;
      typename C::State;
    } &&
    cell_detail::state_arity<typename C::State>::valid &&
    std::same_as<typename C::State,
                 CellState<typename C::value_type, typename C::backend, cell_detail::state_arity<typename C::State>::size>> &&
    requires(const C& cell, C& mutable_cell,
             const CellVars<typename C::value_type, typename C::backend, cell_detail::state_arity<typename C::State>::size>& vars,
             const typename C::Input& input, const RngKey& key, CellPart part) {
      { cell.step(vars, input, key, part) } -> std::same_as<CellStep<typename C::value_type, typename C::backend,
                                                                     cell_detail::state_arity<typename C::State>::size>>;
      { mutable_cell.parameter_stores() } -> std::same_as<std::vector<nn::ParameterStore<typename C::value_type, typename C::backend>*>>;
    };

/// The number of tensors in a cell's state.
template <RecurrentCell C>
inline constexpr size_t state_size_v = cell_detail::state_arity<typename C::State>::size;

}  // namespace mnemo::train
