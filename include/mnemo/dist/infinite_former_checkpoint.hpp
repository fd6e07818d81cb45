// mnemo/dist/infinite_former_checkpoint.hpp — checkpoints of a data-parallel ∞-former run
// (train::InfiniteFormerTrainer): rank 0 writes the parameters, their AdamW moments and the
// stream states of ALL ranks (their rows concatenated in rank order: long-term-memory
// coefficients, has_memory / tokens_written / sticky densities, the short-term window) plus every
// rank's sticky-sampler key and draw count, to one safetensors file; any rank count resumes from
// it (docs/distributed.md).
//
//   dist::save_checkpoint(world, model, state, "ckpt.safetensors", {{"step", "40"}});
//   auto file = dist::load_checkpoint(model, "ckpt.safetensors");        // any rank count
//   state = file.rank_state(world.rank(), world.size(), my_first_row, my_row_count);
//
// Same rank count and row split: the run continues bit for bit (every value is stored byte for
// byte, each rank gets back its own sampler stream). Another count or split: every row continues
// from its own memory and window; the sampler streams are re-keyed per new rank (they number the
// rows of a rank's batch, so they cannot follow rows to another rank), and the fixed-order sums
// follow the new rank count.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/dist/checkpoint.hpp"
#include "mnemo/dist/communicator.hpp"
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/infinite_former_state.hpp"

