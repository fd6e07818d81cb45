// examples/recall_task.hpp — the key–value recall task of the examples (memformer.md §10):
// a document is
//   [k1 v1 k2 v2 ... ]  [G gap segments of random filler]  [k1 k2 ... QUERY]  [v1 v2 ...]
// and the values asked in the query segment must be written out as the next segment, so they
// have to be carried across G+1 segment boundaries. Used by memformer_recall and
// memory_token_recall.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "mnemo/core/rng.hpp"
#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/train/rollout.hpp"

namespace examples {

using mnemo::Cpu;
using mnemo::RngKey;
using mnemo::Shape;
using mnemo::Tensor;
using mnemo::train::Segment;

struct RecallTask {
  int64_t L = 16, pairs = 4, queries = 4, gap = 1, n_keys = 16, n_values = 16, n_filler = 32;
  bool shuffle = true;
  static constexpr int32_t kPad = 0, kBos = 1, kQuery = 2;
  int32_t key(int64_t i) const { return static_cast<int32_t>(3 + i); }
  int32_t value(int64_t i) const { return static_cast<int32_t>(3 + n_keys + i); }
  int32_t filler(int64_t i) const { return static_cast<int32_t>(3 + n_keys + n_values + i); }
  int64_t vocab() const { return 3 + n_keys + n_values + n_filler; }
  int64_t steps(int64_t g) const { return g + 2; }  // T: pairs → g gaps → query → target

  /// The T+1 segments of `batch` documents with `g` gap segments, drawn from `rng`.
  std::vector<Segment> documents(int64_t batch, RngKey rng, int64_t g) const {
    std::vector<Segment> segs;
    for (int64_t t = 0; t <= steps(g); ++t)
      segs.push_back(Segment{Tensor<int32_t, Cpu>(Shape{batch, L}), Tensor<uint8_t, Cpu>::zeros({batch, L})});
    uint64_t draw = 0;
    auto uniform = [&](int64_t n) { return static_cast<int64_t>(rng.bits(draw++) % static_cast<uint32_t>(n)); };
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int64_t> keys(static_cast<size_t>(n_keys));
      for (int64_t i = 0; i < n_keys; ++i) keys[static_cast<size_t>(i)] = i;
      for (int64_t i = 0; i < pairs; ++i) std::swap(keys[static_cast<size_t>(i)], keys[static_cast<size_t>(i + uniform(n_keys - i))]);
      std::vector<int64_t> values(static_cast<size_t>(pairs)), order(static_cast<size_t>(pairs));
      for (int64_t i = 0; i < pairs; ++i) values[static_cast<size_t>(i)] = uniform(n_values), order[static_cast<size_t>(i)] = i;
      for (int64_t i = pairs - 1; shuffle && i > 0; --i)
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(uniform(i + 1))]);
      auto at = [&](int64_t t, int64_t n) -> int32_t& { return segs[static_cast<size_t>(t)].tokens[b * L + n]; };
      auto pad = [&](int64_t t, int64_t n) -> uint8_t& { return segs[static_cast<size_t>(t)].padding[b * L + n]; };
      for (int64_t n = 0; n < L; ++n) {
        at(0, n) = n < 2 * pairs ? (n % 2 == 0 ? key(keys[static_cast<size_t>(n / 2)]) : value(values[static_cast<size_t>(n / 2)]))
                                 : filler(uniform(n_filler));
        for (int64_t i = 1; i <= g; ++i) at(i, n) = filler(uniform(n_filler));
        const int64_t q = g + 1, a = g + 2;
        // Query keys at positions 0..P−1 (then QUERY), so the value for position n's key is the
        // target at position n: the decoder reads the encoder output at its own position.
        at(q, n) = n < queries ? key(keys[static_cast<size_t>(order[static_cast<size_t>(n)])]) : n == queries ? kQuery : kPad;
        pad(q, n) = n > queries;
        at(a, n) = n < queries ? value(values[static_cast<size_t>(order[static_cast<size_t>(n)])]) : kPad;
        pad(a, n) = n >= queries;
      }
    }
    return segs;
  }
};

}  // namespace examples
