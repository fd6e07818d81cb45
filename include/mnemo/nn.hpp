// mnemo/nn.hpp — the differentiable building blocks.
#pragma once

#include "mnemo/nn/attention.hpp"
#include "mnemo/nn/embedding.hpp"
#include "mnemo/nn/feed_forward.hpp"
#include "mnemo/nn/layer_norm.hpp"
#include "mnemo/nn/linear.hpp"
#include "mnemo/nn/loss.hpp"
#include "mnemo/nn/parameter_store.hpp"
