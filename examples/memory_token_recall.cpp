// memory_token_recall — a recurrent cell written outside mnemo (examples/memory_token_cell.hpp: a
// decoder-only transformer that carries K memory tokens between segments, after the Recurrent
// Memory Transformer) trained with train::Mrbp on the key–value recall task of memformer_recall
// (examples/recall_task.hpp), then scored with its memory and with the memory reset before every
// segment (which cannot beat chance). docs/mrbp.md walks through the cell.
//
//   memory_token_recall                      # defaults: 1200 updates, about 90 s of CPU on one core
//   memory_token_recall --steps 3000 --gap 2 # longer, two gap segments
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "memory_token_cell.hpp"
#include "example_args.hpp"
#include "mnemo/mnemo.hpp"
#include "recall_task.hpp"

using namespace mnemo;
using Cell = examples::MemoryTokenLM<float>;

namespace {

struct Options {
  int64_t steps = 1200, batch = 32, gap = 1, curriculum = 300, memory_tokens = 8, d_model = 64, layers = 2;
  int64_t eval_batches = 8, log_every = 100;
  double lr = 2e-3, dropout = 0.0, clip = 1.0;
  uint64_t seed = 1;
  int threads = 1;
};

Options parse(int argc, char** argv) {
  Options o;
  examples::ExampleArgs args(argc, argv,
      "usage: memory_token_recall [--steps N (1200)] [--batch B (32)] [--gap G (1)] [--curriculum N (300)]\n"
      "  [--memory-tokens K (8)] [--d D (64)] [--layers N (2)] [--lr X (2e-3)] [--dropout P (0)]\n"
      "  [--clip X (1)] [--seed S (1)] [--threads N (1)] [--eval-batches N (8)] [--log-every N (100)]\n");
  auto take = [&](const char* name, auto& field) { args.take(name, field); };
  take("steps", o.steps), take("batch", o.batch), take("gap", o.gap), take("curriculum", o.curriculum);
  take("memory-tokens", o.memory_tokens), take("d", o.d_model), take("layers", o.layers), take("lr", o.lr);
  take("dropout", o.dropout), take("clip", o.clip), take("seed", o.seed), take("threads", o.threads);
  take("eval-batches", o.eval_batches), take("log-every", o.log_every);
  args.reject_unknown();
  return o;
}

/// The rollout inputs of one batch of documents: step t reads segment t and predicts t+1.
std::vector<Cell::Input> inputs_of(const std::vector<train::Segment>& segs) {
  std::vector<Cell::Input> in(segs.size() - 1);
  for (size_t t = 0; t < in.size(); ++t) in[t] = {&segs[t], &segs[t + 1]};
  return in;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  cpu::set_num_threads(o.threads);
  examples::RecallTask task;
  task.L = 8;
  task.pairs = 4;
  task.queries = 4;
  task.shuffle = false;
  task.gap = o.gap;
  examples::MemoryTokenConfig cfg;
  cfg.vocab = task.vocab();
  cfg.d_model = o.d_model;
  cfg.heads = 4;
  cfg.d_ff = 2 * o.d_model;
  cfg.memory_tokens = o.memory_tokens;
  cfg.layers = o.layers;
  cfg.segment_length = task.L;
  cfg.dropout = o.dropout;
  Cell cell(cfg, o.seed);
  train::AdamWConfig adam_cfg;
  adam_cfg.lr = o.lr;
  train::AdamW<float, Cpu> adam(cell.parameters(), adam_cfg);
  train::WarmupCosine schedule{o.lr, 50, o.steps, 0.1};
  schedule.validate();
  train::TrainerOptions topt;
  topt.seed = o.seed;
  train::Mrbp<Cell> mrbp(cell, topt);
  std::printf("memory-token LM: vocab %lld, d %lld, %lld layers, %lld memory tokens, %lld parameters\n",
              static_cast<long long>(cfg.vocab), static_cast<long long>(cfg.d_model), static_cast<long long>(cfg.layers),
              static_cast<long long>(cfg.memory_tokens), static_cast<long long>(cell.parameters().numel()));
  std::printf("task: %lld pairs, %lld gap segment(s), segment length %lld (chance %.1f%%); MRBP, %lld updates, batch %lld, "
              "%d threads\n",
              static_cast<long long>(task.pairs), static_cast<long long>(task.gap), static_cast<long long>(task.L),
              100.0 / static_cast<double>(task.n_values), static_cast<long long>(o.steps), static_cast<long long>(o.batch),
              o.threads);

  const auto t0 = std::chrono::steady_clock::now();
  const RngKey data_key{o.seed, 0xDA7A};
  double loss_avg = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    // As in memformer_recall: no gap during the curriculum, then a gap drawn from 0..G.
    const RngKey batch_key = data_key.derive(static_cast<uint64_t>(step));
    const int64_t g = step < o.curriculum ? 0 : static_cast<int64_t>(batch_key.bits(0) % static_cast<uint32_t>(task.gap + 1));
    const auto segs = task.documents(o.batch, batch_key.derive(1), g);
    auto state = cell.initial_state(o.batch);
    std::vector<double> weights(static_cast<size_t>(task.steps(g)), 0.0);
    weights.back() = 1.0;  // only the answer segment carries loss
    cell.parameters().zero_grad();
    const auto r = mrbp.rollout(inputs_of(segs), state, weights);
    const double factor = train::clip_factor(train::global_grad_norm(cell.parameters()), o.clip);
    if (r.finite) adam.step(schedule(step), factor);
    loss_avg = step == 0 ? r.loss : 0.9 * loss_avg + 0.1 * r.loss;
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      std::printf("step %5lld/%lld  loss %.4f  p(target) %.3f  elapsed %5.1fs\n", static_cast<long long>(step + 1),
                  static_cast<long long>(o.steps), loss_avg, std::exp(-loss_avg),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::fflush(stdout);
    }
  }
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Evaluation on fresh documents with the full gap: memory carried vs reset before every segment.
  autograd::NoGrad off;
  const int64_t T = task.steps(task.gap), K = cfg.memory_tokens, L = task.L, V = cfg.vocab;
  int64_t right[2] = {0, 0}, counted = 0;
  for (int64_t e = 0; e < o.eval_batches; ++e) {
    const auto segs = task.documents(o.batch, RngKey{o.seed + 1000003, 0xE7A1}.derive(static_cast<uint64_t>(e)), task.gap);
    for (int mode = 0; mode < 2; ++mode) {
      auto state = cell.initial_state(o.batch);
      for (int64_t t = 0; t < T; ++t) {
        if (mode == 1) state = cell.initial_state(o.batch);  // the reset baseline
        const auto f = cell.forward(Cell::Var(state[0]), segs[static_cast<size_t>(t)], nullptr);
        state[0] = f.next.value();
        if (t + 1 < T) continue;
        const auto logits = cell.logits(f.hidden).value();  // [batch, K+L, vocab]
        const auto& target = segs[static_cast<size_t>(t + 1)];
        for (int64_t b = 0; b < o.batch; ++b)
          for (int64_t n = 0; n < L; ++n) {
            if (target.padding[b * L + n]) continue;
            const float* row = logits.data() + (b * (K + L) + K + n) * V;
            right[mode] += (std::max_element(row, row + V) - row) == target.tokens[b * L + n] ? 1 : 0;
            counted += mode == 0 ? 1 : 0;
          }
      }
    }
  }
  std::printf("recall accuracy on %lld fresh documents (gap %lld): with memory %.1f%%, memory reset every segment %.1f%%, "
              "chance %.1f%%\n",
              static_cast<long long>(o.eval_batches * o.batch), static_cast<long long>(task.gap),
              100.0 * static_cast<double>(right[0]) / static_cast<double>(counted),
              100.0 * static_cast<double>(right[1]) / static_cast<double>(counted), 100.0 / static_cast<double>(task.n_values));
  std::printf("training took %.1f s\n", train_seconds);
  return 0;
} catch (const mnemo::Error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
