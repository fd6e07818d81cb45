// mnemo/backend/cuda/graph.cuh — CudaGraph: the work of a callable captured once into a CUDA
// graph and replayed (one launch instead of one per kernel: the streaming step of a model).
//
//   CudaGraph step(ctx, [&](CudaContext& c) { /* read fixed input buffers, write fixed outputs */ });
//   for (...) { copy new input into the input buffer; step.replay(); }
//
// The callable runs with a private arena bound to the context: once eagerly (the warm-up, which
// makes the arena cache every block the work needs), then under stream capture, where those
// blocks are handed out again without cudaMalloc. The blocks stay reserved for the graph's
// lifetime, so the addresses baked into the graph remain valid and are never reused by
// anything else. The callable must
//   - launch only through the context it is given (the layers' primitives do): no Tensor
//     memory functions, which use the default context's legacy stream (that is an error
//     during capture), no host reads of device values (they synchronise);
//   - allocate the same sizes in the same order on every run;
//   - keep its inputs and outputs in buffers allocated before the graph (their addresses are
//     baked in): new input values are copied into the input buffers before replay().
#pragma once

#include <memory>
#include <utility>

#include <cuda_runtime.h>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/core/arena.hpp"

namespace mnemo::cuda {

class CudaGraph {
 public:
  /// Runs work(ctx) `warmup_runs` times eagerly (at least once), then captures one more run.
  template <class Work>
  CudaGraph(CudaContext& ctx, Work&& work, int warmup_runs = 1)
      : ctx_(&ctx), arena_(std::make_unique<Arena>("cuda-graph", &device_allocate, &device_free)) {
    try {
      build(work, warmup_runs);
    } catch (...) {
      // Nothing queued may still use the private arena when it is freed with this object.
      (void)cudaStreamSynchronize(ctx.stream());
      (void)cudaGetLastError();
      throw;
    }
  }
  ~CudaGraph() {
    (void)cudaStreamSynchronize(ctx_->stream());  // replays must finish before the memory goes
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    (void)cudaGetLastError();
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  /// Launches the captured work on the context's stream (asynchronous).
  void replay() { MNEMO_CUDA_CHECK(cudaGraphLaunch(exec_, ctx_->stream())); }

  /// Device memory reserved for the graph's temporaries.
  MemoryStats memory_stats() const { return arena_->stats(); }

 private:
  /// Serves the context's allocations from `arena` for the scope.
  struct ArenaBinding {
    ArenaBinding(CudaContext& c, Arena& arena) : ctx(c), previous(c.bind_arena(&arena)) {}
    ~ArenaBinding() { ctx.bind_arena(previous); }
    CudaContext& ctx;
    Arena* previous;
  };
  /// Points the context (and its cuBLAS handle) at a fresh capture stream for the scope.
  struct StreamBinding {
    explicit StreamBinding(CudaContext& c) : ctx(c), previous(c.stream()) {
      MNEMO_CUDA_CHECK(cudaStreamCreate(&capture_stream));
      try {
        ctx.set_stream(capture_stream);
      } catch (...) {
        (void)cudaStreamDestroy(capture_stream);
        throw;
      }
    }
    ~StreamBinding() {
      try {
        ctx.set_stream(previous);
      } catch (...) {  // the previous stream was valid a moment ago: nothing sensible to do
      }
      (void)cudaStreamDestroy(capture_stream);
    }
    CudaContext& ctx;
    cudaStream_t previous;
    cudaStream_t capture_stream = nullptr;
  };

  template <class Work>
  void build(Work& work, int warmup_runs) {
    CudaContext& ctx = *ctx_;
    ArenaBinding bind(ctx, *arena_);
    for (int i = 0; i < (warmup_runs < 1 ? 1 : warmup_runs); ++i) work(ctx);
    // Capture needs a stream other than the legacy one; a blocking stream makes any use of the
    // legacy stream during capture an error instead of a silent eager launch.
    StreamBinding on(ctx);
    MNEMO_CUDA_CHECK(cudaStreamBeginCapture(on.capture_stream, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t graph = nullptr;
    g_graph_capturing = true;
    try {
      work(ctx);
    } catch (...) {
      g_graph_capturing = false;
      (void)cudaStreamEndCapture(on.capture_stream, &graph);
      if (graph) (void)cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      throw;
    }
    g_graph_capturing = false;
    MNEMO_CUDA_CHECK(cudaStreamEndCapture(on.capture_stream, &graph));
    const cudaError_t status = cudaGraphInstantiate(&exec_, graph, 0);
    (void)cudaGraphDestroy(graph);
    MNEMO_CUDA_CHECK(status);
  }

  CudaContext* ctx_;
  std::unique_ptr<Arena> arena_;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace mnemo::cuda

namespace mnemo {
using CudaGraph = cuda::CudaGraph;
}  // namespace mnemo
