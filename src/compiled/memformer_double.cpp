// src/compiled/memformer_double.cpp — mnemo::compiled: the double CPU Memformer, its slot memory and
// trainers, instantiated once (docs/compile_time.md).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/memory/slot_memory.hpp"
#include "mnemo/memory/slot_writer.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/mrbp.hpp"

namespace mnemo {
namespace cpu {
template void memformer_writer_forward<double>(const double*, const double*, const double*, const double*, const double*,
                                             const uint8_t*, double*, double*, const MemformerWriterDims&, double);
template void memformer_writer_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                              const double*, const double*, double*, double*, double*, double*, double*,
                                              const MemformerWriterDims&, double);
}  // namespace cpu
template class memory::SlotWriter<double, Cpu>;
template class memory::SlotMemory<double, Cpu>;
template class models::Memformer<double, Cpu>;
template class train::Bptt<double, Cpu>;
template class train::Mrbp<double, Cpu>;
template train::RolloutResult train::memformer_detail::rollout<train::Bptt, double, Cpu>(
    const char*, models::Memformer<double, Cpu>&, train::TrainerOptions&, const std::vector<train::Segment>&,
    const train::Resets&, memory::SlotState<double, Cpu>&, const std::vector<double>&);
template train::RolloutResult train::memformer_detail::rollout<train::Mrbp, double, Cpu>(
    const char*, models::Memformer<double, Cpu>&, train::TrainerOptions&, const std::vector<train::Segment>&,
    const train::Resets&, memory::SlotState<double, Cpu>&, const std::vector<double>&);
}  // namespace mnemo
