// mnemo/models/sorting_task.hpp — the ∞-former paper's synthetic sorting task
// (infinite_former.md §12), seeded, with its training protocol and accuracy metric.
//
// Symbols 0..n−1, SEP = n, PAD = n+1 (vocab n+2). An example of length L draws two weight
// vectors w_init, w_final ~ UniformInt{1..9}ⁿ and x_j ~ Categorical((1−r)p_init + r p_final),
// r = (j+1)/L, so the distribution drifts and a recent window alone does not reveal the answer.
// The target lists the symbols by decreasing count (ties: earlier first occurrence first), then
// the absent symbols in increasing order. Protocol: the model reads x, SEP, target_1..target_{n−1}
// (L + n tokens) and only the n positions SEP, target_1..target_{n−1} carry loss (predicting
// target_1..target_n); accuracy is the share of those positions whose argmax is right.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo::models {

struct SortingExample {
  std::vector<int32_t> sequence;  // x_0..x_{L−1}
  std::vector<int32_t> target;    // the n symbols in answer order
};

class SortingTask {
 public:
  /// `symbols` = n (≥ 2); every example is a pure function of (seed, length, index).
  explicit SortingTask(int64_t symbols = 20, uint64_t seed = 0) : n_(symbols), seed_(seed) {
    require<ConfigError>(symbols >= 2, "SortingTask: symbols = ", symbols, ", expected >= 2");
  }

  int64_t symbols() const { return n_; }
  int32_t separator() const { return static_cast<int32_t>(n_); }
  int32_t padding() const { return static_cast<int32_t>(n_ + 1); }
  int64_t vocab() const { return n_ + 2; }
  /// Tokens the model reads per example: L + n.
  int64_t input_length(int64_t length) const { return length + n_; }

  /// Example `index` of sequence length `length` (training and evaluation sets are disjoint
  /// ranges of indices, or different seeds).
  SortingExample example(int64_t length, uint64_t index) const {
    require<ConfigError>(length >= 1, "SortingTask::example: length = ", length, ", expected >= 1");
    const RngKey key = RngKey{seed_, 0}.derive(static_cast<uint64_t>(length)).derive(index);
    const RngKey weights_key = key.derive("weights"), draws = key.derive("draws");
    std::vector<double> p_init(static_cast<size_t>(n_)), p_final(static_cast<size_t>(n_));
    double s_init = 0, s_final = 0;
    for (int64_t k = 0; k < n_; ++k) {
      p_init[static_cast<size_t>(k)] = 1.0 + static_cast<double>(weights_key.bits(static_cast<uint64_t>(2 * k)) % 9u);
      p_final[static_cast<size_t>(k)] = 1.0 + static_cast<double>(weights_key.bits(static_cast<uint64_t>(2 * k + 1)) % 9u);
      s_init += p_init[static_cast<size_t>(k)];
      s_final += p_final[static_cast<size_t>(k)];
    }
    SortingExample ex;
    ex.sequence.resize(static_cast<size_t>(length));
    for (int64_t j = 0; j < length; ++j) {
      const double r = static_cast<double>(j + 1) / static_cast<double>(length);
      double u = draws.uniform_double(static_cast<uint64_t>(j)), acc = 0;
      int32_t symbol = static_cast<int32_t>(n_ - 1);
      for (int64_t k = 0; k < n_; ++k) {
        acc += (1 - r) * p_init[static_cast<size_t>(k)] / s_init + r * p_final[static_cast<size_t>(k)] / s_final;
        if (u < acc) {
          symbol = static_cast<int32_t>(k);
          break;
        }
      }
      ex.sequence[static_cast<size_t>(j)] = symbol;
    }
    ex.target = sorted_by_count(ex.sequence);
    return ex;
  }

  /// Symbols by decreasing count in `sequence` (ties: earlier first occurrence), then the absent
  /// symbols in increasing order: always n symbols.
  std::vector<int32_t> sorted_by_count(const std::vector<int32_t>& sequence) const {
    std::vector<int64_t> count(static_cast<size_t>(n_), 0), first(static_cast<size_t>(n_), INT64_MAX);
    for (size_t j = 0; j < sequence.size(); ++j) {
      const auto s = static_cast<size_t>(sequence[j]);
      ++count[s];
      first[s] = std::min<int64_t>(first[s], static_cast<int64_t>(j));
    }
    std::vector<int32_t> order(static_cast<size_t>(n_));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      const auto ia = static_cast<size_t>(a), ib = static_cast<size_t>(b);
      if (count[ia] != count[ib]) return count[ia] > count[ib];
      if (count[ia] == 0) return a < b;
      return first[ia] < first[ib];
    });
    return order;
  }

  /// The model's input (x, SEP, target_1..target_{n−1}) and per-position targets: the next token
  /// at the n counted positions, `ignore` elsewhere.
  void inputs_and_targets(const SortingExample& ex, int32_t ignore, std::vector<int32_t>& inputs,
                          std::vector<int32_t>& targets) const {
    const auto length = static_cast<int64_t>(ex.sequence.size());
    inputs = ex.sequence;
    inputs.push_back(separator());
    inputs.insert(inputs.end(), ex.target.begin(), ex.target.end() - 1);
    targets.assign(inputs.size(), ignore);
    for (int64_t i = 0; i < n_; ++i) targets[static_cast<size_t>(length + i)] = ex.target[static_cast<size_t>(i)];
  }

  /// The yardstick of §12: at answer position i (teacher forcing), predict the not-yet-listed
  /// symbol with the highest count in the last `window` tokens of x (ties: earliest first
  /// occurrence in the window, then the smallest symbol). Returns the share of right answers.
  double window_oracle_accuracy(const SortingExample& ex, int64_t window) const {
    const auto length = static_cast<int64_t>(ex.sequence.size());
    const int64_t start = std::max<int64_t>(0, length - window);
    const std::vector<int32_t> tail(ex.sequence.begin() + start, ex.sequence.end());
    const std::vector<int32_t> ranking = sorted_by_count(tail);
    std::vector<uint8_t> listed(static_cast<size_t>(n_), 0);
    int64_t right = 0;
    for (int64_t i = 0; i < n_; ++i) {
      int32_t guess = 0;
      for (int32_t s : ranking)
        if (!listed[static_cast<size_t>(s)]) {
          guess = s;
          break;
        }
      right += guess == ex.target[static_cast<size_t>(i)] ? 1 : 0;
      listed[static_cast<size_t>(ex.target[static_cast<size_t>(i)])] = 1;  // teacher forcing
    }
    return static_cast<double>(right) / static_cast<double>(n_);
  }

  /// Chance with teacher forcing (uniform over the symbols not yet listed): H_n / n.
  double chance_accuracy() const {
    double h = 0;
    for (int64_t k = 1; k <= n_; ++k) h += 1.0 / static_cast<double>(k);
    return h / static_cast<double>(n_);
  }

 private:
  int64_t n_;
  uint64_t seed_;
};

}  // namespace mnemo::models
