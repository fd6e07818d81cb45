// mnemo/mnemo.hpp — the CPU side of mnemo in one include. For the CUDA backend also include
// <mnemo/cuda.cuh> from a translation unit compiled by nvcc.
#pragma once

#include "mnemo/autograd/ops.hpp"
#include "mnemo/autograd/tape.hpp"
#include "mnemo/autograd/var.hpp"
#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/arena.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/shape.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/nn.hpp"
#include "mnemo/train/clip.hpp"
#include "mnemo/train/optimizer.hpp"
#include "mnemo/train/rollout.hpp"
#include "mnemo/train/schedule.hpp"
