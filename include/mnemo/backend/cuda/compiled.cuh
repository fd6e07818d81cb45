// mnemo/backend/cuda/compiled.cuh — the CUDA side of the compiled mode (docs/compile_time.md):
// the list of the costly CUDA instantiations that `mnemo::compiled_cuda` (src/compiled_cuda/)
// compiles once, for float, double, __half and __nv_bfloat16 on Cuda: the layers, both memories,
// both models, their trainers, AdamW, the state IO and the two graph streams.
//
// Linking mnemo::compiled_cuda defines MNEMO_COMPILED_CUDA (and, through mnemo::compiled,
// MNEMO_COMPILED); <mnemo/cuda.cuh> then ends with this header, which declares the list
// `extern template`, so a .cu file that uses a model calls the library's instantiation instead
// of compiling the model, its kernels and its host code again. The library's sources expand the
// same list without `extern` (two element types per file), after this header has declared it
// `extern`, so declaration and definition cannot drift apart. Lower-level pieces (autograd ops,
// the backend's kernels) a .cu file calls directly are still instantiated there, as in the
// header-only mode.
#pragma once

#if !defined(__CUDACC__)
#error "<mnemo/backend/cuda/compiled.cuh> needs the CUDA compiler (it is included by <mnemo/cuda.cuh>)"
#endif

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/traits.cuh"
#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/memory/continuous_memory.hpp"
#include "mnemo/memory/continuous_operators.hpp"
#include "mnemo/memory/slot_memory.hpp"
#include "mnemo/memory/slot_writer.hpp"
#include "mnemo/models/infinite_former.hpp"
#include "mnemo/models/infinite_former_layer.hpp"
#include "mnemo/models/infinite_former_stream.cuh"
#include "mnemo/models/memformer.hpp"
#include "mnemo/models/memformer_stream.cuh"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/train/bptt.hpp"
#include "mnemo/train/infinite_former_trainer.hpp"
#include "mnemo/train/mrbp.hpp"
#include "mnemo/train/optimizer.hpp"

// MNEMO_CUDA_INSTANTIATIONS(EXTERN, T): every instantiation of the list for element type T, as
// explicit instantiation declarations (EXTERN = extern) or definitions (EXTERN empty). At
// namespace scope, outside any namespace. Bptt<T, Cuda>::rollout and Mrbp<T, Cuda>::rollout are
// defined in their classes (inline), so the rollout they forward to is listed too.
#define MNEMO_CUDA_INSTANTIATIONS(EXTERN, T)                                                                   \
  EXTERN template class mnemo::nn::Linear<T, mnemo::Cuda>;                                                     \
  EXTERN template class mnemo::nn::LayerNorm<T, mnemo::Cuda>;                                                  \
  EXTERN template class mnemo::nn::FeedForward<T, mnemo::Cuda>;                                                \
  EXTERN template class mnemo::nn::Embedding<T, mnemo::Cuda>;                                                  \
  EXTERN template class mnemo::nn::MultiHeadAttention<T, mnemo::Cuda>;                                         \
  EXTERN template class mnemo::memory::SlotWriter<T, mnemo::Cuda>;                                             \
  EXTERN template class mnemo::memory::SlotMemory<T, mnemo::Cuda>;                                             \
  EXTERN template class mnemo::memory::ContinuousOperators<T, mnemo::Cuda>;                                    \
  EXTERN template class mnemo::memory::ContinuousMemory<T, mnemo::Cuda>;                                       \
  EXTERN template class mnemo::models::Memformer<T, mnemo::Cuda>;                                              \
  EXTERN template class mnemo::models::InfiniteFormerLayer<T, mnemo::Cuda>;                                    \
  EXTERN template class mnemo::models::InfiniteFormer<T, mnemo::Cuda>;                                         \
  EXTERN template class mnemo::train::Bptt<T, mnemo::Cuda>;                                                    \
  EXTERN template class mnemo::train::Mrbp<T, mnemo::Cuda>;                                                    \
  EXTERN template mnemo::train::RolloutResult                                                                  \
  mnemo::train::memformer_detail::rollout<mnemo::train::Bptt, T, mnemo::Cuda>(                                 \
      const char*, mnemo::models::Memformer<T, mnemo::Cuda>&, mnemo::train::TrainerOptions&,                    \
      const std::vector<mnemo::train::Segment>&, const mnemo::train::Resets&,                                   \
      mnemo::memory::SlotState<T, mnemo::Cuda>&, const std::vector<double>&);                                   \
  EXTERN template mnemo::train::RolloutResult                                                                  \
  mnemo::train::memformer_detail::rollout<mnemo::train::Mrbp, T, mnemo::Cuda>(                                 \
      const char*, mnemo::models::Memformer<T, mnemo::Cuda>&, mnemo::train::TrainerOptions&,                    \
      const std::vector<mnemo::train::Segment>&, const mnemo::train::Resets&,                                   \
      mnemo::memory::SlotState<T, mnemo::Cuda>&, const std::vector<double>&);                                   \
  EXTERN template class mnemo::train::InfiniteFormerTrainer<T, mnemo::Cuda>;                                   \
  EXTERN template class mnemo::train::AdamW<T, mnemo::Cuda>;                                                   \
  EXTERN template void mnemo::io::save_state<T, mnemo::Cuda>(const mnemo::memory::SlotState<T, mnemo::Cuda>&,  \
                                                             const std::string&,                                \
                                                             const std::map<std::string, std::string>&);        \
  EXTERN template mnemo::memory::SlotState<T, mnemo::Cuda> mnemo::io::load_state<T, mnemo::Cuda>(              \
      const std::string&);                                                                                      \
  EXTERN template void mnemo::io::save_state<T, mnemo::Cuda>(                                                  \
      const mnemo::models::InfiniteFormerState<T, mnemo::Cuda>&, const std::string&);                          \
  EXTERN template mnemo::models::InfiniteFormerState<T, mnemo::Cuda> mnemo::io::load_state<T, mnemo::Cuda>(    \
      const mnemo::models::InfiniteFormer<T, mnemo::Cuda>&, int64_t, const std::string&);                      \
  EXTERN template class mnemo::cuda::MemformerStream<T>;                                                       \
  EXTERN template class mnemo::cuda::InfiniteFormerStream<T>;

#if defined(MNEMO_COMPILED_CUDA)
MNEMO_CUDA_INSTANTIATIONS(extern, float)
MNEMO_CUDA_INSTANTIATIONS(extern, double)
MNEMO_CUDA_INSTANTIATIONS(extern, __half)
MNEMO_CUDA_INSTANTIATIONS(extern, __nv_bfloat16)
#endif  // MNEMO_COMPILED_CUDA
