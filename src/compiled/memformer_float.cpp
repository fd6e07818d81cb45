// src/compiled/memformer_float.cpp — mnemo::compiled: the float CPU Memformer, its slot memory and
// trainers, instantiated once (docs/compile_time.md).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/memory/slot_memory.hpp"
#include "mnemo/memory/slot_writer.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/mrbp.hpp"

namespace mnemo {
namespace cpu {
template void memformer_writer_forward<float>(const float*, const float*, const float*, const float*, const float*,
                                             const uint8_t*, float*, float*, const MemformerWriterDims&, float);
template void memformer_writer_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                              const float*, const float*, float*, float*, float*, float*, float*,
                                              const MemformerWriterDims&, float);
// The bfloat16 writer kernels (fp32 inside): declarations only in a compiled-mode TU.
template void memformer_writer_forward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, const bfloat16*,
                                                 const bfloat16*, const uint8_t*, bfloat16*, bfloat16*,
                                                 const MemformerWriterDims&, float);
template void memformer_writer_backward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, const bfloat16*,
                                                  const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*,
                                                  bfloat16*, bfloat16*, bfloat16*, bfloat16*,
                                                  const MemformerWriterDims&, float);
}  // namespace cpu
template class memory::SlotWriter<float, Cpu>;
template class memory::SlotMemory<float, Cpu>;
template class models::Memformer<float, Cpu>;
template class train::Bptt<float, Cpu>;
template class train::Mrbp<float, Cpu>;
template train::RolloutResult train::memformer_detail::rollout<train::Bptt, float, Cpu>(
    const char*, models::Memformer<float, Cpu>&, train::TrainerOptions&, const std::vector<train::Segment>&,
    const train::Resets&, memory::SlotState<float, Cpu>&, const std::vector<double>&);
template train::RolloutResult train::memformer_detail::rollout<train::Mrbp, float, Cpu>(
    const char*, models::Memformer<float, Cpu>&, train::TrainerOptions&, const std::vector<train::Segment>&,
    const train::Resets&, memory::SlotState<float, Cpu>&, const std::vector<double>&);
}  // namespace mnemo
