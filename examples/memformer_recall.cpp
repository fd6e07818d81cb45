// memformer_recall — trains a small Memformer with MRBP and shows its memory at work.
//
// Default: a recall task after memformer.md §10, generated in the program. A document is
//   [k1 v1 k2 v2 k3 v3 k4 v4]  [G gap segments of random filler]  [k1 k2 k3 k4 QUERY]  [v1 v2 v3 v4]
// (segments of L = 8 tokens, short ones padded; 16 key, 16 value and 32 filler symbols). When the
// query segment comes, the decoder must write out the values of the first segment: the encoder
// reads one segment at a time and the decoder sees only the current one, so the values must be
// carried by the memory slots across G+1 segment boundaries. Only the answer carries loss; one
// MRBP rollout is one document (T = G+2 steps). Training starts with documents without a gap
// (--curriculum updates), then draws the gap from 0..G. The final evaluation generates the answers
// greedily on fresh documents, with the memory and with the memory reset before every segment
// (which cannot beat chance, 1/16).
//
// --shuffle 1 asks the keys in random order (key → value association proper). Learning that
// association takes longer than this demo's budget: at the default size the model first learns
// which values occurred (the "bag"), which gives ≈ 1/P of the answers; see docs/memformer.md.
//
// With --text FILE: a byte-level language model over any text file, trained with MRBP over
// consecutive segments; reports bits per byte on the held-out tail of the file, with memory and
// with the memory reset every segment.
//
//   memformer_recall                              # recall task, default settings (≈2 min on one core)
//   memformer_recall --gap 2 --steps 2500         # two gap segments
//   memformer_recall --text book.txt --segment 64 --d 128 --steps 300   # byte-level LM
//   memformer_recall --resume memformer_recall.safetensors --steps 2000 # continue a checkpointed run
//
// Data parallel (docs/distributed.md): in a build with MPI, `mpirun -np N memformer_recall
// --distributed 1 ...` trains one model on N processes. Every rank draws its own --batch rows per
// update (the global batch is N·batch), the gradients are summed across the ranks in rank order,
// and every rank takes the same AdamW step; rank 0 prints, evaluates and writes the checkpoint.
// Text mode with --distributed 1 writes no checkpoints (the streams' rows live on all ranks).
//
// Threads: --threads 1 by default. mnemo's OpenMP threads spin while they wait for each other; on
// a machine busy with other work two threads can run many times slower than one. On an idle
// machine --threads 2 is faster.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <optional>

#include "mnemo/io/slot_state_io.hpp"
#include "distributed_main.hpp"
#include "example_args.hpp"
#include "mnemo/dist/data_parallel.hpp"
#include "mnemo/mnemo.hpp"
#include "recall_task.hpp"

using namespace mnemo;
using Model = models::Memformer<float, Cpu>;
using train::Segment;
using examples::RecallTask;

