// Window-oracle accuracy on the held-out sorting sequences (task seed 1, indices 2^40..), per W.
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include "mnemo/models/sorting_task.hpp"
int main(int argc, char** argv) {
  const int64_t n = 8, count = 256;
  const mnemo::models::SortingTask task(n, 1);
  for (int64_t L : {512, 4096}) {
    std::printf("L %lld:", (long long)L);
    for (int64_t W : {128, 136, 256, 512, 1024, 2048, 4096}) {
      if (W > L) continue;
      double s = 0, ss = 0;
      for (int64_t i = 0; i < count; ++i) {
        const double a = task.window_oracle_accuracy(task.example(L, (uint64_t{1} << 40) + i), W);
        s += a; ss += a * a;
      }
      const double m = s / count, se = std::sqrt((ss / count - m * m) * count / (count - 1) / count);
      std::printf("  W=%lld %.3f±%.3f", (long long)W, m, se);
    }
    std::printf("\n");
  }
}
