// The streaming Memformer step (bench/cpu/memformer_stream_shape.hpp, vocab 256, d 256, h 4, ffn 1024,
// K 64, L 64) timed step by step: median, p10, p90 of single steps on two threads.
//   step_floor ENC DEC MODELS STEPS
// MODELS > 1 cycles through that many models with distinct weights (to push the weights out of
// the caches: 1+1 layers hold 9.5 MB of weights, 8 such models 76 MB). With -DPROBE (built against
// the tree of make_probe_tree.py) it also prints the main thread's time in BackendTraits<Cpu>::gemm
// and the forks per step by call site, and the pool's caller-side times per job. With -DPREPACK
// (make_prepack_tree.py) it registers the
// parameters as weights for the prototype's packed path (PACK=1 in the environment turns it on).
// The logits' weighted checksum of the last step is printed so that variants can be compared.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mnemo/bench/flops.hpp"
#include "mnemo/mnemo.hpp"

using namespace mnemo;
using Model = models::Memformer<float, Cpu>;

train::Segment random_segment(int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{1, L}), {}};
  const RngKey key{seed, 0x5e9};
  for (int64_t i = 0; i < s.tokens.numel(); ++i)
    s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}

int main(int argc, char** argv) {
  models::MemformerConfig c;
  c.vocab = 256, c.d_model = 256, c.heads = 4, c.d_ff = 1024, c.slots = 64, c.segment_length = 64, c.bos_id = 0;
  c.encoder_layers = argc > 1 ? std::atoi(argv[1]) : 4;
  c.decoder_layers = argc > 2 ? std::atoi(argv[2]) : 4;
  const int model_count = argc > 3 ? std::atoi(argv[3]) : 1;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 300, warm = 20;
  std::vector<Model*> models;
  std::vector<Model::State> states;
  for (int i = 0; i < model_count; ++i) {
    models.push_back(new Model(c, 2 + i));
    states.push_back(models.back()->initial_state(1));
#if defined(PREPACK)
    for (auto& p : models.back()->parameters())
      cpu::provider::prepack::weight_ranges.push_back({p->value.data(), p->value.data() + p->value.numel()});
#endif
  }
  std::vector<train::Segment> segments;
  for (int i = 0; i < 8; ++i) segments.push_back(random_segment(64, 256, 100 + i));
  std::vector<double> ms;
  for (int r = 0; r < steps; ++r) {
#if defined(PROBE)
    gemm_probe_on = fork_probe_on = pool_probe_on = r >= warm;
#endif
    const int m = r % model_count;
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = models[m]->step(states[m], segments[r % 8], &segments[(r + 1) % 8]);
    states[m] = out.next;
    if (r >= warm) ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (r == steps - 1) {
      double sum = 0;
      for (int64_t q = 0; q < out.logits.numel(); ++q) sum += static_cast<double>(out.logits[q]) * static_cast<double>(q % 7 + 1);
      std::printf("logits checksum %.9g\n", sum);
    }
  }
  double total = 0;
  for (double t : ms) total += t;
  const double n = static_cast<double>(ms.size());
#if defined(PROBE)
  std::printf("main thread in BackendTraits<Cpu>::gemm: %.1f %% of the step, %.3f ms/step, %.1f calls/step\n",
              100 * gemm_probe_ns * 1e-6 / total, gemm_probe_ns * 1e-6 / n, gemm_probe_calls / n);
  std::printf("pool: %.1f jobs/step; the caller in its own tasks %.1f us/step, then waiting for the worker %.1f us/step; "
              "the caller ran %.1f %% of the tasks\n", pool_jobs / n, pool_main_us / n, pool_wait_us / n,
              100.0 * static_cast<double>(pool_main_tasks) / static_cast<double>(pool_tasks));
  for (auto& [site, v] : fork_sites) {
    const std::string name(site);
    const size_t at = name.find("Body = ");
    std::printf("%6.2f forks/step %8.1f us/step  %s\n", v.first / n, v.second / n, name.substr(at, 140).c_str());
  }
#endif
  std::sort(ms.begin(), ms.end());
  const double flops = bench::memformer_step_flops(c, 1, true);
  const double median = ms[ms.size() / 2];
  std::printf("enc %d dec %d models %d: median %.3f ms  p10 %.3f  p90 %.3f  mean %.3f  %.3f GFLOP  %.1f GFLOP/s\n",
              c.encoder_layers, c.decoder_layers, model_count, median, ms[ms.size() / 10], ms[ms.size() * 9 / 10],
              total / n, flops * 1e-9, flops * 1e-9 / (median * 1e-3));
}
