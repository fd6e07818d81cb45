// src/compiled/infinite_former_float.cpp — mnemo::compiled: the float CPU ∞-former, its continuous
// memory, trainer and state IO, instantiated once (docs/compile_time.md).
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/memory/continuous_memory.hpp"
#include "mnemo/memory/continuous_operators.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/infinite_former_layer.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"

namespace mnemo {
template class memory::ContinuousOperators<float, Cpu>;
template class memory::ContinuousMemory<float, Cpu>;
template class models::InfiniteFormerLayer<float, Cpu>;
template class models::InfiniteFormer<float, Cpu>;
template class train::InfiniteFormerTrainer<float, Cpu>;
template void io::save_state<float, Cpu>(const models::InfiniteFormerState<float, Cpu>&, const std::string&);
template models::InfiniteFormerState<float, Cpu> io::load_state<float, Cpu>(const models::InfiniteFormer<float, Cpu>&, int64_t,
                                                                        const std::string&);
}  // namespace mnemo
