// The ∞-former's synthetic sorting task (infinite_former.md §12): train the ∞-former and the same
// model without long-term memory, then compare their teacher-forced accuracy per sequence length
// with the window-oracle yardstick.
//
//   infinite_former_sorting                 reduced demo: n = 8, L ∈ {512, 1024, 2048}, L_seg = 128
//   infinite_former_sorting --full          the paper's lengths 4k/8k/16k, n = 20, L_seg = 1024
//   options: --lengths 512,1024  --updates 400  --batch 16  --eval 32  --lr 2e-3  --threads 2
//            --seed 1  --symbols 8  --segment 128  --dropout 0  --log 100
//            --separate   one model per length (the paper's protocol) instead of one model
//                         trained on the lengths in turn (update u uses length u mod #lengths)
//   (the defaults take 5 min 25 s on 2 otherwise idle cores; --updates 40 takes 36 s but is too
//   short for either model to learn the task)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "mnemo/mnemo.hpp"
#include "mnemo/models/sorting_task.hpp"

using namespace mnemo;
using Model = models::InfiniteFormer<float, Cpu>;
using Trainer = train::InfiniteFormerTrainer<float, Cpu>;

namespace {

struct Options {
  bool full = false, separate = false;
  std::vector<int64_t> lengths;
  int64_t symbols = 0, segment = 0, updates = 400, batch = 16, eval = 32, log = 100, threads = 2;
  double lr = 2e-3;
  double dropout = -1;  // < 0: 0.1 with --full, 0 for the reduced demo
  uint64_t seed = 1;
};

std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(std::stoll(item));
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--full") o.full = true;
    else if (a == "--separate") o.separate = true;
    else if (a == "--lengths") o.lengths = parse_list(next());
    else if (a == "--updates") o.updates = std::stoll(next());
    else if (a == "--batch") o.batch = std::stoll(next());
    else if (a == "--eval") o.eval = std::stoll(next());
    else if (a == "--lr") o.lr = std::stod(next());
    else if (a == "--dropout") o.dropout = std::stod(next());
    else if (a == "--threads") o.threads = std::stoll(next());
    else if (a == "--seed") o.seed = std::stoull(next());
    else if (a == "--symbols") o.symbols = std::stoll(next());
    else if (a == "--segment") o.segment = std::stoll(next());
    else if (a == "--log") o.log = std::stoll(next());
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of the file)\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.lengths.empty()) o.lengths = o.full ? std::vector<int64_t>{4000, 8000, 16000} : std::vector<int64_t>{512, 1024, 2048};
  if (o.symbols == 0) o.symbols = o.full ? 20 : 8;
  if (o.segment == 0) o.segment = o.full ? 1024 : 128;
  if (o.dropout < 0) o.dropout = o.full ? 0.1 : 0.0;
  return o;
}

models::InfiniteFormerConfig model_config(const Options& o, bool use_ltm) {
  models::InfiniteFormerConfig c = o.full ? models::InfiniteFormerConfig::sorting() : models::InfiniteFormerConfig::sorting_demo(o.symbols);
  c.vocab = o.symbols + 2;
  c.segment_length = o.segment;
  c.use_ltm = use_ltm;
  c.dropout = o.dropout;
  return c;
}

/// A batch of examples cut into segments: tokens and targets per segment [batch, len].
struct Batch {
  std::vector<train::Segment> segments;
  std::vector<Tensor<int32_t, Cpu>> targets;
};

Batch make_batch(const models::SortingTask& task, int64_t length, int64_t segment, uint64_t first, int64_t batch) {
  const int64_t total = task.input_length(length);
  Batch out;
  std::vector<std::vector<int32_t>> inputs(static_cast<size_t>(batch)), targets(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b)
    task.inputs_and_targets(task.example(length, first + static_cast<uint64_t>(b)), Trainer::kIgnore, inputs[static_cast<size_t>(b)],
                            targets[static_cast<size_t>(b)]);
  for (int64_t start = 0; start < total; start += segment) {
    const int64_t len = std::min(segment, total - start);
    Tensor<int32_t, Cpu> tok(Shape{batch, len}), tgt(Shape{batch, len});
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < len; ++i) {
        tok[b * len + i] = inputs[static_cast<size_t>(b)][static_cast<size_t>(start + i)];
        tgt[b * len + i] = targets[static_cast<size_t>(b)][static_cast<size_t>(start + i)];
      }
    out.segments.push_back({tok, {}});
    out.targets.push_back(tgt);
  }
  return out;
}

/// Teacher-forced accuracy over the counted positions of `count` held-out examples.
double evaluate(const Model& model, const models::SortingTask& task, int64_t length, int64_t segment, int64_t count, int64_t batch) {
  autograd::NoGrad off;
  int64_t right = 0, total = 0;
  for (int64_t first = 0; first < count; first += batch) {
    const int64_t nb = std::min(batch, count - first);
    const Batch data = make_batch(task, length, segment, (uint64_t{1} << 40) + static_cast<uint64_t>(first), nb);
    auto state = model.initial_state(nb);
    for (size_t s = 0; s < data.segments.size(); ++s) {
      const auto logits = model.step(data.segments[s].tokens, nullptr, state).logits.value();
      const auto& tgt = data.targets[s];
      const int64_t vocab = logits.shape()[2];
      for (int64_t i = 0; i < tgt.numel(); ++i) {
        if (tgt[i] == Trainer::kIgnore) continue;
        const float* row = logits.data() + i * vocab;
        right += (std::max_element(row, row + vocab) - row) == tgt[i] ? 1 : 0;
        ++total;
      }
    }
  }
  return static_cast<double>(right) / static_cast<double>(std::max<int64_t>(total, 1));
}

