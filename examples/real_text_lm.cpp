// real_text_lm — do the memories help on long real documents? (issue #11, docs/real_text.md)
//
// Byte-level language modelling on a directory of plain-text documents (one document per *.txt
// file; examples/real_text/prepare_kjv.sh writes the 66 books of the King James Bible from Debian's
// bible-kjv-text package). Four arms are trained with the same budget (updates × batch × horizon ×
// segment bytes) and evaluated on held-out documents:
//   memformer        Memformer, MRBP, memory carried across segments (reset at document starts)
//   memformer-reset  the same Memformer with its memory reset before every segment (train and eval)
//   inf-former       ∞-former with its long-term memory (no gradient across segments, §7)
//   no-ltm           the same ∞-former without long-term memory (use_ltm = false)
// Every arm runs with --seeds seeds (model initialisation and data order). The report gives held-out
// bits per byte overall and by the byte's position in its document (the distance over which a memory
// could help), mean ± standard error over the seeds; a difference is called one only beyond two
// standard errors of the difference.
//
// Split: documents sorted by file name; every --val-every-th one (the 8th, 16th, …) is held out.
// Each held-out document is read from its start, up to --eval-bytes bytes. The positions scored are
// the same for every arm: bytes [L, ⌊n/L⌋·L) of each document (the Memformer predicts segment t+1
// from segment t, so it never predicts the first segment).
//
// Diagnosis (docs/real_text.md, "Why the ∞-former's memory does not help"): --score-train K also
// scores the first K training documents by name with exactly the held-out protocol, and
// --empty-memory 1 also scores every trained model with its memory emptied before every segment
// (nothing carried, nothing read); both add column groups to the results file and name themselves
// in its settings line. --ridge and --sticky set the ∞-former's λ and sticky memories.
//
// Progress: a line per --log updates with ETA. Resume: every finished (arm, seed) run is appended
// to --results (CSV); a rerun with the same settings skips the runs already there and reports all.
// Mid-run: with --checkpoint-every N the run in progress writes <results>.<arm>.<seed>.ckpt (model,
// AdamW moments, stream states, data position; atomically) every N updates, and a rerun resumes it
// at that update exactly (the same bits as an uninterrupted run); --stop-after K stops the process
// after update K (exit 3) to test that. Data parallel: in a build with MPI, `mpirun -np N
// real_text_lm --distributed 1 ...` trains each arm on N processes, every rank streaming its own
// --batch rows (documents), gradients summed by dist::DataParallel; rank 0 evaluates and writes.
//
//   examples/real_text/prepare_kjv.sh kjv            # the corpus (apt-get install bible-kjv)
//   real_text_lm --corpus kjv                        # default: 4 arms × 3 seeds, minutes on 2 cores
//   real_text_lm --corpus kjv --updates 2000 --d 128 --segment 128 --results long.csv   # longer
#include <algorithm>
#include <bit>
#include <climits>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "distributed_main.hpp"
#include "example_args.hpp"
#include "mnemo/dist/checkpoint.hpp"
#include "mnemo/dist/data_parallel.hpp"
#include "mnemo/dist/infinite_former_checkpoint.hpp"
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/mnemo.hpp"

using namespace mnemo;
using train::Segment;