namespace {

// ---- command line --------------------------------------------------------------------------
struct Options {
  std::string text;                 // --text FILE: byte-level LM mode
  std::string checkpoint = "memformer_recall.safetensors";  // "" (--checkpoint none): no checkpoints
  std::string resume;
  int64_t steps = 1500;             // optimizer updates
  int64_t batch = 32;
  int64_t gap = 1;                  // recall: gap segments between the pairs and the query
  int64_t curriculum = 300;         // recall: the first N updates use documents without gaps
  int64_t mix = 1;                  // recall: after the curriculum, draw the gap from 0..G (1) or use G (0)
  int64_t pairs = 4;
  int64_t queries = 4;              // recall: keys asked per document (<= pairs)
  int64_t shuffle = 0;              // recall: ask the keys in random order (1) or in the order given (0)
  int64_t segment_length = 8;
  int64_t d_model = 64, heads = 4, d_ff = 128, slots = 16, encoder_layers = 2, decoder_layers = 1;
  int64_t horizon = 4;              // text: segments per rollout (T)
  double lr = 2e-3, dropout = 0.0, clip = 1.0, position_scale = -1;  // < 0: the model's default
  int64_t warmup = 50;
  int64_t log_every = 25, checkpoint_every = 200, eval_batches = 8;
  uint64_t seed = 1;
  int threads = 1;                  // see --help: two spinning threads lose badly on a busy machine
  int64_t distributed = 0;          // 1: data parallel over MPI (run under mpirun)
};

Options parse(int argc, char** argv) {
  Options o;
  examples::ExampleArgs args(argc, argv,
      "usage: memformer_recall [options]\n"
      "  --text FILE            byte-level LM on FILE instead of the recall task\n"
      "  --steps N (1500)       optimizer updates      --batch B (32)       rows per rollout\n"
      "  --gap G (1)            gap segments          --pairs P (4)        pairs in the first segment\n"
      "  --queries Q (4)        keys asked            --shuffle 0|1 (0)    ask the keys in random order\n"
      "  --curriculum N (300)   first N updates without gaps\n"
      "  --mix 0|1 (1)          after the curriculum draw the gap from 0..G (1) or always use G (0)\n"
      "  --segment L (8)        segment length        --horizon T (4)      text: segments per rollout\n"
      "  --d D (64) --heads H (4) --ffn F (128) --slots K (16) --enc N (2) --dec N (1)\n"
      "  --lr X (2e-3) --warmup N (50) --dropout P (0) --clip X (1) --position-scale X (model default)\n"
      "  --seed S (1) --threads N (1) --log-every N (25) --eval-batches N (8)\n"
      "  --checkpoint FILE (memformer_recall.safetensors in the current directory; none = off) --checkpoint-every N (200)\n"
      "  --resume FILE          continue from a checkpoint written with the same settings\n"
      "  --distributed 0|1 (0)  data parallel over MPI: mpirun -np N memformer_recall --distributed 1 (batch = rows per rank)\n");
  auto take = [&](const char* name, auto& field) { args.take(name, field); };
  take("text", o.text);
  take("checkpoint", o.checkpoint);
  if (o.checkpoint == "none") o.checkpoint.clear();
  take("resume", o.resume);
  take("steps", o.steps);
  take("batch", o.batch);
  take("gap", o.gap);
  take("curriculum", o.curriculum);
  take("mix", o.mix);
  take("pairs", o.pairs);
  take("queries", o.queries);
  take("shuffle", o.shuffle);
  take("segment", o.segment_length);
  take("d", o.d_model);
  take("heads", o.heads);
  take("ffn", o.d_ff);
  take("slots", o.slots);
  take("enc", o.encoder_layers);
  take("dec", o.decoder_layers);
  take("horizon", o.horizon);
  take("lr", o.lr);
  take("warmup", o.warmup);
  take("dropout", o.dropout);
  take("clip", o.clip);
  take("position-scale", o.position_scale);
  take("seed", o.seed);
  take("threads", o.threads);
  take("log-every", o.log_every);
  take("checkpoint-every", o.checkpoint_every);
  take("eval-batches", o.eval_batches);
  take("distributed", o.distributed);
  args.reject_unknown();
  return o;
}

/// Fraction of non-padded target tokens whose argmax logit is right.
double accuracy(const Tensor<float, Cpu>& logits, const Segment& target, int64_t* counted) {
  const int64_t vocab = logits.size(2), n = target.tokens.numel();
  int64_t right = 0, total = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (target.has_padding() && target.padding[i]) continue;
    const float* row = logits.data() + i * vocab;
    right += (std::max_element(row, row + vocab) - row) == target.tokens[i] ? 1 : 0;
    ++total;
  }
  *counted += total;
  return static_cast<double>(right);
}

// ---- byte-level text -------------------------------------------------------------------------
struct TextData {
  std::vector<uint8_t> train, held_out;
  static constexpr int32_t kBos = 256;  // vocabulary: 256 bytes + BOS
};

TextData load_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(detail::cat("cannot open text file '", path, "'"));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 4096) throw ValueError(detail::cat("text file '", path, "' has ", bytes.size(), " bytes, expected >= 4096"));
  TextData d;
  const size_t cut = bytes.size() * 9 / 10;
  d.train.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
  d.held_out.assign(bytes.begin() + static_cast<std::ptrdiff_t>(cut), bytes.end());
  return d;
}

