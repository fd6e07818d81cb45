// mnemo/autograd/ops.hpp — every differentiable op.
#pragma once

#include "mnemo/autograd/ops/activation.hpp"
#include "mnemo/autograd/ops/arithmetic.hpp"
#include "mnemo/autograd/ops/embedding.hpp"
#include "mnemo/autograd/ops/layout.hpp"
#include "mnemo/autograd/ops/loss.hpp"
#include "mnemo/autograd/ops/matmul.hpp"
#include "mnemo/autograd/ops/normalization.hpp"
#include "mnemo/autograd/ops/softmax.hpp"
