// The ∞-former's synthetic sorting task (infinite_former.md §12): train the ∞-former and the same
// model without long-term memory on the same data, then compare their teacher-forced accuracy on
// the same held-out sequences per length, with the window-oracle yardstick (issue #11 item 3).
//
// Statistics (the protocol of docs/real_text.md): a sequence's accuracy is the share of its n
// answer positions predicted right. Per seed and length the report gives each arm's mean over the
// --eval held-out sequences ± standard error (over sequences), and the PAIRED difference
// (∞-former − no LTM, sequence by sequence, the same sequences for both arms) ± its standard error.
// With several --seeds (model initialisation, dropout and training data; the held-out sequences are
// the same for every seed) it adds the mean over seeds of the paired difference ± its standard error
// over seeds. A difference is called one only beyond two standard errors.
//
//   infinite_former_sorting                 reduced demo: n = 8, L ∈ {512, 1024, 2048}, L_seg = 128
//   infinite_former_sorting --full          the paper's lengths 4k/8k/16k, n = 20, L_seg = 1024
//   options: --lengths 512,1024  --updates 400  --batch 16  --eval 256  --lr 2e-3  --threads 2
//            --seeds 1,2,3 (or --seed 1)  --symbols 8  --segment 128  --dropout 0  --log 100
//            --tau 0.75  --ridge 1.0  --basis 64   (LTM overrides, for ablations)
//            --separate   one model per length (the paper's protocol) instead of one model
//                         trained on the lengths in turn (update u uses length u mod #lengths)
//            --checkpoint DIR  a checkpoint per (seed, arm[, length]) in DIR, written atomically
//                         every --checkpoint-every updates (default 50) and at the end: model,
//                         AdamW moments and step count, update counter, running loss, timings (the
//                         data and dropout draws are pure functions of (seed, update), so that is the
//                         whole RNG state). A rerun with the same options resumes (a finished run is
//                         only evaluated again); a checkpoint of other options is refused (exit 1).
//            --stop-after U  stop every run at update U (checkpointed) and exit 0: resume later
//            --per-sequence FILE  CSV of every held-out sequence's right answers per seed, arm, length
//   Progress: a line per --log updates with the run's and the whole program's ETA. Cost: seconds
//   per training update and per evaluated sequence for each arm and length (wall and process CPU).
//   Run time (docs/infinite_former.md, "Sorting task"): the defaults take about 210 s of CPU per seed
//   (400 updates over 3 lengths: the ∞-former's lead there depends on the seed); trained longer at
//   one length, --separate --lengths 512 --updates 800 (150 s CPU), it wins by 0.181 ± 0.006
//   (3 seeds).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mnemo/io/safetensors.hpp"
#include "mnemo/mnemo.hpp"
#include "mnemo/models/sorting_task.hpp"

using namespace mnemo;
using Model = models::InfiniteFormer<float, Cpu>;
using Trainer = train::InfiniteFormerTrainer<float, Cpu>;