struct Result {
  std::vector<double> accuracy;  // per evaluated length
  double seconds = 0, final_loss = 0;
};

/// Trains one model on `train_lengths` in turn (update u uses train_lengths[u mod k]) and
/// evaluates it on every length of `eval_lengths`.
Result train_and_evaluate(const Options& o, const models::SortingTask& task, const std::vector<int64_t>& train_lengths,
                          const std::vector<int64_t>& eval_lengths, bool use_ltm) {
  const auto t0 = std::chrono::steady_clock::now();
  Model model(model_config(o, use_ltm), o.seed);
  Trainer trainer(model, {o.seed});
  train::AdamW<float, Cpu> optimizer(model.parameters(), {o.lr, 0.9, 0.999, 1e-8, 0.01});
  const train::WarmupCosine schedule{o.lr, std::max<int64_t>(1, o.updates / 10), o.updates, 0.1};
  double running = 0;
  for (int64_t u = 0; u < o.updates; ++u) {
    const int64_t length = train_lengths[static_cast<size_t>(u) % train_lengths.size()];
    const Batch data = make_batch(task, length, o.segment, static_cast<uint64_t>(u * o.batch), o.batch);
    model.parameters().zero_grad();
    trainer.set_update(u);
    auto state = model.initial_state(o.batch, o.seed + static_cast<uint64_t>(u));
    double loss = 0;
    for (size_t s = 0; s < data.segments.size(); ++s)
      loss += trainer.train_step(data.segments[s], data.targets[s], state, 1.0, s).loss;
    if (!trainer.check_finite_gradients()) continue;
    optimizer.step(schedule(u), train::clip_factor(train::global_grad_norm(model.parameters()), 1.0));
    running = u == 0 ? loss : 0.98 * running + 0.02 * loss;
    if (o.log > 0 && ((u + 1) % o.log == 0 || u + 1 == o.updates)) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("    [%s] update %lld/%lld  loss %.4f  %.0f s elapsed, ETA %.0f s\n", use_ltm ? "inf-former" : "no LTM    ",
                  static_cast<long long>(u + 1), static_cast<long long>(o.updates), running, el,
                  el / static_cast<double>(u + 1) * static_cast<double>(o.updates - u - 1));
      std::fflush(stdout);
    }
  }
  Result r;
  r.final_loss = running;
  for (int64_t length : eval_lengths) r.accuracy.push_back(evaluate(model, task, length, o.segment, o.eval, o.batch));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  cpu::set_num_threads(static_cast<int>(o.threads));
  const models::SortingTask task(o.symbols, o.seed);
  const auto cfg = model_config(o, true);
  std::printf("inf-former sorting (infinite_former.md section 12): n = %lld symbols, L_seg = %lld, STM %lld segment(s)\n",
              static_cast<long long>(o.symbols), static_cast<long long>(o.segment), static_cast<long long>(cfg.stm_segments));
  std::printf("model: %lld layers, d %lld, %lld heads, FFN %lld; LTM N = %lld, M = %lld, tau = %.2f, lambda = %.2f\n",
              static_cast<long long>(cfg.layers), static_cast<long long>(cfg.d_model), static_cast<long long>(cfg.heads),
              static_cast<long long>(cfg.d_ff), static_cast<long long>(cfg.ltm.basis.count), static_cast<long long>(cfg.ltm.samples),
              cfg.ltm.tau, cfg.ltm.ridge_lambda);
  std::printf("training: %s, %lld updates of %lld examples, AdamW lr %g (warm-up + cosine), clip 1.0, dropout %g; eval %lld held-out examples; %lld threads\n\n",
              o.separate ? "one model per length" : "one model over the lengths in turn", static_cast<long long>(o.updates),
              static_cast<long long>(o.batch), o.lr, o.dropout, static_cast<long long>(o.eval),
              static_cast<long long>(o.threads));
  struct Row {
    int64_t length;
    double ltm = 0, base = 0, oracle_seg = 0, oracle_stm = 0;
  };
  std::vector<Row> rows;
  for (int64_t length : o.lengths) {
    Row row{length};
    for (int64_t i = 0; i < 400; ++i) {
      const auto ex = task.example(length, (uint64_t{1} << 40) + static_cast<uint64_t>(i));
      row.oracle_seg += task.window_oracle_accuracy(ex, o.segment) / 400;
      row.oracle_stm += task.window_oracle_accuracy(ex, 2 * o.segment) / 400;
    }
    rows.push_back(row);
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (o.separate) {
    for (size_t i = 0; i < o.lengths.size(); ++i) {
      std::printf("  length %lld\n", static_cast<long long>(o.lengths[i]));
      rows[i].ltm = train_and_evaluate(o, task, {o.lengths[i]}, {o.lengths[i]}, true).accuracy[0];
      rows[i].base = train_and_evaluate(o, task, {o.lengths[i]}, {o.lengths[i]}, false).accuracy[0];
    }
  } else {
    const Result ltm = train_and_evaluate(o, task, o.lengths, o.lengths, true);
    const Result base = train_and_evaluate(o, task, o.lengths, o.lengths, false);
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i].ltm = ltm.accuracy[i];
      rows[i].base = base.accuracy[i];
    }
  }
  std::printf("\nteacher-forced accuracy on %lld held-out examples per length (chance %.3f):\n", static_cast<long long>(o.eval),
              task.chance_accuracy());
  std::printf("%8s  %12s  %12s  %14s  %14s\n", "L", "inf-former", "no LTM", "oracle W=Lseg", "oracle W=2Lseg");
  for (const Row& r : rows)
    std::printf("%8lld  %12.3f  %12.3f  %14.3f  %14.3f\n", static_cast<long long>(r.length), r.ltm, r.base, r.oracle_seg, r.oracle_stm);
  std::printf("total time %.0f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
