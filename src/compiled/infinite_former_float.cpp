// src/compiled/infinite_former_float.cpp — mnemo::compiled: the float CPU ∞-former, its continuous
// memory, trainer and state IO, instantiated once (docs/compile_time.md).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/memory/continuous_memory.hpp"
#include "mnemo/memory/continuous_operators.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/infinite_former_layer.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"

namespace mnemo {
namespace cpu {  // the ∞-former's CPU kernels (declarations only in a compiled-mode TU)
template void gaussian_expectation_forward<float>(const float*, const float*, const float*, const float*, float*, int64_t, int64_t);
template void gaussian_expectation_backward<float>(const float*, const float*, const float*, const float*, const float*, float*, float*,
                                                 int64_t, int64_t);
template void sigmoid_gate_forward<float>(int64_t, const float*, const float*, float*);
template void sigmoid_gate_backward<float>(int64_t, const float*, const float*, const float*, float*);
template void gaussian_expectation_forward<bfloat16>(const float*, const float*, const float*, const float*, bfloat16*,
                                                      int64_t, int64_t);
template void gaussian_expectation_backward<bfloat16>(const float*, const float*, const float*, const float*,
                                                       const bfloat16*, float*, float*, int64_t, int64_t);
template void sigmoid_gate_forward<bfloat16>(int64_t, const bfloat16*, const bfloat16*, bfloat16*);
template void sigmoid_gate_backward<bfloat16>(int64_t, const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*);
}  // namespace cpu
template class memory::ContinuousOperators<float, Cpu>;
template class memory::ContinuousMemory<float, Cpu>;
template class models::InfiniteFormerLayer<float, Cpu>;
template class models::InfiniteFormer<float, Cpu>;
template class train::InfiniteFormerTrainer<float, Cpu>;
template void io::save_state<float, Cpu>(const models::InfiniteFormerState<float, Cpu>&, const std::string&);
template models::InfiniteFormerState<float, Cpu> io::load_state<float, Cpu>(const models::InfiniteFormer<float, Cpu>&, int64_t,
                                                                        const std::string&);
}  // namespace mnemo
