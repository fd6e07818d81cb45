// mnemo/train/series_cell.hpp — two recurrent cells in series as one train::RecurrentCell.
//
//   step t:  (S^a_{t+1}, o^a_t, ℓ^a_t) = A(S^a_t, x_t, k_t.derive("first"))
//            (S^b_{t+1}, o^b_t, ℓ^b_t) = B(S^b_t, link(x_t, o^a_t), k_t.derive("second"))
//            S_t = (S^a_t, S^b_t),  o_t = o^b_t,  ℓ_t = mix.first·ℓ^a_t + mix.second·ℓ^b_t
//
// Both cells carry state; the second reads the first's output through `link`, a callable
// (const A::Input&, const Var& o^a_t) → B::Input, so B's state is on the critical path of the
// pair and A's output must be part of A's critical path (A computes it under
// CellPart::CriticalPath, identically with and without the loss). The loss may read either
// cell: A's loss reads A's outputs, B's loss may read o^a_t (its input holds it) and its own.
// Gradients reach A's parameters and state through both losses and through B's state.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/train/recurrent_cell.hpp"

namespace mnemo::train {

/// How the series' loss mixes its cells' losses (0: that cell's loss is not computed).
struct SeriesLoss {
  double first = 1.0;
  double second = 1.0;
};

template <RecurrentCell First, RecurrentCell Second, class Link>
  requires std::same_as<typename First::value_type, typename Second::value_type> &&
           std::same_as<typename First::backend, typename Second::backend> &&
           std::is_invocable_r_v<typename Second::Input, const Link&, const typename First::Input&,
                                 const autograd::Var<typename First::value_type, typename First::backend>&>
class Series {
 public:
  using value_type = typename First::value_type;
  using backend = typename First::backend;
  static constexpr size_t first_size = state_size_v<First>;
  static constexpr size_t second_size = state_size_v<Second>;
  using State = CellState<value_type, backend, first_size + second_size>;
  using Input = typename First::Input;

  /// The cells are referenced, not copied: they must outlive the series.
  Series(First& first, Second& second, Link link, SeriesLoss mix = {})
      : first_(&first), second_(&second), link_(std::move(link)), mix_(mix) {}

  /// (S^a, S^b) as one state.
  static State join(const typename First::State& a, const typename Second::State& b) {
    State s;
    for (size_t i = 0; i < first_size; ++i) s[i] = a[i];
    for (size_t i = 0; i < second_size; ++i) s[first_size + i] = b[i];
    return s;
  }
  static typename First::State first_state(const State& s) {
    typename First::State a;
    for (size_t i = 0; i < first_size; ++i) a[i] = s[i];
    return a;
  }
  static typename Second::State second_state(const State& s) {
    typename Second::State b;
    for (size_t i = 0; i < second_size; ++i) b[i] = s[first_size + i];
    return b;
  }

  CellStep<value_type, backend, first_size + second_size> step(
      const CellVars<value_type, backend, first_size + second_size>& state, const Input& x, const RngKey& key,
      CellPart part) const {
    CellVars<value_type, backend, first_size> va;
    CellVars<value_type, backend, second_size> vb;
    for (size_t i = 0; i < first_size; ++i) va[i] = state[i];
    for (size_t i = 0; i < second_size; ++i) vb[i] = state[first_size + i];
    const bool loss = part == CellPart::WithLoss;
    auto a = first_->step(va, x, key.derive("first"), loss && mix_.first != 0.0 ? CellPart::WithLoss : CellPart::CriticalPath);
    require<StateError>(a.output.defined(),
                        "Series: the first cell's step returned no output (expected the value the second cell reads)");
    auto b = second_->step(vb, link_(x, a.output), key.derive("second"),
                           loss && mix_.second != 0.0 ? CellPart::WithLoss : CellPart::CriticalPath);
    CellStep<value_type, backend, first_size + second_size> out;
    for (size_t i = 0; i < first_size; ++i) out.next[i] = a.next[i];
    for (size_t i = 0; i < second_size; ++i) out.next[first_size + i] = b.next[i];
    out.output = b.output;
    if (loss) {
      for (auto& term : a.losses) out.losses.push_back({term.value, term.scale * mix_.first});
      for (auto& term : b.losses) out.losses.push_back({term.value, term.scale * mix_.second});
      out.tokens = a.tokens + b.tokens;
    }
    return out;
  }

  /// Both cells' stores, each once.
  std::vector<nn::ParameterStore<value_type, backend>*> parameter_stores() {
    auto stores = first_->parameter_stores();
    for (auto* s : second_->parameter_stores()) {
      bool seen = false;
      for (auto* t : stores) seen = seen || t == s;
      if (!seen) stores.push_back(s);
    }
    return stores;
  }

 private:
  First* first_;
  Second* second_;
  Link link_;
  SeriesLoss mix_;
};

}  // namespace mnemo::train
