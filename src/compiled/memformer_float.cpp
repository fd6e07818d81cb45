// src/compiled/memformer_float.cpp — mnemo::compiled: the float CPU Memformer, its slot memory and
// trainers, instantiated once (docs/compile_time.md).
#include "mnemo/memory/slot_memory.hpp"
#include "mnemo/memory/slot_writer.hpp"
#include "mnemo/models/memformer.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/mrbp.hpp"

namespace mnemo {
template class memory::SlotWriter<float, Cpu>;
template class memory::SlotMemory<float, Cpu>;
template class models::Memformer<float, Cpu>;
template class train::Bptt<float, Cpu>;
template class train::Mrbp<float, Cpu>;
}  // namespace mnemo