/// Segment of `batch` rows, row b reading bytes [pos[b], pos[b] + L).
Segment text_segment(const std::vector<uint8_t>& bytes, const std::vector<size_t>& pos, int64_t L) {
  const int64_t batch = static_cast<int64_t>(pos.size());
  Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t n = 0; n < L; ++n) s.tokens[b * L + n] = bytes[pos[static_cast<size_t>(b)] + static_cast<size_t>(n)];
  return s;
}

// ---- progress and timing -----------------------------------------------------------------------
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void progress(int64_t step, int64_t steps, double loss, double tokens_per_s, double elapsed, double done_here, double extra,
              const char* extra_name) {
  const double eta = done_here > 0 ? elapsed / done_here * static_cast<double>(steps - step) : 0.0;
  std::printf("step %5lld/%lld  loss %.4f  %s %.3f  %8.0f tok/s  elapsed %5.1fs  ETA %5.1fs\n",
              static_cast<long long>(step), static_cast<long long>(steps), loss, extra_name, extra, tokens_per_s,
              elapsed, eta);
  std::fflush(stdout);
}

using Comm = examples::Communicator;

int run(const Options& o, Comm* world);

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  return examples::run_on_one_or_all_ranks(argc, argv, o.distributed != 0, "memformer_recall",
                                            [&](Comm* world) { return run(o, world); });
}