namespace {

constexpr uint64_t kEvalSeed = 1;                   // the held-out sequences: SortingTask(n, 1), ...
constexpr uint64_t kEvalFirst = uint64_t{1} << 40;  // ... indices 2^40, 2^40 + 1, ... for every seed

struct Options {
  bool full = false, separate = false;
  std::vector<int64_t> lengths;
  std::vector<uint64_t> seeds{1};
  int64_t symbols = 0, segment = 0, updates = 400, batch = 16, eval = 256, log = 100, threads = 2;
  int64_t basis = 0, checkpoint_every = 50, stop_after = -1;
  double lr = 2e-3, tau = -1, ridge = -1;
  double dropout = -1;  // < 0: 0.1 with --full, 0 for the reduced demo
  std::string checkpoint, per_sequence;
};

template <class T>
std::vector<T> parse_list(const char* s) {
  std::vector<T> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) v.push_back(static_cast<T>(std::stoll(item)));
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
    else if (a == "--lengths") o.lengths = parse_list<int64_t>(next());
    else if (a == "--updates") o.updates = std::stoll(next());
    else if (a == "--batch") o.batch = std::stoll(next());
    else if (a == "--eval") o.eval = std::stoll(next());
    else if (a == "--lr") o.lr = std::stod(next());
    else if (a == "--dropout") o.dropout = std::stod(next());
    else if (a == "--threads") o.threads = std::stoll(next());
    else if (a == "--seed") o.seeds = {std::stoull(next())};
    else if (a == "--seeds") o.seeds = parse_list<uint64_t>(next());
    else if (a == "--symbols") o.symbols = std::stoll(next());
    else if (a == "--segment") o.segment = std::stoll(next());
    else if (a == "--log") o.log = std::stoll(next());
    else if (a == "--tau") o.tau = std::stod(next());
    else if (a == "--ridge") o.ridge = std::stod(next());
    else if (a == "--basis") o.basis = std::stoll(next());
    else if (a == "--checkpoint") o.checkpoint = next();
    else if (a == "--checkpoint-every") o.checkpoint_every = std::stoll(next());
    else if (a == "--stop-after") o.stop_after = std::stoll(next());
    else if (a == "--per-sequence") o.per_sequence = next();
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of the file)\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.lengths.empty()) o.lengths = o.full ? std::vector<int64_t>{4000, 8000, 16000} : std::vector<int64_t>{512, 1024, 2048};
  if (o.symbols == 0) o.symbols = o.full ? 20 : 8;
  if (o.segment == 0) o.segment = o.full ? 1024 : 128;
  if (o.dropout < 0) o.dropout = o.full ? 0.1 : 0.0;
  if (o.seeds.empty() || o.updates < 1 || o.batch < 1 || o.eval < 0 || o.checkpoint_every < 1) {
    std::fprintf(stderr, "expected at least one seed, --updates >= 1, --batch >= 1, --eval >= 0, --checkpoint-every >= 1\n");
    std::exit(2);
  }
  return o;
}

models::InfiniteFormerConfig model_config(const Options& o, bool use_ltm) {
  models::InfiniteFormerConfig c = o.full ? models::InfiniteFormerConfig::sorting() : models::InfiniteFormerConfig::sorting_demo(o.symbols);
  c.vocab = o.symbols + 2;
  c.segment_length = o.segment;
  c.use_ltm = use_ltm;
  c.dropout = o.dropout;
  if (o.tau > 0) c.ltm.tau = o.tau;
  if (o.ridge > 0) c.ltm.ridge_lambda = o.ridge;
  if (o.basis > 0) c.ltm.basis.count = o.basis;
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

/// Wall and process-CPU clocks (the machine is shared: CPU time is the steadier cost figure).
struct Clock {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  std::clock_t cpu = std::clock();
  double wall_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(); }
  double cpu_s() const { return static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC; }
};

/// Right answers (of n) per held-out sequence, teacher-forced, for `count` sequences.
std::vector<int32_t> evaluate(const Model& model, const models::SortingTask& task, int64_t length, int64_t segment, int64_t count,
                              int64_t batch) {
  autograd::NoGrad off;
  std::vector<int32_t> right(static_cast<size_t>(count), 0);
  for (int64_t first = 0; first < count; first += batch) {
    const int64_t nb = std::min(batch, count - first);
    const Batch data = make_batch(task, length, segment, kEvalFirst + static_cast<uint64_t>(first), nb);
    auto state = model.initial_state(nb);
    for (size_t s = 0; s < data.segments.size(); ++s) {
      const auto logits = model.step(data.segments[s].tokens, nullptr, state).logits.value();
      const auto& tgt = data.targets[s];
      const int64_t vocab = logits.shape()[2], len = tgt.shape()[1];
      for (int64_t i = 0; i < tgt.numel(); ++i) {
        if (tgt[i] == Trainer::kIgnore) continue;
        const float* row = logits.data() + i * vocab;
        right[static_cast<size_t>(first + i / len)] += (std::max_element(row, row + vocab) - row) == tgt[i] ? 1 : 0;
      }
    }
  }
  return right;
}

/// One training run: a seed, an arm, the lengths it trains on in turn.
struct Run {
  uint64_t seed;
  bool use_ltm;
  std::vector<int64_t> train_lengths, eval_lengths;
  std::string name() const {
    std::string s = std::string(use_ltm ? "inf-former" : "no-ltm") + "-seed" + std::to_string(seed);
    if (train_lengths.size() == 1) s += "-L" + std::to_string(train_lengths[0]);
    return s;
  }
};

