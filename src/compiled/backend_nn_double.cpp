// src/compiled/backend_nn_double.cpp — mnemo::compiled: the double CPU GEMM, nn layers and optimizer,
// instantiated once (docs/compile_time.md lists what is instantiated where and how to add a type).
#include "mnemo/backend/cpu.hpp"
#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/train/optimizer.hpp"

namespace mnemo {
namespace cpu {
template void gemm_strided_batched<double>(Trans, Trans, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                        const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t);
template void softmax_forward<double>(const double*, double*, const SoftmaxDims&, double, const SoftmaxMask&);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, double);
template void attention_forward<double>(const double*, int64_t, const double*, const double*, int64_t, double*,
                                        int64_t, const SoftmaxDims&, int64_t, double, const SoftmaxMask&, int64_t);
template bool small_gemm<double>(Trans, Trans, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t, const double*,
                              int64_t, int64_t, double, double*, int64_t, int64_t, int64_t);
template void bias_activation_forward<double>(const double*, const double*, double*, int64_t, int64_t, Activation);
template void bias_activation_backward<double>(const double*, const double*, const double*, double*, double*, int64_t, int64_t,
                                            Activation);
}  // namespace cpu
namespace nn {
template class MultiHeadAttention<double, Cpu>;
template class Embedding<double, Cpu>;
template class FeedForward<double, Cpu>;
template class LayerNorm<double, Cpu>;
template class Linear<double, Cpu>;
}  // namespace nn
template class train::AdamW<double, Cpu>;
}  // namespace mnemo
