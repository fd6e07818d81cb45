// src/compiled/infinite_former_double.cpp — mnemo::compiled: the double CPU ∞-former, its continuous
// memory, trainer and state IO, instantiated once (docs/compile_time.md).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/memory/continuous_memory.hpp"
#include "mnemo/memory/continuous_operators.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/infinite_former_layer.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"

namespace mnemo {
namespace cpu {  // the ∞-former's CPU kernels (declarations only in a compiled-mode TU)
template void gaussian_expectation_forward<double>(const double*, const double*, const double*, const double*, double*, int64_t, int64_t);
template void gaussian_expectation_backward<double>(const double*, const double*, const double*, const double*, const double*, double*, double*,
                                                 int64_t, int64_t);
template void sigmoid_gate_forward<double>(int64_t, const double*, const double*, double*);
template void sigmoid_gate_backward<double>(int64_t, const double*, const double*, const double*, double*);
}  // namespace cpu
template class memory::ContinuousOperators<double, Cpu>;
template class memory::ContinuousMemory<double, Cpu>;
template class models::InfiniteFormerLayer<double, Cpu>;
template class models::InfiniteFormer<double, Cpu>;
template class train::InfiniteFormerTrainer<double, Cpu>;
template void io::save_state<double, Cpu>(const models::InfiniteFormerState<double, Cpu>&, const std::string&);
template models::InfiniteFormerState<double, Cpu> io::load_state<double, Cpu>(const models::InfiniteFormer<double, Cpu>&, int64_t,
                                                                        const std::string&);
}  // namespace mnemo