namespace {

using Comm = examples::Communicator;

// ---- options ---------------------------------------------------------------------------------
struct Options {
  std::string corpus, results = "real_text_lm.csv", arms = "memformer,memformer-reset,inf-former,no-ltm";
  int64_t seeds = 3, updates = 300, batch = 16, horizon = 4, segment = 64, val_every = 8, eval_bytes = 16384;
  int64_t d_model = 64, heads = 4, d_ff = 256, layers = 2, slots = 16, basis = 128, log = 50;
  int64_t checkpoint_every = 0, stop_after = 0, distributed = 0;
  int64_t score_train = 0, empty_memory = 0, sticky = 0;  // diagnosis (docs/real_text.md, "Why")
  int ranks = 1;  // with --distributed 1: the MPI world's size (set by run)
  // τ 0.9, not the LM preset's 0.5 (the paper's, for 512-token segments): with 64-byte segments
  // τ 0.5 halves what is left of the past at every segment, and at 900 updates the ∞-former alone
  // scored 0.014 ± 0.004 bits/byte better with τ 0.9 (docs/real_text.md, "Why").
  double lr = 2e-3, tau = 0.9, ridge = 0.5;
  int threads = 2;
};

Options parse(int argc, char** argv) {
  Options o;
  examples::ExampleArgs args(argc, argv,
      "usage: real_text_lm --corpus DIR [options]   (see the top of examples/real_text_lm.cpp)\n"
      "  --corpus DIR             directory of *.txt documents (examples/real_text/prepare_kjv.sh DIR)\n"
      "  --arms LIST              memformer,memformer-reset,inf-former,no-ltm (all four)\n"
      "  --seeds N (3)            runs per arm        --results FILE (real_text_lm.csv)  finished runs, resumable\n"
      "  --updates N (300) --batch B (16) --horizon T (4) --segment L (64)   budget: updates·B·T·L bytes\n"
      "  --d D (64) --heads H (4) --ffn F (256) --layers N (2: Memformer N encoder + N decoder; ∞-former N)\n"
      "  --slots K (16) --basis N (128) --tau X (0.9) --lr X (2e-3)\n"
      "  --ridge X (0.5)          the LTM's ridge lambda   --sticky 0|1 (0)  sticky memories (the LTM's densities)\n"
      "  --val-every K (8)        every K-th document is held out   --eval-bytes N (16384) per held-out document\n"
      "  --score-train K (0)      also score the first K training documents (by name) exactly as the held-out ones\n"
      "  --empty-memory 0|1 (0)   also score every arm with its memory emptied before every segment (the trained\n"
      "                           model, nothing read: the Memformer's slots reset, the ∞-former's LTM empty)\n"
      "  --threads N (2) --log N (50)\n"
      "  --checkpoint-every N (0: none)  mid-run checkpoint <results>.<arm>.<seed>.ckpt; a rerun resumes it\n"
      "  --stop-after K (0: never)       exit 3 after update K of a run (tests the resume)\n"
      "  --distributed 0|1 (0)  data parallel over MPI: mpirun -np N real_text_lm --distributed 1 (batch = rows per rank)\n");
  auto take = [&](const char* name, auto& field) { args.take(name, field); };
  take("corpus", o.corpus);
  take("results", o.results);
  take("arms", o.arms);
  take("seeds", o.seeds);
  take("updates", o.updates);
  take("batch", o.batch);
  take("horizon", o.horizon);
  take("segment", o.segment);
  take("val-every", o.val_every);
  take("eval-bytes", o.eval_bytes);
  take("d", o.d_model);
  take("heads", o.heads);
  take("ffn", o.d_ff);
  take("layers", o.layers);
  take("slots", o.slots);
  take("basis", o.basis);
  take("tau", o.tau);
  take("lr", o.lr);
  take("threads", o.threads);
  take("log", o.log);
  take("checkpoint-every", o.checkpoint_every);
  take("stop-after", o.stop_after);
  take("distributed", o.distributed);
  take("ridge", o.ridge);
  take("sticky", o.sticky);
  take("score-train", o.score_train);
  take("empty-memory", o.empty_memory);
  args.reject_unknown();
  require<ConfigError>(!o.corpus.empty(), "real_text_lm: --corpus DIR is required (examples/real_text/prepare_kjv.sh DIR)");
  require<ConfigError>(o.seeds >= 1 && o.updates >= 1 && o.batch >= 1 && o.horizon >= 1 && o.segment >= 2,
                       "real_text_lm: --seeds, --updates, --batch, --horizon must be >= 1 and --segment >= 2");
  require<ConfigError>(o.val_every >= 2, "real_text_lm: --val-every = ", o.val_every, ", expected >= 2");
  require<ConfigError>(o.checkpoint_every >= 0 && o.stop_after >= 0 && (o.distributed == 0 || o.distributed == 1),
                       "real_text_lm: --checkpoint-every and --stop-after must be >= 0, --distributed 0 or 1");
  require<ConfigError>(o.score_train >= 0 && (o.empty_memory == 0 || o.empty_memory == 1) && (o.sticky == 0 || o.sticky == 1),
                       "real_text_lm: --score-train must be >= 0, --empty-memory and --sticky 0 or 1");
  return o;
}

// ---- corpus ----------------------------------------------------------------------------------
using Document = std::vector<uint8_t>;

struct Corpus {
  std::vector<Document> train, held_out;
  std::vector<std::string> held_out_names;
  std::vector<Document> scored_train;  // the first --score-train training documents by name
  std::vector<std::string> scored_train_names;
};

Corpus load_corpus(const Options& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require<IoError>(fs::is_directory(o.corpus, ec), "real_text_lm: --corpus '", o.corpus, "' is not a directory");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(o.corpus))
    if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  require<IoError>(static_cast<int64_t>(files.size()) >= o.val_every, "real_text_lm: '", o.corpus, "' holds ",
                   files.size(), " *.txt documents, expected >= --val-every = ", o.val_every);
  Corpus c;
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream f(files[i], std::ios::binary);
    Document d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    require<IoError>(static_cast<int64_t>(d.size()) >= 2 * o.segment, "real_text_lm: '", files[i].string(), "' has ",
                     d.size(), " bytes, expected >= 2·segment = ", 2 * o.segment);
    if (static_cast<int64_t>(i % static_cast<size_t>(o.val_every)) == o.val_every - 1) {
      c.held_out.push_back(std::move(d));
      c.held_out_names.push_back(files[i].filename().string());
    } else {
      if (static_cast<int64_t>(c.scored_train.size()) < o.score_train) {
        c.scored_train.push_back(d);
        c.scored_train_names.push_back(files[i].filename().string());
      }
      c.train.push_back(std::move(d));
    }
  }
  require<ConfigError>(static_cast<int64_t>(c.scored_train.size()) == o.score_train, "real_text_lm: --score-train = ",
                       o.score_train, ", but '", o.corpus, "' has ", c.train.size(), " training documents");
  return c;
}

/// B rows, each reading its own documents one segment at a time; a row that reaches the end of its
/// document starts a random other one and flags a reset for that step.
class TrainStream {
 public:
  TrainStream(const std::vector<Document>& docs, int64_t rows, int64_t L, uint64_t seed)
      : docs_(&docs), L_(L), key_{seed, 0x7E47}, doc_(static_cast<size_t>(rows)), pos_(static_cast<size_t>(rows), 0) {
    for (size_t b = 0; b < doc_.size(); ++b) doc_[b] = pick();
  }

  /// The data position (each row's document and offset, the document draws) into a checkpoint.
  /// The data position as integers: the document draws, then each row's document and offset.
  std::vector<int64_t> position() const {
    std::vector<int64_t> v = {static_cast<int64_t>(draws_)};
    v.insert(v.end(), doc_.begin(), doc_.end());
    v.insert(v.end(), pos_.begin(), pos_.end());
    return v;
  }
  /// Restores position()'s integers, all or nothing (ShapeError / ValueError naming the entry
  /// when they do not fit these documents and rows).
  void set_position(const std::vector<int64_t>& v, const std::string& what) {
    const auto rows = static_cast<int64_t>(doc_.size());
    require<ShapeError>(static_cast<int64_t>(v.size()) == 1 + 2 * rows, "checkpoint: ", what, " holds ", v.size(),
                        " integers, expected 1 + 2 x ", rows, " rows");
    require<ValueError>(v[0] >= 0, "checkpoint: ", what, " draws = ", v[0], ", expected >= 0");
    for (int64_t b = 0; b < rows; ++b) {
      const int64_t doc = v[static_cast<size_t>(1 + b)], pos = v[static_cast<size_t>(1 + rows + b)];
      require<ValueError>(doc >= 0 && doc < static_cast<int64_t>(docs_->size()), "checkpoint: ", what, " doc[", b,
                          "] = ", doc, ", expected 0 <= doc < ", docs_->size(), " training documents");
      const auto size = static_cast<int64_t>((*docs_)[static_cast<size_t>(doc)].size());
      require<ValueError>(pos >= 0 && pos <= size, "checkpoint: ", what, " pos[", b, "] = ", pos,
                          ", expected 0 <= pos <= ", size, " (the document's bytes)");
    }
    draws_ = static_cast<uint64_t>(v[0]);
    for (int64_t b = 0; b < rows; ++b) {
      doc_[static_cast<size_t>(b)] = static_cast<size_t>(v[static_cast<size_t>(1 + b)]);
      pos_[static_cast<size_t>(b)] = static_cast<size_t>(v[static_cast<size_t>(1 + rows + b)]);
    }
  }

