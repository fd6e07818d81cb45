// mnemo/nn/inference_scope.hpp — marks a pure-inference pass on the calling thread. While a scope
// is open and no tape records, the layers may take their inference paths, whose results equal the
// recorded arithmetic to rounding, not bit for bit:
//   - nn::MultiHeadAttention: BackendTraits<Cpu>::attention_forward, no probabilities tensor;
//   - nn::FeedForward: x·W₁ in column blocks, each block's bias + activation right after its
//     product, in one parallel region (CPU).
// Models open one in their inference calls (Memformer::step, step_on_device, generate). MRBP's
// untaped replay never does: it must reproduce a taped pass bit for bit (docs/memformer.md).
#pragma once

namespace mnemo::nn {

class InferenceScope {
 public:
  InferenceScope() : previous_(flag()) { flag() = true; }
  ~InferenceScope() { flag() = previous_; }
  InferenceScope(const InferenceScope&) = delete;
  InferenceScope& operator=(const InferenceScope&) = delete;

  /// Whether a scope is open on this thread (the layers also check that no tape records).
  static bool active() { return flag(); }

 private:
  static bool& flag() {
    static thread_local bool open = false;
    return open;
  }
  bool previous_;
};

}  // namespace mnemo::nn