namespace {

int run(const Options& o, Comm* world) {
  const int rank = world ? world->rank() : 0, ranks = world ? world->size() : 1;
  if (rank != 0) std::freopen("/dev/null", "w", stdout);  // rank 0 speaks for the job
  if (world && !o.text.empty() && !o.checkpoint.empty())
    throw ConfigError("--distributed 1 with --text: pass --checkpoint none (text-mode checkpoints of a distributed run "
                      "are not written by this demo)");
  cpu::set_num_threads(o.threads);
  const bool text_mode = !o.text.empty();
  RecallTask task;
  task.L = o.segment_length;
  task.pairs = o.pairs;
  task.queries = std::min(o.queries, o.pairs);
  task.shuffle = o.shuffle != 0;
  task.gap = o.gap;
  TextData text;
  if (text_mode) text = load_text(o.text);

  models::MemformerConfig cfg;
  cfg.vocab = text_mode ? 257 : task.vocab();
  cfg.d_model = o.d_model;
  cfg.heads = o.heads;
  cfg.d_ff = o.d_ff;
  cfg.slots = o.slots;
  cfg.encoder_layers = o.encoder_layers;
  cfg.decoder_layers = o.decoder_layers;
  cfg.segment_length = o.segment_length;
  cfg.dropout = o.dropout;
  if (o.position_scale >= 0) cfg.position_scale = o.position_scale;
  cfg.bos_id = text_mode ? TextData::kBos : RecallTask::kBos;
  Model model(cfg, o.seed);
  train::AdamWConfig adam_cfg;
  adam_cfg.lr = o.lr;
  train::AdamW<float, Cpu> adam(model.parameters(), adam_cfg);
  train::WarmupCosine schedule{o.lr, o.warmup, o.steps, 0.1};
  schedule.validate();
  train::TrainerOptions topt;
  topt.seed = o.seed;
  train::Mrbp<float, Cpu> mrbp(model, topt);
  std::optional<dist::DataParallel<Comm, float, Cpu>> dp;
  if (world) dp.emplace(*world, std::vector<nn::ParameterStore<float, Cpu>*>{&model.parameters()});

  const int64_t T = text_mode ? o.horizon : task.steps(task.gap);
  // What a checkpoint must match to be resumed by this run.
  const std::string signature = detail::cat(text_mode ? "text" : "recall", " vocab=", cfg.vocab, " d=", cfg.d_model,
                                            " heads=", cfg.heads, " ffn=", cfg.d_ff, " slots=", cfg.slots, " enc=",
                                            cfg.encoder_layers, " dec=", cfg.decoder_layers, " L=", cfg.segment_length,
                                            " batch=", o.batch, " gap=", o.gap, " pairs=", o.pairs, " queries=", task.queries, " shuffle=", o.shuffle, " seed=", o.seed);
  std::printf("Memformer %s: vocab %lld, d %lld, heads %lld, ffn %lld, slots %lld, %lld encoder + %lld decoder layers, "
              "%lld parameters\n",
              text_mode ? "byte-level LM" : "key-value recall", static_cast<long long>(cfg.vocab),
              static_cast<long long>(cfg.d_model), static_cast<long long>(cfg.heads), static_cast<long long>(cfg.d_ff),
              static_cast<long long>(cfg.slots), static_cast<long long>(cfg.encoder_layers),
              static_cast<long long>(cfg.decoder_layers), static_cast<long long>(model.parameters().numel()));
  if (text_mode)
    std::printf("text '%s': %zu training bytes, %zu held-out bytes; segment %lld, horizon T=%lld\n", o.text.c_str(),
                text.train.size(), text.held_out.size(), static_cast<long long>(o.segment_length), static_cast<long long>(T));
  else
    std::printf("task: %lld pairs, %lld gap segment(s), segment length %lld, %lld keys / %lld values / %lld fillers "
                "(chance %.1f%%); MRBP horizon T=%lld (training draws the gap from 0..%lld)\n",
                static_cast<long long>(task.pairs), static_cast<long long>(task.gap), static_cast<long long>(task.L),
                static_cast<long long>(task.n_keys), static_cast<long long>(task.n_values),
                static_cast<long long>(task.n_filler), 100.0 / static_cast<double>(task.n_values),
                static_cast<long long>(T), static_cast<long long>(task.gap));
  std::printf("training: %lld updates, batch %lld, lr %g (warm-up %lld, cosine), clip %g, dropout %g, %d threads\n",
              static_cast<long long>(o.steps), static_cast<long long>(o.batch), o.lr, static_cast<long long>(o.warmup),
              o.clip, o.dropout, o.threads);
  if (world)
    std::printf("data parallel: %d ranks x %lld rows (global batch %lld), gradients summed in rank order\n", ranks,
                static_cast<long long>(o.batch), static_cast<long long>(o.batch) * ranks);

  // Text mode: every row reads its own contiguous stretch of the training bytes.
  const size_t span = static_cast<size_t>(o.segment_length);
  std::vector<size_t> cursor(static_cast<size_t>(o.batch));
  for (size_t b = 0; b < cursor.size(); ++b)  // the rows of all ranks spread over the text
    cursor[b] = text.train.size() * (static_cast<size_t>(rank) * cursor.size() + b) / (cursor.size() * static_cast<size_t>(ranks));
  auto text_state = model.initial_state(o.batch);

  // Checkpoints: parameters + AdamW moments (+ the text streams' memory), and the counters that
  // make a resumed run continue exactly where the saved one was.
  auto save_checkpoint = [&](int64_t done) {
    if (rank != 0) return;  // the replicas are identical
    io::SafetensorsWriter w;
    io::add_parameters(w, model.parameters(), /*with_optimizer_state=*/true);
    if (text_mode) io::add_state(w, text_state);
    std::string cur;
    for (size_t b = 0; b < cursor.size(); ++b) cur += (b ? "," : "") + std::to_string(cursor[b]);
    w.set_metadata("signature", signature);
    w.set_metadata("step", std::to_string(done));
    w.set_metadata("adam_steps", std::to_string(adam.steps()));
    w.set_metadata("update_index", std::to_string(mrbp.update_index()));
    w.set_metadata("cursor", cur);
    w.write(o.checkpoint);
  };
  int64_t first_step = 0;
  if (!o.resume.empty()) {
    io::SafetensorsReader r(o.resume);
    const auto& meta = r.metadata();
    auto field = [&](const char* key) {
      auto it = meta.find(key);
      if (it == meta.end()) throw IoError(detail::cat("checkpoint '", o.resume, "' has no metadata '", key, "'"));
      return it->second;
    };
    if (field("signature") != signature)
      throw ConfigError(detail::cat("checkpoint '", o.resume, "' was written by a run with settings '",
                                    field("signature"), "', this run has '", signature, "'"));
    io::read_parameters(r, model.parameters(), /*with_optimizer_state=*/true);
    if (text_mode) text_state = io::read_state<float, Cpu>(r);
    first_step = std::stoll(field("step"));
    adam.set_steps(std::stoll(field("adam_steps")));
    mrbp.set_update_index(std::stoll(field("update_index")));
    const std::string cur = field("cursor");
    size_t b = 0, at = 0;
    while (text_mode && b < cursor.size() && at <= cur.size()) {
      const size_t comma = std::min(cur.find(',', at), cur.size());
      cursor[b++] = static_cast<size_t>(std::stoull(cur.substr(at, comma - at)));
      at = comma + 1;
    }
    std::printf("resumed from '%s' after %lld updates\n", o.resume.c_str(), static_cast<long long>(first_step));
  }
  if (dp) dp->broadcast_parameters();  // rank 0's values and moments on every rank

  const auto t0 = Clock::now();
  int64_t tokens = 0;
  double loss_avg = 0;
  const RngKey data_key{o.seed, 0xDA7A};
  for (int64_t step = first_step; step < o.steps; ++step) {
    model.parameters().zero_grad();
    // With --distributed: Σ over the ranks, each bucket started during the rollout's last
    // backward sweep as soon as its gradients are final; every rank then holds the global gradient.
    auto reduced = [&](auto&& rollout) { return dp ? dp->reduce_overlapped(rollout) : rollout(); };
    train::RolloutResult r;
    if (text_mode) {
      std::vector<Segment> segs;
      train::Resets resets(static_cast<size_t>(T), std::vector<uint8_t>(static_cast<size_t>(o.batch), 0));
      std::vector<size_t> pos = cursor;
      for (int64_t t = 0; t <= T; ++t) {
        for (size_t b = 0; b < pos.size(); ++b)
          if (pos[b] + span > text.train.size()) {  // wrap around: a new document for this row
            pos[b] = 0;
            if (t < T) resets[static_cast<size_t>(t)][b] = 1;
          }
        segs.push_back(text_segment(text.train, pos, o.segment_length));
        if (t < T)
          for (auto& p : pos) p += span;
      }
      cursor = pos;  // the next rollout starts from the last target segment
      const auto w = world ? dist::global_step_weights(*world, dist::memformer_step_tokens(segs)) : std::vector<double>{};
      r = reduced([&] { return mrbp.rollout(segs, resets, text_state, w); });
    } else {
      // Curriculum by mixture: each update draws its gap from 0..G (G = the evaluation gap), so
      // the short documents teach writing and reading while the long ones teach keeping.
      const RngKey batch_key = data_key.derive(static_cast<uint64_t>(step));
      const int64_t g = step < o.curriculum ? 0
                        : o.mix ? static_cast<int64_t>(batch_key.bits(0) % static_cast<uint32_t>(task.gap + 1))
                                : task.gap;
      // Every rank draws its own documents (rank 0 alone draws what a single process draws).
      const RngKey rows_key = rank == 0 ? batch_key.derive(1) : batch_key.derive(1).derive(static_cast<uint64_t>(rank));
      const auto segs = task.documents(o.batch, rows_key, g);
      auto state = model.initial_state(o.batch);  // one rollout = one document per row
      std::vector<double> weights(static_cast<size_t>(task.steps(g)), 0.0);
      weights.back() = 1.0;  // only the value positions of the target segment carry loss
      if (world) weights = dist::global_step_weights(*world, dist::memformer_step_tokens(segs), weights);
      r = reduced([&] { return mrbp.rollout(segs, {}, state, weights); });
    }
    const double factor = train::clip_factor(train::global_grad_norm(model.parameters()), o.clip);
    if (r.finite) adam.step(schedule(step), factor);
    tokens += r.tokens;
    loss_avg = step == first_step ? r.loss : 0.9 * loss_avg + 0.1 * r.loss;
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      const double el = seconds_since(t0);
      progress(step + 1, o.steps, loss_avg, static_cast<double>(tokens) / el, el, static_cast<double>(step + 1 - first_step),
               text_mode ? loss_avg / std::log(2.0) : std::exp(-loss_avg), text_mode ? "bits/byte" : "p(target)");
    }
    if (!o.checkpoint.empty() && ((step + 1) % o.checkpoint_every == 0 || step + 1 == o.steps)) save_checkpoint(step + 1);
  }