/// Everything a checkpoint must match: the options that change the trained model.
std::string settings(const Options& o, const Run& r) {
  const auto c = model_config(o, r.use_ltm);
  std::ostringstream s;
  s << "run=" << r.name() << " lengths=";
  for (size_t i = 0; i < r.train_lengths.size(); ++i) s << (i ? "," : "") << r.train_lengths[i];
  s << " symbols=" << o.symbols << " segment=" << o.segment << " updates=" << o.updates << " batch=" << o.batch
    << " lr=" << o.lr << " dropout=" << o.dropout << " full=" << o.full << " tau=" << c.ltm.tau
    << " ridge=" << c.ltm.ridge_lambda << " basis=" << c.ltm.basis.count << " threads=" << o.threads;
  return s.str();
}

std::string checkpoint_path(const Options& o, const Run& r) {
  return o.checkpoint.empty() ? std::string() : o.checkpoint + "/" + r.name() + ".safetensors";
}

/// Refuses (exit 1, both settings named) a checkpoint written with other options; returns the
/// update the run resumes at (0 without a checkpoint).
int64_t check_checkpoint(const Options& o, const Run& r) {
  const std::string path = checkpoint_path(o, r);
  if (path.empty() || !std::filesystem::exists(path)) return 0;
  const io::SafetensorsReader reader(path);
  const auto& meta = reader.metadata();
  const auto it = meta.find("sorting.settings");
  const std::string found = it == meta.end() ? "(none)" : it->second;
  if (found != settings(o, r)) {
    std::fprintf(stderr,
                 "checkpoint %s was written with other options:\n  checkpoint: %s\n  this run:   %s\n"
                 "delete it or pass another --checkpoint directory\n",
                 path.c_str(), found.c_str(), settings(o, r).c_str());
    std::exit(1);
  }
  return std::stoll(meta.at("sorting.update"));
}

struct Cost {  // per length: seconds per training update, per evaluated sequence (wall, CPU)
  std::map<int64_t, double> train_wall, train_cpu, eval_wall, eval_cpu;
  std::map<int64_t, int64_t> train_updates;
};

struct Result {
  std::map<int64_t, std::vector<int32_t>> right;  // per evaluated length: right answers per sequence
  double final_loss = 0;
  Cost cost;
};

/// Progress of the whole program, for the ETA across runs.
struct Progress {
  int64_t total = 0, done = 0;
  Clock clock;
};

std::string hex(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", x);
  return buf;
}

