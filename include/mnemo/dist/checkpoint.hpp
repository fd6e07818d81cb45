// mnemo/dist/checkpoint.hpp — checkpoints of a data-parallel Memformer run: rank 0 writes the
// parameters, the AdamW moments and the stream states of ALL ranks (their rows concatenated in
// rank order) to one safetensors file; any rank count resumes from it (docs/distributed.md).
//
//   dist::save_checkpoint(world, model.parameters(), state, "ckpt.safetensors", {{"step", "40"}});
//   auto file = dist::load_checkpoint(model.parameters(), "ckpt.safetensors");   // any rank count
//   state = file.state.rows(my_first_row, my_row_count);
//
// Resumed with the same rank count and the same row split, a run continues bit for bit (values
// are stored byte for byte). With another count, each rank takes another range of rows: every
// stream continues from its own memory, so training continues correctly, though the fixed-order
// sums (and so the last bits of every later step) follow the new rank count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/dist/communicator.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/memory/slot_state.hpp"

namespace mnemo::dist {

/// Every rank's `local` [rows_r, ...] concatenated along dim 0 in rank order, on every rank
/// (each rank broadcasts its rows in turn: exact copies). Collective. ShapeError on every rank
/// when the ranks' trailing extents differ.
template <Communicator C, class T>
Tensor<T, typename C::backend> gather_rows(C& comm, const Tensor<T, typename C::backend>& local) {
  using B = typename C::backend;
  const int ranks = comm.size();
  std::vector<double> rows(static_cast<size_t>(ranks)), width(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {  // shapes first: [rows, elements per row]
    double shape[2] = {static_cast<double>(local.size(0)), static_cast<double>(local.numel() / std::max<int64_t>(1, local.size(0)))};
    broadcast_host(comm, shape, 2, r);
    rows[static_cast<size_t>(r)] = shape[0];
    width[static_cast<size_t>(r)] = shape[1];
  }
  int64_t total = 0;
  for (int r = 0; r < ranks; ++r) {
    require<ShapeError>(width[static_cast<size_t>(r)] == width[0], "gather_rows: rank ", r, " has rows of ",
                        width[static_cast<size_t>(r)], " elements, expected ", width[0], " (rank 0's)");
    total += static_cast<int64_t>(rows[static_cast<size_t>(r)]);
  }
  Shape shape = local.shape();
  shape[0] = total;
  Tensor<T, B> out(shape);
  int64_t at = 0;
  for (int r = 0; r < ranks; ++r) {
    const int64_t n = static_cast<int64_t>(rows[static_cast<size_t>(r)]);
    Tensor<T, B> part = out.slice(at, n);
    if (r == comm.rank()) part.copy_from(local);
    comm.broadcast(part.data(), static_cast<size_t>(part.numel()), r);
    at += n;
  }
  return out;
}

/// Collective: rank 0 runs `fill(writer)` and writes `path` atomically (temporary file + rename);
/// the outcome is broadcast, so a failure throws IoError on every rank (the previous file at
/// `path` is left intact).
template <Communicator C, class Fill>
void write_on_rank0(C& comm, const std::string& path, Fill&& fill) {
  std::string failure;
  if (comm.rank() == 0) {
    try {
      io::SafetensorsWriter writer;
      fill(writer);
      writer.write(path);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  double failed = failure.empty() ? 0.0 : 1.0;
  broadcast_host(comm, &failed, 1, 0);
  require<IoError>(failed == 0, "save_checkpoint: rank 0 could not write '", path, "'",
                   failure.empty() ? std::string() : ": " + failure);
}

/// Collective: gathers every rank's stream state and rank 0 writes `path` atomically with the
/// parameters and their AdamW moments of `store` (rank 0's: the replicas are identical), the
/// states of all ranks under io::kSlotStateName, `metadata`, and "dist.ranks" = the rank count.
/// A failed write throws IoError on every rank (the previous file at `path` is left intact).
template <Communicator C, class T>
void save_checkpoint(C& comm, const nn::ParameterStore<T, typename C::backend>& store,
                     const memory::SlotState<T, typename C::backend>& state, const std::string& path,
                     const std::map<std::string, std::string>& metadata = {}) {
  const auto all = gather_rows(comm, state.slots());
  write_on_rank0(comm, path, [&](io::SafetensorsWriter& writer) {
    io::add_parameters(writer, store, /*with_optimizer_state=*/true);
    io::add_state(writer, memory::SlotState<T, typename C::backend>(all));
    for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
    writer.set_metadata("dist.ranks", std::to_string(comm.size()));
  });
}

/// What load_checkpoint returns: the stream states of all ranks of the saved run and the metadata.
template <class T, class B>
struct Checkpoint {
  memory::SlotState<T, B> state;               ///< [rows of all saved ranks, slots, d_model]
  std::map<std::string, std::string> metadata;  ///< save_checkpoint's, with "dist.ranks"
};

/// Loads the parameters and AdamW moments of a save_checkpoint file into `store` and returns the
/// states of all saved rows; each rank then takes its own rows (SlotState::rows). Not collective.
/// All or nothing: the state is read and checked before the parameters (which read_parameters
/// loads only once all of them passed), so a failed load leaves `store` unchanged.
template <class T, class B>
Checkpoint<T, B> load_checkpoint(nn::ParameterStore<T, B>& store, const std::string& path) {
  const io::SafetensorsReader reader(path);
  Checkpoint<T, B> out{io::read_state<T, B>(reader), reader.metadata()};
  io::read_parameters(reader, store, /*with_optimizer_state=*/true);
  return out;
}

}  // namespace mnemo::dist