namespace mnemo::dist {

/// Every rank's `local` (rows of `width` host values) concatenated in rank order, on every rank
/// (small bookkeeping: flags, counts, data positions). Collective: broadcasts of doubles, so the
/// values must be exact in a double (integers below 2^53; split 64-bit keys into 32-bit halves).
template <Communicator C>
std::vector<double> gather_host_rows(C& comm, const std::vector<double>& local, int64_t width) {
  std::vector<double> out;
  for (int r = 0; r < comm.size(); ++r) {
    double n = r == comm.rank() ? static_cast<double>(local.size() / static_cast<size_t>(width)) : 0.0;
    broadcast_host(comm, &n, 1, r);
    std::vector<double> part = r == comm.rank() ? local : std::vector<double>(static_cast<size_t>(n) * static_cast<size_t>(width));
    if (!part.empty()) broadcast_host(comm, part.data(), part.size(), r);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

namespace checkpoint_detail {

/// What must agree between the ranks for their rows to form one state: the step count, the
/// long-term memories (and whether they hold densities), the cached segments and their lengths.
template <class T, class B>
std::vector<double> layout(const models::InfiniteFormerState<T, B>& s) {
  std::vector<double> d = {static_cast<double>(s.steps), static_cast<double>(s.ltm.size()),
                           static_cast<double>(s.cache.size())};
  for (const auto& m : s.ltm) d.push_back(m.sticky_mu.defined() ? 1.0 : 0.0);
  for (const auto& c : s.cache) {
    d.push_back(static_cast<double>(c.length()));
    d.push_back(static_cast<double>(c.inputs.size()));
  }
  return d;
}

inline std::vector<double> halves(uint64_t v) {
  return {static_cast<double>(v >> 32), static_cast<double>(v & 0xffffffffu)};
}
inline uint64_t join(double hi, double lo) { return (static_cast<uint64_t>(hi) << 32) | static_cast<uint64_t>(lo); }

/// The value of metadata `key` as an integer >= `least` (IoError naming what was found otherwise).
inline int64_t metadata_count(const io::SafetensorsReader& r, const std::string& key, int64_t least) {
  const auto it = r.metadata().find(key);
  require<IoError>(it != r.metadata().end(), "load_checkpoint: '", r.path(), "' has no metadata ", key,
                   " (not a dist::save_checkpoint file of an infinity-former)");
  int64_t v = 0;
  size_t used = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  require<IoError>(used == it->second.size() && used > 0 && v >= least, "load_checkpoint: '", r.path(), "': ", key,
                   " = '", it->second, "', expected an integer >= ", least);
  return v;
}

}  // namespace checkpoint_detail

/// A deep copy of rows [start, start + count) of a long-term-memory state (a rank's share of a
/// gathered state); the sampler key and draw count are kept. ShapeError outside [0, batch).
template <class T, class B>
memory::ContinuousState<T, B> state_rows(const memory::ContinuousState<T, B>& m, int64_t start, int64_t count) {
  require<ShapeError>(start >= 0 && count >= 1 && start + count <= m.batch(), "state_rows: rows [", start, ", ",
                      start + count, "), expected within [0, batch=", m.batch(), ")");
  memory::ContinuousState<T, B> s;
  s.coefficients = m.coefficients.slice(start, count).clone();
  if (m.sticky_mu.defined()) {
    s.sticky_mu = m.sticky_mu.slice(start, count).clone();
    s.sticky_sigma2 = m.sticky_sigma2.slice(start, count).clone();
  }
  const auto b = static_cast<ptrdiff_t>(start), e = static_cast<ptrdiff_t>(start + count);
  s.has_memory.assign(m.has_memory.begin() + b, m.has_memory.begin() + e);
  s.tokens_written.assign(m.tokens_written.begin() + b, m.tokens_written.begin() + e);
  s.has_densities.assign(m.has_densities.begin() + b, m.has_densities.begin() + e);
  s.key = m.key;
  s.draws = m.draws;
  return s;
}

/// A deep copy of rows [start, start + count) of an ∞-former state: their long-term memories and
/// cached segments. ShapeError outside [0, batch).
template <class T, class B>
models::InfiniteFormerState<T, B> state_rows(const models::InfiniteFormerState<T, B>& all, int64_t start, int64_t count) {
  require<ShapeError>(start >= 0 && count >= 1 && start + count <= all.batch, "state_rows: rows [", start, ", ",
                      start + count, "), expected within [0, batch=", all.batch, ")");
  models::InfiniteFormerState<T, B> s;
  s.batch = count;
  s.steps = all.steps;
  for (const auto& m : all.ltm) s.ltm.push_back(state_rows(m, start, count));
  for (const auto& entry : all.cache) {
    typename models::InfiniteFormerState<T, B>::CachedSegment c;
    for (const auto& x : entry.inputs) c.inputs.push_back(x.slice(start, count).clone());
    c.padding = entry.padding.slice(start, count).clone();
    s.cache.push_back(std::move(c));
  }
  return s;
}

/// Every rank's ∞-former stream state, rows concatenated in rank order, on every rank; its
/// samplers keep rank 0's keys (save_checkpoint stores every rank's). Collective. StateError on
/// every rank when the ranks' states differ in layout (steps, memories, cached segments: the
/// ranks must step together), ShapeError when their rows differ in width.
template <Communicator C, class T>
models::InfiniteFormerState<T, typename C::backend> gather_rows(
    C& comm, const models::InfiniteFormerState<T, typename C::backend>& local) {
  using B = typename C::backend;
  using namespace checkpoint_detail;
  // The layouts first: rank 0's, compared on every rank; any mismatch stops every rank.
  std::vector<double> mine = layout(local), root = mine;
  double size = static_cast<double>(root.size());
  broadcast_host(comm, &size, 1, 0);
  root.resize(static_cast<size_t>(size));
  broadcast_host(comm, root.data(), root.size(), 0);
  double differs = root == mine ? 0.0 : 1.0;
  all_reduce_sum_host(comm, &differs, 1);
  require<StateError>(differs == 0, "gather_rows: ", differs, " rank(s) hold an infinity-former state whose steps, ",
                      "memories or cached segments differ from rank 0's (rank ", comm.rank(), ": ",
                      root == mine ? "same" : "differs", ")");

  models::InfiniteFormerState<T, B> all;
  all.steps = local.steps;
  for (const auto& m : local.ltm) {
    memory::ContinuousState<T, B> g;
    g.coefficients = dist::gather_rows(comm, m.coefficients);
    if (m.sticky_mu.defined()) {
      g.sticky_mu = dist::gather_rows(comm, m.sticky_mu);
      g.sticky_sigma2 = dist::gather_rows(comm, m.sticky_sigma2);
    }
    std::vector<double> flags;
    for (int64_t b = 0; b < m.batch(); ++b) {
      const auto i = static_cast<size_t>(b);
      flags.insert(flags.end(), {static_cast<double>(m.has_memory[i]), static_cast<double>(m.tokens_written[i]),
                                 static_cast<double>(m.has_densities[i])});
    }
    const auto rows = gather_host_rows(comm, flags, 3);
    for (size_t i = 0; i < rows.size(); i += 3) {
      g.has_memory.push_back(static_cast<uint8_t>(rows[i]));
      g.tokens_written.push_back(static_cast<int64_t>(rows[i + 1]));
      g.has_densities.push_back(static_cast<uint8_t>(rows[i + 2]));
    }
    g.key = m.key;
    g.draws = m.draws;
    all.ltm.push_back(std::move(g));
  }
  for (const auto& entry : local.cache) {
    typename models::InfiniteFormerState<T, B>::CachedSegment c;
    for (const auto& x : entry.inputs) c.inputs.push_back(dist::gather_rows(comm, x));
    const int64_t len = entry.length();
    const auto host = entry.padding.to_host();
    const auto pad = gather_host_rows(comm, std::vector<double>(host.begin(), host.end()), len);
    c.padding = Tensor<uint8_t, Cpu>(Shape{static_cast<int64_t>(pad.size()) / len, len});
    for (size_t i = 0; i < pad.size(); ++i) c.padding[static_cast<int64_t>(i)] = static_cast<uint8_t>(pad[i]);
    all.cache.push_back(std::move(c));
  }
  for (double rows : gather_host_rows(comm, std::vector<double>{static_cast<double>(local.batch)}, 1))
    all.batch += static_cast<int64_t>(rows);
  return all;
}

/// Collective: gathers every rank's ∞-former stream state and rank 0 writes `path` atomically
/// with the parameters of `model` and their AdamW moments (rank 0's: the replicas are
/// identical), the rows of all ranks as one state (io::add_state's names and settings), each
/// rank's row count ("dist@rank_rows", I64 [ranks]) and sampler streams ("dist@samplers", I64
/// [ranks, memories, 3]: seed, stream, draws), `metadata`, "dist.ranks" and "dist.rows". Put the
/// AdamW step count and the trainer's update index in the metadata. A failed write throws IoError
/// on every rank (the previous file at `path` is left intact).
template <Communicator C, class T>
void save_checkpoint(C& comm, const models::InfiniteFormer<T, typename C::backend>& model,
                     const models::InfiniteFormerState<T, typename C::backend>& state, const std::string& path,
                     const std::map<std::string, std::string>& metadata = {}) {
  using namespace checkpoint_detail;
  const auto all = dist::gather_rows(comm, state);
  std::vector<double> sampler;  // per memory: seed, stream, draws as 32-bit halves
  for (const auto& m : state.ltm)
    for (uint64_t v : {m.key.seed, m.key.stream, m.draws})
      for (double h : halves(v)) sampler.push_back(h);
  const auto samplers = gather_host_rows(comm, sampler, std::max<int64_t>(1, static_cast<int64_t>(sampler.size())));
  const auto rank_rows = gather_host_rows(comm, std::vector<double>{static_cast<double>(state.batch)}, 1);
  write_on_rank0(comm, path, [&](io::SafetensorsWriter& writer) {
    io::add_parameters(writer, model.parameters(), /*with_optimizer_state=*/true);
    io::add_state_file(writer, model, all);
    std::vector<int64_t> rows(rank_rows.begin(), rank_rows.end());
    writer.add("dist@rank_rows", Tensor<int64_t, Cpu>::from_host(Shape{comm.size()}, rows));
    if (!state.ltm.empty()) {
      std::vector<int64_t> s;
      for (size_t i = 0; i < samplers.size(); i += 2) s.push_back(static_cast<int64_t>(join(samplers[i], samplers[i + 1])));
      writer.add("dist@samplers",
                 Tensor<int64_t, Cpu>::from_host(Shape{comm.size(), static_cast<int64_t>(state.ltm.size()), 3}, s));
    }
    for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
    writer.set_metadata("dist.ranks", std::to_string(comm.size()));
    writer.set_metadata("dist.rows", std::to_string(all.batch));
  });
}

/// What load_checkpoint returns for an ∞-former: the rows of all saved ranks, how they were
/// split, each saved rank's sampler streams, and the metadata.
template <class T, class B>
struct InfiniteFormerCheckpoint {
  models::InfiniteFormerState<T, B> state;     ///< all saved rows (samplers: saved rank 0's)
  std::vector<int64_t> rank_rows;              ///< rows of each saved rank, in rank order
  std::vector<std::vector<RngKey>> keys;       ///< [saved rank][memory] sampler key
  std::vector<std::vector<uint64_t>> draws;    ///< [saved rank][memory] samplings done
  std::map<std::string, std::string> metadata;  ///< save_checkpoint's, with "dist.ranks", "dist.rows"

  int saved_ranks() const { return static_cast<int>(rank_rows.size()); }

  /// The state of rank `rank` of `ranks` that owns rows [first, first + count) of the saved
  /// union. Under the saved rank count and row split, the rank's own sampler streams (bit-exact
  /// resume); otherwise each memory's stream is saved rank 0's key derived by (ranks, rank), with
  /// no draws. ShapeError when the rows are outside the saved union, ValueError for a bad rank.
  models::InfiniteFormerState<T, B> rank_state(int rank, int ranks, int64_t first, int64_t count) const {
    require<ValueError>(ranks >= 1 && rank >= 0 && rank < ranks, "InfiniteFormerCheckpoint::rank_state: rank ", rank,
                        " of ", ranks, ", expected 0 <= rank < ranks");
    auto s = state_rows(state, first, count);
    int64_t saved_first = 0;
    for (int r = 0; r < rank && r < saved_ranks(); ++r) saved_first += rank_rows[static_cast<size_t>(r)];
    const bool same_split = ranks == saved_ranks() && first == saved_first && count == rank_rows[static_cast<size_t>(rank)];
    for (size_t i = 0; i < s.ltm.size(); ++i) {
      if (same_split) {
        s.ltm[i].key = keys[static_cast<size_t>(rank)][i];
        s.ltm[i].draws = draws[static_cast<size_t>(rank)][i];
      } else {
        s.ltm[i].key = keys[0][i].derive(static_cast<uint64_t>(ranks)).derive(static_cast<uint64_t>(rank));
        s.ltm[i].draws = 0;
      }
    }
    return s;
  }
};

/// Loads an ∞-former save_checkpoint file: checks the whole file (the state against `model`,
/// the rank split against the rows, the sampler table), then loads the parameters and AdamW
/// moments into `model` and returns the states of all saved rows. All or nothing: a file that
/// fails any check (truncated, hostile, another model) throws mnemo::Error naming what was
/// expected and what was found, and `model` is left unchanged. Not collective.
template <class T, class B>
InfiniteFormerCheckpoint<T, B> load_checkpoint(models::InfiniteFormer<T, B>& model, const std::string& path) {
  using namespace checkpoint_detail;
  const io::SafetensorsReader reader(path);
  const int64_t ranks = metadata_count(reader, "dist.ranks", 1);
  const int64_t rows = metadata_count(reader, "dist.rows", 1);
  InfiniteFormerCheckpoint<T, B> out;
  const auto split = reader.read<int64_t, Cpu>("dist@rank_rows");
  check_shape("dist@rank_rows", split.shape(), {{"ranks", ranks}});
  int64_t total = 0;
  for (int64_t r = 0; r < ranks; ++r) {
    require<ValueError>(split[r] >= 1 && split[r] <= rows, "load_checkpoint: '", path, "': dist@rank_rows[", r,
                        "] = ", split[r], ", expected 1 <= rows <= dist.rows = ", rows);
    total += split[r];
    out.rank_rows.push_back(split[r]);
  }
  require<ShapeError>(total == rows, "load_checkpoint: '", path, "': dist@rank_rows add up to ", total,
                      " rows, expected dist.rows = ", rows);
  out.state = io::read_state_file(reader, model, rows);
  const auto memories = static_cast<int64_t>(out.state.ltm.size());
  out.keys.assign(static_cast<size_t>(ranks), {});
  out.draws.assign(static_cast<size_t>(ranks), {});
  if (memories > 0) {
    const auto table = reader.read<int64_t, Cpu>("dist@samplers");
    check_shape("dist@samplers", table.shape(), {{"ranks", ranks}, {"memories", memories}, {"seed_stream_draws", 3}});
    for (int64_t r = 0; r < ranks; ++r)
      for (int64_t i = 0; i < memories; ++i) {
        const int64_t at = (r * memories + i) * 3;
        out.keys[static_cast<size_t>(r)].push_back(
            RngKey{std::bit_cast<uint64_t>(table[at]), std::bit_cast<uint64_t>(table[at + 1])});
        out.draws[static_cast<size_t>(r)].push_back(std::bit_cast<uint64_t>(table[at + 2]));
      }
  } else {
    require<IoError>(!reader.contains("dist@samplers"), "load_checkpoint: '", path,
                     "' holds dist@samplers, expected none (this model has no long-term memory)");
  }
  out.metadata = reader.metadata();
  io::read_parameters(reader, model.parameters(), /*with_optimizer_state=*/true);  // all or nothing; last
  return out;
}

}  // namespace mnemo::dist