/// Trains (or resumes) one run and evaluates it on every length of r.eval_lengths. Returns false
/// when --stop-after stopped it.
bool train_and_evaluate(const Options& o, const Run& r, Progress& progress, Result& result) {
  const models::SortingTask task(o.symbols, r.seed), eval_task(o.symbols, kEvalSeed);
  Model model(model_config(o, r.use_ltm), r.seed);
  Trainer trainer(model, {r.seed});
  train::AdamW<float, Cpu> optimizer(model.parameters(), {o.lr, 0.9, 0.999, 1e-8, 0.01});
  const train::WarmupCosine schedule{o.lr, std::max<int64_t>(1, o.updates / 10), o.updates, 0.1};
  const std::string path = checkpoint_path(o, r);
  int64_t start = 0;
  double running = 0;
  Cost& cost = result.cost;
  if (!path.empty() && std::filesystem::exists(path)) {
    const io::SafetensorsReader reader(path);
    io::read_parameters(reader, model.parameters(), /*with_optimizer_state=*/true);
    const auto& meta = reader.metadata();
    start = std::stoll(meta.at("sorting.update"));
    optimizer.set_steps(std::stoll(meta.at("sorting.adam_steps")));
    running = std::strtod(meta.at("sorting.running_loss").c_str(), nullptr);
    std::istringstream in(meta.at("sorting.cost"));
    std::string wall, cpu;
    for (int64_t L, n; in >> L >> n >> wall >> cpu;) {
      cost.train_updates[L] = n;
      cost.train_wall[L] = std::strtod(wall.c_str(), nullptr);
      cost.train_cpu[L] = std::strtod(cpu.c_str(), nullptr);
    }
    std::printf("  [%s] resumed from %s at update %lld/%lld\n", r.name().c_str(), path.c_str(), static_cast<long long>(start),
                static_cast<long long>(o.updates));
  }
  auto save = [&](int64_t next_update) {
    if (path.empty()) return;
    io::SafetensorsWriter writer;
    io::add_parameters(writer, model.parameters(), /*with_optimizer_state=*/true);
    std::ostringstream c;
    for (const auto& [L, n] : cost.train_updates) c << L << ' ' << n << ' ' << hex(cost.train_wall[L]) << ' ' << hex(cost.train_cpu[L]) << ' ';
    writer.set_metadata("sorting.settings", settings(o, r));
    writer.set_metadata("sorting.update", std::to_string(next_update));
    writer.set_metadata("sorting.adam_steps", std::to_string(optimizer.steps()));
    writer.set_metadata("sorting.running_loss", hex(running));
    writer.set_metadata("sorting.cost", c.str());
    writer.write(path);  // temporary file + rename: a killed run leaves the previous checkpoint
  };
  const int64_t end = o.stop_after >= 0 ? std::min(o.updates, std::max(start, o.stop_after)) : o.updates;
  const Clock run_clock;
  for (int64_t u = start; u < end; ++u) {
    const Clock step_clock;
    const int64_t length = r.train_lengths[static_cast<size_t>(u) % r.train_lengths.size()];
    const Batch data = make_batch(task, length, o.segment, static_cast<uint64_t>(u * o.batch), o.batch);
    model.parameters().zero_grad();
    trainer.set_update(u);
    auto state = model.initial_state(o.batch, r.seed + static_cast<uint64_t>(u));
    double loss = 0;
    for (size_t s = 0; s < data.segments.size(); ++s)
      loss += trainer.train_step(data.segments[s], data.targets[s], state, 1.0, s).loss;
    if (trainer.check_finite_gradients()) {
      optimizer.step(schedule(u), train::clip_factor(train::global_grad_norm(model.parameters()), 1.0));
      running = u == 0 ? loss : 0.98 * running + 0.02 * loss;
    }
    ++cost.train_updates[length];
    cost.train_wall[length] += step_clock.wall_s();
    cost.train_cpu[length] += step_clock.cpu_s();
    ++progress.done;
    if ((u + 1) % o.checkpoint_every == 0 || u + 1 == end) save(u + 1);
    if (o.log > 0 && ((u + 1) % o.log == 0 || u + 1 == end)) {
      const double el = run_clock.wall_s(), all = progress.clock.wall_s();
      const double done_here = static_cast<double>(u + 1 - start);
      std::printf("    [%s] update %lld/%lld  L %lld  loss %.4f  %.0f s, run ETA %.0f s, program ETA %.0f s\n", r.name().c_str(),
                  static_cast<long long>(u + 1), static_cast<long long>(o.updates), static_cast<long long>(length), running, el,
                  el / done_here * static_cast<double>(o.updates - u - 1),
                  all / static_cast<double>(progress.done) * static_cast<double>(progress.total - progress.done));
      std::fflush(stdout);
    }
  }
  if (end < o.updates) return false;
  result.final_loss = running;
  for (int64_t length : r.eval_lengths) {
    const Clock eval_clock;
    result.right[length] = evaluate(model, eval_task, length, o.segment, o.eval, o.batch);
    cost.eval_wall[length] = eval_clock.wall_s() / static_cast<double>(std::max<int64_t>(1, o.eval));
    cost.eval_cpu[length] = eval_clock.cpu_s() / static_cast<double>(std::max<int64_t>(1, o.eval));
  }
  return true;
}

struct MeanSe {
  double mean = 0, se = 0;
};

MeanSe mean_se(const std::vector<double>& x) {
  MeanSe m;
  if (x.empty()) return m;
  for (double v : x) m.mean += v;
  m.mean /= static_cast<double>(x.size());
  double ss = 0;
  for (double v : x) ss += (v - m.mean) * (v - m.mean);
  m.se = x.size() > 1 ? std::sqrt(ss / static_cast<double>(x.size() - 1) / static_cast<double>(x.size())) : 0.0;
  return m;
}