  void save(io::SafetensorsWriter& w) const {
    std::vector<int64_t> doc(doc_.begin(), doc_.end()), pos(pos_.begin(), pos_.end());
    const auto rows = static_cast<int64_t>(doc.size());
    w.add("stream@doc", Tensor<int64_t, Cpu>::from_host(Shape{rows}, doc));
    w.add("stream@pos", Tensor<int64_t, Cpu>::from_host(Shape{rows}, pos));
    w.add("stream@draws", Tensor<int64_t, Cpu>::from_host(Shape{1}, std::vector<int64_t>{static_cast<int64_t>(draws_)}));
  }
  /// Restores save()'s position, all or nothing (IoError / ShapeError / ValueError naming the
  /// tensor when the checkpoint does not fit these documents and rows).
  void restore(const io::SafetensorsReader& r) {
    const auto rows = static_cast<int64_t>(doc_.size());
    const auto doc = r.read<int64_t, Cpu>("stream@doc"), pos = r.read<int64_t, Cpu>("stream@pos");
    const auto draws = r.read<int64_t, Cpu>("stream@draws");
    check_shape("stream@doc", doc.shape(), {{"rows", rows}});
    check_shape("stream@pos", pos.shape(), {{"rows", rows}});
    check_shape("stream@draws", draws.shape(), {{"one", 1}});
    for (int64_t b = 0; b < rows; ++b) {
      require<ValueError>(doc[b] >= 0 && doc[b] < static_cast<int64_t>(docs_->size()), "checkpoint: stream@doc[", b,
                          "] = ", doc[b], ", expected 0 <= doc < ", docs_->size(), " training documents");
      const auto size = static_cast<int64_t>((*docs_)[static_cast<size_t>(doc[b])].size());
      require<ValueError>(pos[b] >= 0 && pos[b] <= size, "checkpoint: stream@pos[", b, "] = ", pos[b],
                          ", expected 0 <= pos <= ", size, " (the document's bytes)");
    }
    require<ValueError>(draws[0] >= 0, "checkpoint: stream@draws = ", draws[0], ", expected >= 0");
    for (int64_t b = 0; b < rows; ++b) {
      doc_[static_cast<size_t>(b)] = static_cast<size_t>(doc[b]);
      pos_[static_cast<size_t>(b)] = static_cast<size_t>(pos[b]);
    }
    draws_ = static_cast<uint64_t>(draws[0]);
  }

  /// T+1 segments (step t reads segment t and predicts t+1) and the T reset vectors; the stream
  /// then stands at the last segment, which the next call reads first.
  void next(int64_t T, std::vector<Segment>& segs, train::Resets& resets) {
    const int64_t rows = static_cast<int64_t>(doc_.size());
    segs.assign(static_cast<size_t>(T + 1), Segment{Tensor<int32_t, Cpu>(Shape{rows, L_}), {}});
    resets.assign(static_cast<size_t>(T), std::vector<uint8_t>(static_cast<size_t>(rows), 0));
    for (int64_t t = 0; t <= T; ++t) {
      for (size_t b = 0; b < doc_.size(); ++b) {
        if (pos_[b] + static_cast<size_t>(L_) > (*docs_)[doc_[b]].size()) {
          doc_[b] = pick();
          pos_[b] = 0;
          if (t < T) resets[static_cast<size_t>(t)][b] = 1;
        }
        const Document& d = (*docs_)[doc_[b]];
        for (int64_t n = 0; n < L_; ++n) segs[static_cast<size_t>(t)].tokens[static_cast<int64_t>(b) * L_ + n] = d[pos_[b] + static_cast<size_t>(n)];
        if (t < T) pos_[b] += static_cast<size_t>(L_);
      }
    }
  }

 private:
  size_t pick() { return static_cast<size_t>(key_.derive(draws_++).bits(0) % static_cast<uint32_t>(docs_->size())); }

  const std::vector<Document>* docs_;
  int64_t L_;
  RngKey key_;
  uint64_t draws_ = 0;
  std::vector<size_t> doc_, pos_;
};

// ---- scoring ---------------------------------------------------------------------------------
/// Position buckets (bytes from the document start) of the report.
const std::vector<int64_t> kBucketEdges = {0, 512, 2048, 8192, int64_t{1} << 62};

struct Score {
  std::vector<double> bits = std::vector<double>(kBucketEdges.size() - 1, 0.0);
  std::vector<int64_t> count = std::vector<int64_t>(kBucketEdges.size() - 1, 0);

  void add(int64_t position, double nats) {
    size_t k = 0;
    while (position >= kBucketEdges[k + 1]) ++k;
    bits[k] += nats / std::log(2.0);
    ++count[k];
  }
  double total_bits() const { return std::accumulate(bits.begin(), bits.end(), 0.0); }
  int64_t total_count() const { return std::accumulate(count.begin(), count.end(), int64_t{0}); }
  /// Bits per byte in bucket k (k < 0: all positions); nullopt when nothing was scored there.
  std::optional<double> bpb(int k) const {
    const double b = k < 0 ? total_bits() : bits[static_cast<size_t>(k)];
    const int64_t n = k < 0 ? total_count() : count[static_cast<size_t>(k)];
    if (n == 0) return std::nullopt;
    return b / static_cast<double>(n);
  }
};

/// −log softmax(row)[target] in double.
double nll(const float* row, int64_t vocab, int32_t target) {
  const double top = *std::max_element(row, row + vocab);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - top);
  return std::log(sum) + top - static_cast<double>(row[target]);
}

Segment one_row(const Document& d, int64_t start, int64_t L) {
  Segment s{Tensor<int32_t, Cpu>(Shape{1, L}), {}};
  for (int64_t n = 0; n < L; ++n) s.tokens[n] = d[static_cast<size_t>(start + n)];
  return s;
}

/// Scores bytes [L, S·L) of every document of `docs` (S = ⌊min(n, eval_bytes)/L⌋) with the Memformer.
Score evaluate(const models::Memformer<float, Cpu>& model, const std::vector<Document>& docs, const Options& o,
               bool reset_every_segment) {
  autograd::NoGrad off;
  Score score;
  const int64_t L = o.segment;
  for (const Document& d : docs) {
    const int64_t S = std::min<int64_t>(static_cast<int64_t>(d.size()), o.eval_bytes) / L;
    auto state = model.initial_state(1);
    for (int64_t s = 0; s + 1 < S; ++s) {
      if (reset_every_segment) state = model.initial_state(1);
      const Segment in = one_row(d, s * L, L), target = one_row(d, (s + 1) * L, L);
      auto out = model.step(state, in, &target);
      const int64_t vocab = out.logits.size(2);
      for (int64_t i = 0; i < L; ++i) score.add((s + 1) * L + i, nll(out.logits.data() + i * vocab, vocab, target.tokens[i]));
      state = std::move(out.next);
    }
  }
  return score;
}

