// mnemo/nn/loss.hpp — losses of the nn layer (cross-entropy lives with the autograd ops).
#pragma once

#include "mnemo/autograd/ops/loss.hpp"

namespace mnemo::nn {

using autograd::CrossEntropyOptions;
using autograd::cross_entropy;
using autograd::Reduction;

}  // namespace mnemo::nn