const char* verdict(const MeanSe& d) {
  if (d.se == 0) return "";
  return std::fabs(d.mean) > 2 * d.se ? (d.mean > 0 ? "  inf-former ahead (> 2 s.e.)" : "  no LTM ahead (> 2 s.e.)") : "  within 2 s.e.";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  cpu::set_num_threads(static_cast<int>(o.threads));
  const models::SortingTask eval_task(o.symbols, kEvalSeed);
  const auto cfg = model_config(o, true);
  const double n = static_cast<double>(o.symbols);
  std::printf("inf-former sorting (infinite_former.md section 12): n = %lld symbols, L_seg = %lld, STM %lld segment(s)\n",
              static_cast<long long>(o.symbols), static_cast<long long>(o.segment), static_cast<long long>(cfg.stm_segments));
  std::printf("model: %lld layers, d %lld, %lld heads, FFN %lld; LTM N = %lld, M = %lld, tau = %.2f, lambda = %.2f\n",
              static_cast<long long>(cfg.layers), static_cast<long long>(cfg.d_model), static_cast<long long>(cfg.heads),
              static_cast<long long>(cfg.d_ff), static_cast<long long>(cfg.ltm.basis.count), static_cast<long long>(cfg.ltm.samples),
              cfg.ltm.tau, cfg.ltm.ridge_lambda);
  std::printf("training: %s, %lld updates of %lld examples, AdamW lr %g (warm-up + cosine), clip 1.0, dropout %g; %zu seed(s); "
              "eval %lld held-out sequences per length (the same for every arm and seed); %lld threads\n\n",
              o.separate ? "one model per length" : "one model over the lengths in turn", static_cast<long long>(o.updates),
              static_cast<long long>(o.batch), o.lr, o.dropout, o.seeds.size(), static_cast<long long>(o.eval),
              static_cast<long long>(o.threads));

  std::vector<Run> runs;
  for (uint64_t seed : o.seeds)
    for (size_t i = 0; i < (o.separate ? o.lengths.size() : 1); ++i)
      for (bool ltm : {true, false}) {
        Run r{seed, ltm, o.separate ? std::vector<int64_t>{o.lengths[i]} : o.lengths, {}};
        r.eval_lengths = r.train_lengths;
        runs.push_back(r);
      }
  if (!o.checkpoint.empty()) std::filesystem::create_directories(o.checkpoint);
  Progress progress;
  for (const Run& r : runs) {  // refuse before anything is trained
    const int64_t start = check_checkpoint(o, r), end = o.stop_after >= 0 ? std::min(o.updates, o.stop_after) : o.updates;
    progress.total += std::max<int64_t>(0, end - start);
  }

  // Results per (seed, arm, length).
  std::map<std::tuple<uint64_t, bool, int64_t>, std::vector<int32_t>> right;
  std::map<bool, Cost> cost;
  std::map<std::pair<uint64_t, bool>, double> losses;
  bool stopped = false;
  for (const Run& r : runs) {
    Result res;
    if (!train_and_evaluate(o, r, progress, res)) {
      stopped = true;
      continue;
    }
    for (auto& [L, v] : res.right) right[{r.seed, r.use_ltm, L}] = v;
    losses[{r.seed, r.use_ltm}] = res.final_loss;
    Cost& c = cost[r.use_ltm];
    for (const auto& [L, k] : res.cost.train_updates) {
      c.train_updates[L] += k;
      c.train_wall[L] += res.cost.train_wall[L];
      c.train_cpu[L] += res.cost.train_cpu[L];
    }
    for (const auto& [L, s] : res.cost.eval_wall) {
      c.eval_wall[L] = s;
      c.eval_cpu[L] = res.cost.eval_cpu[L];
    }
  }
  if (stopped) {
    std::printf("\nstopped at update %lld (--stop-after); rerun without it to resume from %s\n", static_cast<long long>(o.stop_after),
                o.checkpoint.c_str());
    return 0;
  }

  std::FILE* csv = o.per_sequence.empty() ? nullptr : std::fopen(o.per_sequence.c_str(), "w");
  if (csv) std::fprintf(csv, "seed,arm,length,sequence,right,of\n");
  std::printf("\nteacher-forced accuracy per sequence, mean ± s.e. over %lld held-out sequences per length (chance %.3f)\n",
              static_cast<long long>(o.eval), eval_task.chance_accuracy());
  std::printf("%6s %7s  %15s  %15s  %22s  %8s  %8s\n", "seed", "L", "inf-former", "no LTM", "paired diff (inf - no)", "W=Lseg",
              "W=2Lseg");
  std::map<int64_t, std::vector<double>> seed_diffs, seed_ltm, seed_base;
  for (int64_t L : o.lengths) {
    double oracle_seg = 0, oracle_stm = 0;
    for (int64_t i = 0; i < o.eval; ++i) {
      const auto ex = eval_task.example(L, kEvalFirst + static_cast<uint64_t>(i));
      oracle_seg += eval_task.window_oracle_accuracy(ex, o.segment) / static_cast<double>(o.eval);
      oracle_stm += eval_task.window_oracle_accuracy(ex, 2 * o.segment) / static_cast<double>(o.eval);
    }
    for (uint64_t seed : o.seeds) {
      const auto& a = right[{seed, true, L}];
      const auto& b = right[{seed, false, L}];
      std::vector<double> acc_a, acc_b, diff;
      for (size_t i = 0; i < a.size(); ++i) {
        acc_a.push_back(a[i] / n);
        acc_b.push_back(b[i] / n);
        diff.push_back((a[i] - b[i]) / n);
        if (csv) {
          std::fprintf(csv, "%llu,inf-former,%lld,%zu,%d,%lld\n", static_cast<unsigned long long>(seed), static_cast<long long>(L), i, a[i],
                       static_cast<long long>(o.symbols));
          std::fprintf(csv, "%llu,no-ltm,%lld,%zu,%d,%lld\n", static_cast<unsigned long long>(seed), static_cast<long long>(L), i, b[i],
                       static_cast<long long>(o.symbols));
        }
      }
      const MeanSe ma = mean_se(acc_a), mb = mean_se(acc_b), md = mean_se(diff);
      seed_ltm[L].push_back(ma.mean);
      seed_base[L].push_back(mb.mean);
      seed_diffs[L].push_back(md.mean);
      std::printf("%6llu %7lld  %6.4f ± %6.4f  %6.4f ± %6.4f  %+7.4f ± %6.4f%s  %8.3f  %8.3f\n", static_cast<unsigned long long>(seed),
                  static_cast<long long>(L), ma.mean, ma.se, mb.mean, mb.se, md.mean, md.se, verdict(md), oracle_seg, oracle_stm);
    }
  }
  if (csv) std::fclose(csv);
  if (o.seeds.size() > 1) {
    std::printf("\nover %zu seeds: mean ± s.e. (over seeds) of each seed's mean accuracy and paired difference\n", o.seeds.size());
    std::printf("%7s  %15s  %15s  %22s\n", "L", "inf-former", "no LTM", "paired diff (inf - no)");
    for (int64_t L : o.lengths) {
      const MeanSe a = mean_se(seed_ltm[L]), b = mean_se(seed_base[L]), d = mean_se(seed_diffs[L]);
      std::printf("%7lld  %6.4f ± %6.4f  %6.4f ± %6.4f  %+7.4f ± %6.4f%s\n", static_cast<long long>(L), a.mean, a.se, b.mean, b.se, d.mean,
                  d.se, verdict(d));
    }
  }
  std::printf("\nfinal training loss (running mean):");
  for (const auto& [key, loss] : losses)
    std::printf("  %s seed %llu %.6f (%a)", key.second ? "inf-former" : "no-LTM", static_cast<unsigned long long>(key.first), loss,
                loss);
  std::printf("\ncost, seconds (wall / process CPU, %lld threads) per training update of %lld sequences and per evaluated sequence:\n",
              static_cast<long long>(o.threads), static_cast<long long>(o.batch));
  std::printf("%7s  %24s  %24s  %22s  %22s\n", "L", "train inf-former", "train no LTM", "eval inf-former", "eval no LTM");
  for (int64_t L : o.lengths) {
    auto per = [&](bool ltm, const std::map<int64_t, double>& m) {
      const auto k = cost[ltm].train_updates[L];
      return k > 0 ? m.at(L) / static_cast<double>(k) : 0.0;
    };
    std::printf("%7lld  %11.3f / %10.3f  %11.3f / %10.3f  %10.4f / %9.4f  %10.4f / %9.4f\n", static_cast<long long>(L),
                per(true, cost[true].train_wall), per(true, cost[true].train_cpu), per(false, cost[false].train_wall),
                per(false, cost[false].train_cpu), cost[true].eval_wall[L], cost[true].eval_cpu[L], cost[false].eval_wall[L],
                cost[false].eval_cpu[L]);
  }
  std::printf("total time %.0f s (wall, this invocation)\n", progress.clock.wall_s());
  return 0;
}