/// The same positions with the ∞-former: position i of segment s predicts byte s·L + i + 1. With
/// `empty_memory` the state is emptied before every segment: with stm_segments = 0 nothing is then
/// written or read (Z_ltm = 0, infinite_former_layer.hpp), the trained model without its LTM read.
Score evaluate(const models::InfiniteFormer<float, Cpu>& model, const std::vector<Document>& docs, const Options& o,
               bool empty_memory) {
  autograd::NoGrad off;
  Score score;
  const int64_t L = o.segment;
  for (const Document& d : docs) {
    const int64_t S = std::min<int64_t>(static_cast<int64_t>(d.size()), o.eval_bytes) / L;
    auto state = model.initial_state(1);
    for (int64_t s = 0; s < S; ++s) {
      if (empty_memory) state = model.initial_state(1);
      const Segment in = one_row(d, s * L, L);
      const auto logits = model.step(in.tokens, nullptr, state).logits.value();
      const int64_t vocab = logits.shape()[2];
      for (int64_t i = 0; i < L; ++i) {
        const int64_t position = s * L + i + 1;
        if (position < L || position >= S * L) continue;
        score.add(position, nll(logits.data() + i * vocab, vocab, d[static_cast<size_t>(position)]));
      }
    }
  }
  return score;
}

/// The evaluations of every run: the held-out documents, then (with --empty-memory) the same with
/// the memory emptied before every segment, then (with --score-train) the first K training
/// documents, then those with the memory emptied. `suffix` names their columns in the results file.
struct Evaluation {
  std::string name, suffix;
  bool training_documents = false, empty_memory = false;
};

std::vector<Evaluation> evaluations(const Options& o) {
  std::vector<Evaluation> e = {{"held-out", "", false, false}};
  const std::string train = "training documents 1-" + std::to_string(o.score_train) + " (held-out protocol)";
  if (o.empty_memory) e.push_back({"held-out, memory emptied before every segment", "_emptied", false, true});
  if (o.score_train > 0) e.push_back({train, "_train", true, false});
  if (o.score_train > 0 && o.empty_memory) e.push_back({train + ", memory emptied", "_train_emptied", true, true});
  return e;
}

/// Every evaluation of `evaluations(o)` with `score(documents, empty_memory)`.
template <class ScoreFn>
std::vector<Score> score_all(const Corpus& c, const Options& o, ScoreFn&& score) {
  std::vector<Score> out;
  for (const Evaluation& e : evaluations(o)) out.push_back(score(e.training_documents ? c.scored_train : c.held_out, e.empty_memory));
  return out;
}

