// src/compiled/backend_nn_float.cpp — mnemo::compiled: the float CPU GEMM, nn layers and optimizer,
// instantiated once (docs/compile_time.md lists what is instantiated where and how to add a type).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/bfloat16.hpp"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/train/optimizer.hpp"

namespace mnemo {
namespace cpu {
template void gemm_strided_batched<float>(Trans, Trans, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                        const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void softmax_forward<float>(const float*, float*, const SoftmaxDims&, float, const SoftmaxMask&);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, float);
// bfloat16 (core/bfloat16.hpp): only the kernels a compiled-mode TU sees as declarations; the bf16
// layers and models themselves are instantiated where they are used.
template void softmax_forward<bfloat16>(const bfloat16*, bfloat16*, const SoftmaxDims&, float, const SoftmaxMask&);
template void softmax_backward<bfloat16>(const bfloat16*, const bfloat16*, bfloat16*, int64_t, int64_t, float);
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
