// src/compiled/backend_nn_float.cpp — mnemo::compiled: the float CPU GEMM, nn layers and optimizer,
// instantiated once (docs/compile_time.md lists what is instantiated where and how to add a type).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/backend/cpu/thread_pool.hpp"
#include "mnemo/autograd/tape_members.hpp"  // autograd::Tape's non-template members, compiled here once
#include "mnemo/core/arena_pool.hpp"  // mnemo::Arena's members, compiled here once (not inline)
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/train/optimizer.hpp"

namespace mnemo {
namespace cpu {
// The pool behind parallel_for in the compiled mode (cpu/parallel.hpp): compiled here once.
namespace detail {
void pool_run(int64_t tasks, void (*invoke)(void*, int64_t), void* context) {
  ThreadPool::instance().run(tasks, [invoke, context](int64_t i) { invoke(context, i); });
}
int pool_threads() { return ThreadPool::instance().threads(); }
void pool_set_threads(int n) { ThreadPool::instance().set_threads(n); }
bool pool_in_task() { return ThreadPool::in_task(); }
uint64_t pool_jobs_shared() { return ThreadPool::instance().jobs_shared(); }
}  // namespace detail
template void gemm_strided_batched<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                        const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void softmax_forward<float>(const float*, float*, const SoftmaxDims&, float, const SoftmaxMask&);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, float);
template bool attention_head_tiles<float>(int64_t);
template bool attention_head_forward<float>(const float*, const float*, const float*, float*, float*, int64_t, int64_t,
                                           int64_t, int64_t, bool, int64_t, int64_t, float, const SoftmaxMask&);
template bool attention_head_backward<float>(const float*, const float*, int64_t, const float*, const float*,
                                            const float*, float*, float*, float*, int64_t, int64_t, int64_t, int64_t,
                                            bool, int64_t, int64_t, float, float);
template void attention_forward<float>(const float*, int64_t, const float*, const float*, int64_t, float*, int64_t,
                                       const SoftmaxDims&, int64_t, float, const SoftmaxMask&, int64_t);
template bool small_gemm<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*,
                              int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void bias_activation_forward<float>(const float*, const float*, float*, int64_t, int64_t, Activation);
template void bias_activation_backward<float>(const float*, const float*, const float*, float*, float*, int64_t, int64_t,
                                            Activation);
// bfloat16 (core/bfloat16.hpp): only the kernels a compiled-mode TU sees as declarations; the bf16
// layers and models themselves are instantiated where they are used.
template void softmax_forward<bfloat16>(const bfloat16*, bfloat16*, const SoftmaxDims&, float, const SoftmaxMask&);
template void attention_forward<bfloat16>(const bfloat16*, int64_t, const bfloat16*, const bfloat16*, int64_t, bfloat16*,
                                          int64_t, const SoftmaxDims&, int64_t, float, const SoftmaxMask&, int64_t);
template void softmax_backward<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t, float);
template void bias_activation_forward<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t,
                                                Activation);
template void bias_activation_backward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*, bfloat16*,
                                                 int64_t, int64_t, Activation);
template void gemm_bf16_strided_batched<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const bfloat16*, int64_t,
                                               int64_t, const bfloat16*, int64_t, int64_t, float, float*, int64_t,
                                               int64_t, int64_t, Bf16Kernel);
template void gemm_bf16_strided_batched<bfloat16>(Trans, Trans, int64_t, int64_t, int64_t, float, const bfloat16*,
                                                  int64_t, int64_t, const bfloat16*, int64_t, int64_t, float, bfloat16*,
                                                  int64_t, int64_t, int64_t, Bf16Kernel);
template void bf16_rows::widen<bfloat16>(const bfloat16*, float*, int64_t);
template void bf16_rows::narrow<bfloat16>(const float*, bfloat16*, int64_t);
template void bf16_rows::bias_activation_forward<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t,
                                                           int64_t, Activation);
template void bf16_rows::add_row_broadcast<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t,
                                                     int64_t);
template void bf16_rows::add<bfloat16>(int64_t, const bfloat16*, const bfloat16*, bfloat16*);
template void bf16_rows::layer_norm_forward<bfloat16>(const bfloat16*, const bfloat16*, const bfloat16*, bfloat16*,
                                                      float*, float*, int64_t, int64_t, float);
}  // namespace cpu
namespace nn {
template class MultiHeadAttention<float, Cpu>;
template class Embedding<float, Cpu>;
template class FeedForward<float, Cpu>;
template class LayerNorm<float, Cpu>;
template class Linear<float, Cpu>;
}  // namespace nn
template class train::AdamW<float, Cpu>;
}  // namespace mnemo