// ---- one run ---------------------------------------------------------------------------------
struct Run {
  std::string arm;
  uint64_t seed = 0;
  int64_t parameters = 0;
  double seconds = 0, train_bits = 0;
  std::vector<Score> scores;  // one per evaluations(o); [0] the held-out documents
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void progress(const Run& r, int64_t u, int64_t updates, double loss, Clock::time_point t0) {
  const double el = since(t0);
  std::printf("  [%-15s seed %llu] update %5lld/%lld  train %.3f bits/byte  %6.1f s  ETA %6.1f s\n", r.arm.c_str(),
              static_cast<unsigned long long>(r.seed), static_cast<long long>(u), static_cast<long long>(updates),
              loss / std::log(2.0), el, el / static_cast<double>(u) * static_cast<double>(updates - u));
  std::fflush(stdout);
}

/// --stop-after K reached: the run stops after update K (its checkpoint, if due, written).
struct Stopped {
  int64_t update;
};

/// The settings a results file must match to be reused.
std::string signature(const Options& o) {
  std::ostringstream s;
  s << "corpus=" << std::filesystem::path(o.corpus).filename().string() << " updates=" << o.updates << " batch=" << o.batch
    << " horizon=" << o.horizon << " segment=" << o.segment << " d=" << o.d_model << " heads=" << o.heads << " ffn=" << o.d_ff
    << " layers=" << o.layers << " slots=" << o.slots << " basis=" << o.basis << " tau=" << o.tau << " lr=" << o.lr
    << " val_every=" << o.val_every << " eval_bytes=" << o.eval_bytes;
  // Settings added later are named only when not at their default: older files stay readable.
  if (o.ridge != 0.5) s << " ridge=" << o.ridge;
  if (o.sticky) s << " sticky=1";
  if (o.score_train > 0) s << " score_train=" << o.score_train;
  if (o.empty_memory) s << " empty_memory=1";
  if (o.distributed) s << " ranks=" << o.ranks;
  return s.str();
}

/// The mid-run checkpoint of run (arm, seed): next to the results file.
std::string checkpoint_path(const Options& o, const std::string& arm, uint64_t seed) {
  return o.results + "." + arm + "." + std::to_string(seed) + ".ckpt";
}

// The stream state of each model family in a checkpoint (read back all or nothing, checked
// against the model and the batch).
void add_stream_state(io::SafetensorsWriter& w, const models::Memformer<float, Cpu>&, const memory::SlotState<float, Cpu>& s) {
  io::add_state(w, s);
}
memory::SlotState<float, Cpu> read_stream_state(const io::SafetensorsReader& r, const models::Memformer<float, Cpu>& m,
                                                const memory::SlotState<float, Cpu>&, int64_t batch) {
  auto s = io::read_state<float, Cpu>(r);
  s.check("checkpoint", batch, m.config().slots, m.config().d_model);
  return s;
}
void add_stream_state(io::SafetensorsWriter& w, const models::InfiniteFormer<float, Cpu>& m,
                      const models::InfiniteFormerState<float, Cpu>& s) {
  io::add_state_file(w, m, s);
}
models::InfiniteFormerState<float, Cpu> read_stream_state(const io::SafetensorsReader& r,
                                                          const models::InfiniteFormer<float, Cpu>& m,
                                                          const models::InfiniteFormerState<float, Cpu>&, int64_t batch) {
  return io::read_state_file(r, m, batch);
}

// With --distributed 1 the checkpoint is dist::save_checkpoint's: rank 0 writes the rows of all
// ranks; each rank takes its own back (rank r owns rows [r·batch, (r+1)·batch)). load_dist checks
// the row count first, and dist::load_checkpoint checks the whole file before it loads the
// parameters: a failed load changes nothing.
void save_dist(Comm& comm, models::Memformer<float, Cpu>& m, const memory::SlotState<float, Cpu>& s,
               const std::string& path, const std::map<std::string, std::string>& meta) {
  dist::save_checkpoint(comm, m.parameters(), s, path, meta);
}
memory::SlotState<float, Cpu> load_dist(models::Memformer<float, Cpu>& m, const memory::SlotState<float, Cpu>&,
                                        const std::string& path, int rank, int ranks, int64_t batch) {
  const io::SafetensorsReader r(path);
  require<ShapeError>(r.contains(io::kSlotStateName) && r.shape(io::kSlotStateName).rank() == 3 &&
                          r.shape(io::kSlotStateName)[0] == ranks * batch,
                      "real_text_lm: checkpoint '", path, "': ", io::kSlotStateName, " has shape ",
                      r.contains(io::kSlotStateName) ? r.shape(io::kSlotStateName).str() : std::string("(missing)"),
                      ", expected ", ranks * batch, " rows (ranks x batch)");
  return dist::load_checkpoint(m.parameters(), path).state.rows(rank * batch, batch);
}
void save_dist(Comm& comm, models::InfiniteFormer<float, Cpu>& m, const models::InfiniteFormerState<float, Cpu>& s,
               const std::string& path, const std::map<std::string, std::string>& meta) {
  dist::save_checkpoint(comm, m, s, path, meta);
}
models::InfiniteFormerState<float, Cpu> load_dist(models::InfiniteFormer<float, Cpu>& m,
                                                  const models::InfiniteFormerState<float, Cpu>&, const std::string& path,
                                                  int rank, int ranks, int64_t batch) {
  const io::SafetensorsReader r(path);
  const auto rows = r.metadata().find("dist.rows");
  require<ShapeError>(rows != r.metadata().end() && rows->second == std::to_string(ranks * batch), "real_text_lm: checkpoint '",
                      path, "': dist.rows = '", rows == r.metadata().end() ? std::string("(missing)") : rows->second,
                      "', expected ", ranks * batch, " (ranks x batch)");
  return dist::load_checkpoint(m, path).rank_state(rank, ranks, rank * batch, batch);
}

/// Metadata `key` of checkpoint `r` as an integer in [least, most] (IoError naming it otherwise).
int64_t metadata_int(const io::SafetensorsReader& r, const std::string& key, int64_t least, int64_t most) {
  const auto it = r.metadata().find(key);
  int64_t v = 0;
  size_t used = 0;
  if (it != r.metadata().end()) {
    try {
      v = std::stoll(it->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
  }
  require<IoError>(it != r.metadata().end() && used == it->second.size() && used > 0 && v >= least && v <= most,
                   "real_text_lm: checkpoint '", r.path(), "': ", key, " = '",
                   it == r.metadata().end() ? std::string("(missing)") : it->second, "', expected an integer in [", least,
                   ", ", most, "]");
  return v;
}

/// The loop every arm shares: `weights(segs)` gives the rollout's step weights (this rank's share
/// with --distributed, else none), `rollout(u, segs, resets, state, weights)` runs update u's
/// rollout (the gradients; summed over the ranks with --distributed), then AdamW with warm-up +
/// cosine and clipping at 1; finally the held-out score (rank 0). With --checkpoint-every the run
/// resumes from its mid-run checkpoint when there is one, and writes it every N updates.
template <class Model, class State, class Weights, class Rollout, class Evaluate>
Run train_arm(Run run, Model& model, State state, const Corpus& c, const Options& o, Comm* world, Weights&& weights,
              Rollout&& rollout, Evaluate&& evaluate_model) {
  const int rank = world ? world->rank() : 0;
  train::AdamW<float, Cpu> adam(model.parameters(), train::AdamWConfig{.lr = o.lr});
  const train::WarmupCosine schedule{o.lr, std::max<int64_t>(1, o.updates / 10), o.updates, 0.1};
  run.parameters = model.parameters().numel();
  std::optional<dist::DataParallel<Comm, float, Cpu>> dp;
  if (world) {
    dp.emplace(*world, std::vector<nn::ParameterStore<float, Cpu>*>{&model.parameters()});
    dp->broadcast_parameters();
  }
  // Every rank streams its own documents (rank 0 alone draws what a single process draws).
  TrainStream stream(c.train, o.batch, o.segment, rank == 0 ? run.seed : dist::rank_seed(run.seed, rank));
  std::vector<Segment> segs;
  train::Resets resets;
  const auto t0 = Clock::now();
  double running = 0, seconds_before = 0;
  int64_t first = 0;
  const std::string ckpt = o.checkpoint_every > 0 ? checkpoint_path(o, run.arm, run.seed) : std::string();
  const std::string ckpt_signature = signature(o) + " arm=" + run.arm + " seed=" + std::to_string(run.seed);
  if (!ckpt.empty() && std::filesystem::exists(ckpt)) {
    // All or nothing: everything is read and checked before the model, the stream or AdamW change.
    const io::SafetensorsReader r(ckpt);
    const auto sig = r.metadata().find("real_text_lm.signature");
    require<ConfigError>(sig != r.metadata().end() && sig->second == ckpt_signature, "real_text_lm: checkpoint '", ckpt,
                         "' was written with '", sig == r.metadata().end() ? std::string("(no signature)") : sig->second,
                         "', this run has '", ckpt_signature, "' (remove it or pass another --results)");
    const int64_t update = metadata_int(r, "update", 1, o.updates - 1);
    const int64_t steps = metadata_int(r, "adamw.steps", 0, update);
    TrainStream restored_stream = stream;
    if (world) {
      // The data positions of all ranks and the progress are in the metadata (below).
      const std::string key = "stream.rank." + std::to_string(rank);
      std::vector<int64_t> position;
      for (int64_t i = 0; i < 1 + 2 * o.batch; ++i)
        position.push_back(metadata_int(r, key + "." + std::to_string(i), 0, int64_t{1} << 53));
      restored_stream.set_position(position, key);
      const int64_t bits_running = metadata_int(r, "progress.running_bits", INT64_MIN, INT64_MAX);
      const int64_t bits_seconds = metadata_int(r, "progress.seconds_bits", INT64_MIN, INT64_MAX);
      State restored = load_dist(model, state, ckpt, rank, world->size(), o.batch);  // the parameters last
      state = std::move(restored);
      running = std::bit_cast<double>(bits_running);
      seconds_before = std::bit_cast<double>(bits_seconds);
    } else {
      State restored = read_stream_state(r, model, state, o.batch);
      restored_stream.restore(r);
      const auto saved = r.read<double, Cpu>("progress@values");
      check_shape("progress@values", saved.shape(), {{"running_loss_seconds", 2}});
      io::read_parameters(r, model.parameters(), /*with_optimizer_state=*/true);  // all or nothing itself; last
      state = std::move(restored);
      running = saved[0];
      seconds_before = saved[1];
    }
    stream = restored_stream;
    adam.set_steps(steps);
    first = update;
    std::printf("  [%-15s seed %llu] resumed from '%s' at update %lld\n", run.arm.c_str(),
                static_cast<unsigned long long>(run.seed), ckpt.c_str(), static_cast<long long>(first));
  }
  for (int64_t u = first; u < o.updates; ++u) {
    stream.next(o.horizon, segs, resets);
    model.parameters().zero_grad();
    const std::vector<double> w = weights(segs);
    const train::RolloutResult r = dp ? dp->reduce_overlapped([&] { return rollout(u, segs, resets, state, w); })
                                      : rollout(u, segs, resets, state, w);
    if (r.finite) adam.step(schedule(u), train::clip_factor(train::global_grad_norm(model.parameters()), 1.0));
    running = u == 0 ? r.loss : 0.95 * running + 0.05 * r.loss;
    if ((u + 1) % o.log == 0 || u + 1 == o.updates) progress(run, u + 1, o.updates, running, t0);
    if (!ckpt.empty() && (u + 1) % o.checkpoint_every == 0 && u + 1 < o.updates && world) {
      // Collective: every rank's data position into the metadata, rank 0 writes (atomically).
      const auto mine = stream.position();
      const auto all = dist::gather_host_rows(*world, std::vector<double>(mine.begin(), mine.end()),
                                                                 static_cast<int64_t>(mine.size()));
      std::map<std::string, std::string> meta = {
          {"real_text_lm.signature", ckpt_signature},
          {"update", std::to_string(u + 1)},
          {"adamw.steps", std::to_string(adam.steps())},
          {"progress.running_bits", std::to_string(std::bit_cast<int64_t>(running))},
          {"progress.seconds_bits", std::to_string(std::bit_cast<int64_t>(seconds_before + since(t0)))}};
      for (size_t i = 0; i < all.size(); ++i)
        meta["stream.rank." + std::to_string(i / mine.size()) + "." + std::to_string(i % mine.size())] =
            std::to_string(static_cast<int64_t>(all[i]));
      save_dist(*world, model, state, ckpt, meta);
    } else if (!ckpt.empty() && (u + 1) % o.checkpoint_every == 0 && u + 1 < o.updates) {
      io::SafetensorsWriter file;  // written to a temporary file, then renamed over the last one
      io::add_parameters(file, model.parameters(), /*with_optimizer_state=*/true);
      add_stream_state(file, model, state);
      stream.save(file);
      file.add("progress@values", Tensor<double, Cpu>::from_host(Shape{2}, std::vector<double>{running, seconds_before + since(t0)}));
      file.set_metadata("real_text_lm.signature", ckpt_signature);
      file.set_metadata("update", std::to_string(u + 1));
      file.set_metadata("adamw.steps", std::to_string(adam.steps()));
      file.write(ckpt);
    }
    if (o.stop_after == u + 1 && u + 1 < o.updates) throw Stopped{u + 1};
  }
  run.train_bits = running / std::log(2.0);
  if (rank == 0) run.scores = evaluate_model();
  run.seconds = seconds_before + since(t0);
  return run;
}

Run train_memformer(const Corpus& c, const Options& o, Comm* world, uint64_t seed, bool reset_every_segment) {
  models::MemformerConfig cfg;
  cfg.vocab = 257;  // bytes + BOS
  cfg.bos_id = 256;
  cfg.d_model = o.d_model;
  cfg.heads = o.heads;
  cfg.d_ff = o.d_ff;
  cfg.slots = o.slots;
  cfg.encoder_layers = o.layers;
  cfg.decoder_layers = o.layers;
  cfg.segment_length = o.segment;
  cfg.dropout = 0.0;
  models::Memformer<float, Cpu> model(cfg, seed);
  train::Mrbp<float, Cpu> mrbp(model, train::TrainerOptions{.seed = seed});
  return train_arm(Run{reset_every_segment ? "memformer-reset" : "memformer", seed}, model, model.initial_state(o.batch), c, o,
                   world,
                   [&](const std::vector<Segment>& segs) {
                     return world ? dist::global_step_weights(*world, dist::memformer_step_tokens(segs)) : std::vector<double>{};
                   },
                   [&](int64_t, const std::vector<Segment>& segs, train::Resets& resets, auto& state, const std::vector<double>& w) {
                     if (reset_every_segment)
                       for (auto& r : resets) std::fill(r.begin(), r.end(), uint8_t{1});
                     return mrbp.rollout(segs, resets, state, w);
                   },
                   [&] {
                     return score_all(c, o, [&](const std::vector<Document>& docs, bool empty) {
                       return evaluate(model, docs, o, reset_every_segment || empty);
                     });
                   });
}

Run train_infinite_former(const Corpus& c, const Options& o, Comm* world, uint64_t seed, bool use_ltm) {
  models::InfiniteFormerConfig cfg;
  cfg.vocab = 256;
  cfg.d_model = o.d_model;
  cfg.heads = o.heads;
  cfg.d_ff = o.d_ff;
  cfg.layers = o.layers;
  cfg.segment_length = o.segment;
  cfg.stm_segments = 0;  // the short-term attention sees the current segment: all else is the LTM's
  cfg.dropout = 0.0;
  cfg.use_ltm = use_ltm;
  cfg.ltm.basis.count = o.basis;
  cfg.ltm.samples = o.basis;
  cfg.ltm.tau = o.tau;
  cfg.ltm.ridge_lambda = o.ridge;
  cfg.ltm.sticky = o.sticky != 0;
  models::InfiniteFormer<float, Cpu> model(cfg, seed);
  train::InfiniteFormerTrainer<float, Cpu> trainer(model, {seed});
  using Trainer = train::InfiniteFormerTrainer<float, Cpu>;
  const int rank = world ? world->rank() : 0;
  return train_arm(Run{use_ltm ? "inf-former" : "no-ltm", seed}, model,
                   model.initial_state(o.batch, rank == 0 ? seed : dist::rank_seed(seed, rank)), c, o, world,
                   [&](const std::vector<Segment>& segs) {
                     return world ? dist::global_step_weights(*world, Trainer::step_tokens(segs)) : std::vector<double>{};
                   },
                   [&](int64_t u, const std::vector<Segment>& segs, train::Resets& resets, auto& state, const std::vector<double>& w) {
                     trainer.set_update(u);
                     return trainer.rollout(segs, resets, state, w);
                   },
                   [&] {
                     return score_all(c, o, [&](const std::vector<Document>& docs, bool empty) {
                       return evaluate(model, docs, o, empty);
                     });
                   });
}

// ---- results file ----------------------------------------------------------------------------
std::vector<Run> read_results(const Options& o) {
  std::vector<Run> runs;
  std::ifstream f(o.results);
  std::string line;
  if (!f || !std::getline(f, line)) return runs;
  require<ConfigError>(line == "# " + signature(o), "real_text_lm: results file '", o.results, "' was written with '",
                       line.substr(std::min<size_t>(2, line.size())), "', this run has '", signature(o),
                       "' (pass another --results)");
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("arm,", 0) == 0) continue;
    std::stringstream in(line);
    std::string field;
    std::vector<std::string> v;
    while (std::getline(in, field, ',')) v.push_back(field);
    const size_t k = kBucketEdges.size() - 1, groups = evaluations(o).size();
    require<IoError>(v.size() == 5 + 2 * k * groups, "real_text_lm: results file '", o.results, "': a line has ", v.size(),
                     " fields, expected ", 5 + 2 * k * groups);
    Run r{v[0], std::stoull(v[1]), std::stoll(v[2]), std::stod(v[3]), std::stod(v[4]), std::vector<Score>(groups)};
    for (size_t g = 0; g < groups; ++g)
      for (size_t i = 0; i < k; ++i) {
        r.scores[g].bits[i] = std::stod(v[5 + 2 * k * g + i]);
        r.scores[g].count[i] = std::stoll(v[5 + 2 * k * g + k + i]);
      }
    runs.push_back(r);
  }
  return runs;
}

void append_result(const Options& o, const Run& r, bool first) {
  std::ofstream f(o.results, first ? std::ios::trunc : std::ios::app);
  f.precision(17);  // a rerun reads back exactly what this run reports
  if (first) {
    f << "# " << signature(o) << "\narm,seed,parameters,seconds,train_bits";
    for (const Evaluation& e : evaluations(o)) {  // bits_i,count_i (held-out), then bits_<suffix>_i,...
      for (size_t i = 0; i + 1 < kBucketEdges.size(); ++i) f << ",bits" << e.suffix << '_' << i;
      for (size_t i = 0; i + 1 < kBucketEdges.size(); ++i) f << ",count" << e.suffix << '_' << i;
    }
    f << "\n";
  }
  f << r.arm << ',' << r.seed << ',' << r.parameters << ',' << r.seconds << ',' << r.train_bits;
  for (const Score& s : r.scores) {
    for (double b : s.bits) f << ',' << b;
    for (int64_t n : s.count) f << ',' << n;
  }
  f << "\n";
  require<IoError>(static_cast<bool>(f), "real_text_lm: cannot write results file '", o.results, "'");
}

// ---- report ----------------------------------------------------------------------------------
struct MeanSe {
  double mean = 0, se = 0;
  int64_t n = 0;
};

MeanSe mean_se(const std::vector<double>& x) {
  MeanSe m;
  m.n = static_cast<int64_t>(x.size());
  if (x.empty()) return m;
  m.mean = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
  double ss = 0;
  for (double v : x) ss += (v - m.mean) * (v - m.mean);
  m.se = x.size() > 1 ? std::sqrt(ss / static_cast<double>(x.size() - 1) / static_cast<double>(x.size())) : 0.0;
  return m;
}

/// Bits per byte of each run of `arm` in evaluation g, bucket k (k = -1: all positions).
std::vector<double> bpb(const std::vector<Run>& runs, const std::string& arm, size_t g, int k) {
  std::vector<double> out;
  for (const Run& r : runs) {
    if (r.arm != arm || g >= r.scores.size()) continue;
    if (const auto x = r.scores[g].bpb(k)) out.push_back(*x);
  }
  return out;
}

void report(const std::vector<Run>& runs, const std::vector<std::string>& arms, const Options& o) {
  const int buckets = static_cast<int>(kBucketEdges.size()) - 1;
  const std::vector<Evaluation> evals = evaluations(o);
  auto bucket_header = [&](int width) {
    std::printf(" %*s", width, "all");
    for (size_t k = 0; k + 1 < kBucketEdges.size(); ++k) {
      const std::string name = k + 2 == kBucketEdges.size() ? ">= " + std::to_string(kBucketEdges[k])
                                                            : std::to_string(kBucketEdges[k]) + "-" + std::to_string(kBucketEdges[k + 1]);
      std::printf(" %*s", width, name.c_str());
    }
    std::printf("\n");
  };
  // a (evaluation ga) − b (evaluation gb), paired by seed: the mean of the per-seed differences ±
  // its standard error, per bucket; called a difference only beyond two standard errors.
  auto paired = [&](const std::string& label, const std::string& a, size_t ga, const std::string& b, size_t gb) {
    std::printf("%-46s", label.c_str());
    for (int k = -1; k < buckets; ++k) {
      std::vector<double> diffs;
      for (const Run& x : runs) {
        if (x.arm != a || ga >= x.scores.size()) continue;
        for (const Run& y : runs) {
          if (y.arm != b || y.seed != x.seed || gb >= y.scores.size()) continue;
          const auto xa = x.scores[ga].bpb(k), xb = y.scores[gb].bpb(k);
          if (xa && xb) diffs.push_back(*xa - *xb);
        }
      }
      const MeanSe d = mean_se(diffs);
      const char* verdict = d.n < 2 ? "n<2" : std::abs(d.mean) > 2 * d.se ? (d.mean < 0 ? "better" : "worse") : "no diff.";
      if (d.n == 0) std::printf(" %26s", "-");
      else std::printf("  %+.4f ± %.4f %-8s", d.mean, d.se, verdict);
    }
    std::printf("\n");
  };
  auto has = [&](const std::string& arm) { return std::find(arms.begin(), arms.end(), arm) != arms.end(); };
  for (size_t g = 0; g < evals.size(); ++g) {
    std::printf("\n%s bits per byte by position in the document, mean ± standard error over seeds:\n%-16s %5s",
                evals[g].name.c_str(), "arm", "n");
    bucket_header(17);
    for (const std::string& arm : arms) {
      std::printf("%-16s %5lld", arm.c_str(), static_cast<long long>(mean_se(bpb(runs, arm, g, -1)).n));
      for (int k = -1; k < buckets; ++k) {
        const MeanSe m = mean_se(bpb(runs, arm, g, k));
        if (m.n == 0) std::printf(" %17s", "-");
        else std::printf("   %6.4f ± %6.4f", m.mean, m.se);
      }
      std::printf("\n");
    }
    // The two comparisons the issue asks for, memory against no memory per model family, paired by
    // seed (the two arms of one seed share the data order and the initial weights they have in
    // common).
    std::printf("\nwith memory − without (%s), paired by seed, mean ± standard error (negative = the memory helps):\n%-46s",
                evals[g].name.c_str(), "");
    bucket_header(26);
    for (const auto& [with, without] : {std::pair<std::string, std::string>{"memformer", "memformer-reset"}, {"inf-former", "no-ltm"}})
      paired(with + " − " + without, with, g, without, g);
  }
  // The trained model with its memory against the same model with the memory emptied (what it
  // gains from what it reads), and the emptied ∞-former against the model trained without LTM.
  if (o.empty_memory) {
    std::printf("\nthe same trained model, memory read − memory emptied, paired by seed (negative = it gains from the read):\n%-46s", "");
    bucket_header(26);
    for (size_t g = 0; g < evals.size(); ++g) {
      if (evals[g].empty_memory) continue;
      const std::string where = evals[g].training_documents ? " (training docs)" : " (held-out)";
      for (const std::string arm : {"memformer", "inf-former"})
        if (has(arm)) paired(arm + " − emptied" + where, arm, g, arm, g + 1);
      if (has("inf-former") && has("no-ltm")) paired("inf-former emptied − no-ltm" + where, "inf-former", g + 1, "no-ltm", g);
    }
  }
}
int run(Options o, Comm* world) {
  const int rank = world ? world->rank() : 0;
  if (world) o.ranks = world->size();
  if (rank != 0) std::freopen("/dev/null", "w", stdout);  // rank 0 speaks for the job
  cpu::set_num_threads(o.threads);
  const Corpus corpus = load_corpus(o);
  size_t train_bytes = 0, held_bytes = 0;
  for (const auto& d : corpus.train) train_bytes += d.size();
  for (const auto& d : corpus.held_out) held_bytes += d.size();
  std::printf("corpus '%s': %zu training documents (%zu bytes), %zu held out (%zu bytes, scored up to %lld each)\n",
              o.corpus.c_str(), corpus.train.size(), train_bytes, corpus.held_out.size(), held_bytes,
              static_cast<long long>(o.eval_bytes));
  if (!corpus.scored_train.empty()) {
    std::printf("also scored, as the held-out ones: the training documents");
    for (const std::string& name : corpus.scored_train_names) std::printf(" %s", name.c_str());
    std::printf("\n");
  }
  std::printf("budget per arm and seed: %lld updates x %lld rows x %lld segments x %lld bytes = %lld bytes; %d threads\n",
              static_cast<long long>(o.updates), static_cast<long long>(o.batch), static_cast<long long>(o.horizon),
              static_cast<long long>(o.segment), static_cast<long long>(o.updates * o.batch * o.horizon * o.segment), o.threads);
  if (world)
    std::printf("data parallel: %d ranks x %lld rows (global batch %lld), gradients summed in rank order\n", o.ranks,
                static_cast<long long>(o.batch), static_cast<long long>(o.batch) * o.ranks);
  std::vector<std::string> arms;
  {
    std::stringstream in(o.arms);
    std::string a;
    while (std::getline(in, a, ',')) {
      require<ConfigError>(a == "memformer" || a == "memformer-reset" || a == "inf-former" || a == "no-ltm",
                           "real_text_lm: unknown arm '", a, "', expected memformer, memformer-reset, inf-former or no-ltm");
      arms.push_back(a);
    }
  }
  std::vector<Run> runs = read_results(o);
  bool first = runs.empty() && !std::filesystem::exists(o.results);
  for (int64_t s = 1; s <= o.seeds; ++s)
    for (const std::string& arm : arms) {
      const uint64_t seed = static_cast<uint64_t>(s);
      if (std::any_of(runs.begin(), runs.end(), [&](const Run& r) { return r.arm == arm && r.seed == seed; })) continue;
      Run r;
      try {
        r = arm == "memformer"         ? train_memformer(corpus, o, world, seed, false)
            : arm == "memformer-reset" ? train_memformer(corpus, o, world, seed, true)
            : arm == "inf-former"      ? train_infinite_former(corpus, o, world, seed, true)
                                       : train_infinite_former(corpus, o, world, seed, false);
      } catch (const Stopped& stop) {
        std::printf("  [%-15s seed %llu] stopped after update %lld (--stop-after)\n", arm.c_str(),
                    static_cast<unsigned long long>(seed), static_cast<long long>(stop.update));
        return 3;
      }
      if (rank == 0)
        std::printf("  [%-15s seed %llu] %lld parameters, held-out %.4f bits/byte, %.1f s\n", arm.c_str(),
                    static_cast<unsigned long long>(seed), static_cast<long long>(r.parameters),
                    r.scores[0].total_bits() / static_cast<double>(r.scores[0].total_count()), r.seconds);
      if (rank == 0) {
        append_result(o, r, first);
        if (o.checkpoint_every > 0) std::filesystem::remove(checkpoint_path(o, arm, seed));  // the run is in the results
      }
      first = false;
      runs.push_back(r);
    }
  report(runs, arms, o);
  std::printf("results: %s\n", o.results.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const mnemo::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return examples::run_on_one_or_all_ranks(argc, argv, o.distributed != 0, "real_text_lm",
                                            [&](Comm* world) { return run(o, world); });
}