  // ---- evaluation: memory vs memory reset before every segment ------------------------------
  const double train_seconds = seconds_since(t0);
  if (dp) dp->check_replicas();  // StateError unless every rank holds rank 0's parameters
  if (rank != 0) return 0;
  if (text_mode) {
    const int64_t rows = 1, L = o.segment_length;
    const size_t usable = (text.held_out.size() - 1) / span;
    double nll[2] = {0, 0};
    int64_t counted = 0;
    for (int mode = 0; mode < 2; ++mode) {
      auto state = model.initial_state(rows);
      for (size_t s = 0; s + 1 < usable; ++s) {
        const auto in = text_segment(text.held_out, {s * span}, L), target = text_segment(text.held_out, {(s + 1) * span}, L);
        if (mode == 1) state = model.initial_state(rows);
        const auto out = model.step(state, in, &target);
        nll[mode] += static_cast<double>(model.loss(Model::Var(out.logits), target).value()[0]) * static_cast<double>(L);
        if (mode == 0) counted += L;
        state = out.next;
      }
    }
    std::printf("held-out bits per byte: with memory %.4f, memory reset every segment %.4f (%lld bytes)\n",
                nll[0] / static_cast<double>(counted) / std::log(2.0), nll[1] / static_cast<double>(counted) / std::log(2.0),
                static_cast<long long>(counted));
  } else {
    double right[2] = {0, 0}, generated_right[2] = {0, 0};
    int64_t counted[2] = {0, 0};
    for (int64_t e = 0; e < o.eval_batches; ++e) {
      const auto segs = task.documents(o.batch, RngKey{o.seed + 1000003, 0xE7A1}.derive(static_cast<uint64_t>(e)), task.gap);
      for (int mode = 0; mode < 2; ++mode) {
        auto state = model.initial_state(o.batch);
        for (int64_t t = 0; t < T; ++t) {
          if (mode == 1) state = model.initial_state(o.batch);  // reset before every segment
          const bool last = t + 1 == T;
          const auto out = model.step(state, segs[static_cast<size_t>(t)], last ? &segs[static_cast<size_t>(t + 1)] : nullptr);
          if (last) {
            right[mode] += accuracy(out.logits, segs[static_cast<size_t>(t + 1)], &counted[mode]);
            // Generated answers (the decoder feeds on its own picks, not on the true values).
            const auto gen = model.generate(out);
            const auto& target = segs[static_cast<size_t>(t + 1)];
            for (int64_t i = 0; i < target.tokens.numel(); ++i)
              if (!target.padding[i]) generated_right[mode] += gen.tokens[i] == target.tokens[i] ? 1 : 0;
          }
          state = out.next;
        }
      }
    }
    std::printf("recall accuracy on %lld fresh documents (answers generated greedily): with memory %.1f%%, memory "
                "reset every segment %.1f%%, chance %.1f%%\n",
                static_cast<long long>(o.eval_batches * o.batch), 100.0 * generated_right[0] / static_cast<double>(counted[0]),
                100.0 * generated_right[1] / static_cast<double>(counted[1]), 100.0 / static_cast<double>(task.n_values));
    std::printf("  (teacher-forced, the true earlier answers given: with memory %.1f%%, reset %.1f%%)\n",
                100.0 * right[0] / static_cast<double>(counted[0]), 100.0 * right[1] / static_cast<double>(counted[1]));
  }
  std::printf("training took %.1f s\n", train_seconds);
  if (!o.checkpoint.empty()) {
    std::error_code ec;
    const auto where = std::filesystem::absolute(o.checkpoint, ec);
    std::printf("checkpoint written to %s (continue with --resume %s; --checkpoint none writes none)\n",
                ec ? o.checkpoint.c_str() : where.c_str(), o.checkpoint.c_str());
  }
  return 0;
}

}  // namespace
