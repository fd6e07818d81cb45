// The sorting task generator (infinite_former.md §12, §14 item 11) and its yardsticks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "mnemo/models/sorting_task.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using models::SortingTask;

TEST_CASE("sorting targets are permutations ordered by count, ties by first occurrence (property 11)", "[infformer][sorting]") {
  const SortingTask task(20, 3);
  for (uint64_t i = 0; i < 50; ++i) {
    const auto ex = task.example(512, i);
    REQUIRE(ex.sequence.size() == 512);
    std::vector<int32_t> sorted = ex.target;
    std::sort(sorted.begin(), sorted.end());
    for (int32_t k = 0; k < 20; ++k) REQUIRE(sorted[static_cast<size_t>(k)] == k);
    std::map<int32_t, int64_t> count, first;
    for (size_t j = 0; j < ex.sequence.size(); ++j) {
      const int32_t s = ex.sequence[j];
      REQUIRE((s >= 0 && s < 20));
      if (!count[s]++) first[s] = static_cast<int64_t>(j);
    }
    for (size_t k = 0; k + 1 < ex.target.size(); ++k) {
      const int32_t a = ex.target[k], b = ex.target[k + 1];
      REQUIRE(count[a] >= count[b]);
      if (count[a] == count[b] && count[a] > 0) REQUIRE(first[a] < first[b]);
      if (count[a] == 0) REQUIRE(a < b);
    }
  }
  // Hand-made case: counts 2 (symbol 3, first at 1), 2 (symbol 1, first at 2), 1 (symbol 0).
  const SortingTask small(4);
  CHECK(small.sorted_by_count({0, 3, 1, 3, 1}) == std::vector<int32_t>{3, 1, 0, 2});
}

TEST_CASE("sorting examples are seeded; the distribution drifts", "[infformer][sorting]") {
  const SortingTask a(8, 1), b(8, 2);
  CHECK(a.example(256, 5).sequence == a.example(256, 5).sequence);
  CHECK(a.example(256, 5).sequence != a.example(256, 6).sequence);
  CHECK(a.example(256, 5).sequence != b.example(256, 5).sequence);
  // Early and late halves have different symbol frequencies on average (drift): the total
  // variation distance between the halves' histograms exceeds what sampling noise alone gives.
  double tv = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    const auto ex = a.example(4000, i);
    std::vector<double> h1(8, 0), h2(8, 0);
    for (size_t j = 0; j < 4000; ++j) (j < 2000 ? h1 : h2)[static_cast<size_t>(ex.sequence[j])] += 1.0 / 2000;
    for (size_t k = 0; k < 8; ++k) tv += 0.5 * std::abs(h1[k] - h2[k]) / 20;
  }
  CHECK(tv > 0.05);
}

TEST_CASE("sorting protocol: inputs, counted targets, yardsticks", "[infformer][sorting]") {
  const SortingTask task(8, 4);
  const auto ex = task.example(100, 0);
  std::vector<int32_t> in, tg;
  task.inputs_and_targets(ex, -100, in, tg);
  REQUIRE(in.size() == 108);
  CHECK(in[100] == task.separator());
  for (size_t i = 0; i < 100; ++i) CHECK(tg[i] == -100);
  for (size_t i = 0; i < 8; ++i) CHECK(tg[100 + i] == ex.target[i]);
  for (size_t i = 0; i < 7; ++i) CHECK(in[101 + i] == ex.target[i]);
  CHECK(task.chance_accuracy() == Approx(0.340).margin(0.001));
  CHECK(SortingTask(20).chance_accuracy() == Approx(0.180).margin(0.001));
  // The window oracle with the whole sequence in view answers everything; the spec's table:
  // n = 8, L = 512, W = 128 scores about 0.560.
  CHECK(task.window_oracle_accuracy(ex, 100) == 1.0);
  double acc = 0;
  for (uint64_t i = 0; i < 400; ++i) acc += task.window_oracle_accuracy(task.example(512, 1000 + i), 128) / 400;
  CHECK(acc == Approx(0.560).margin(0.03));
}
