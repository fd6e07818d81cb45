// tests/downstream/cuda_main.cu — a CUDA program outside mnemo's tree, built against the installed
// package's mnemo::compiled_cuda (the compiled mode on CUDA): it must get MNEMO_COMPILED_CUDA and
// MNEMO_COMPILED from the target, and link the Memformer and the ∞-former on Cuda from
// libmnemo_compiled_cuda.a (this file only declares them, `extern template`). Without a GPU it
// stops after the build and link checks (exit 0); with one it runs a step of each model and checks
// the logits' shape and that they are finite. Exit status 1 on a failure.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <mnemo/cuda.cuh>

#if !defined(MNEMO_COMPILED_CUDA) || !defined(MNEMO_COMPILED)
#error "mnemo::compiled_cuda must define MNEMO_COMPILED_CUDA and MNEMO_COMPILED"
#endif

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("  %-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

/// The sizes both models share here: a vocabulary of 16, width 8, 2 heads, segments of 4 tokens.
template <class Config>
Config tiny(Config c) {
  c.vocab = 16;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.segment_length = 4;
  return c;
}

bool all_finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace

int main() {
  using mnemo::Cuda;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    std::printf("mnemo::compiled_cuda: built and linked; no CUDA device here, nothing run\n");
    return 0;
  }

  auto mc = tiny(mnemo::models::MemformerConfig{});
  mc.slots = 3;
  mnemo::models::Memformer<float, Cuda> memformer(mc, /*seed=*/1);
  mnemo::train::Segment segment{mnemo::Tensor<int32_t, mnemo::Cpu>::from_host({1, 4}, {1, 2, 3, 4}), {}};
  const auto out = memformer.step(memformer.initial_state(1), segment, &segment);
  expect(out.logits.shape() == mnemo::Shape{1, 4, 16}, "Memformer<float, Cuda> logits " + out.logits.shape().str());
  expect(all_finite(out.logits.to_host()), "Memformer<float, Cuda> logits are finite");

  auto ic = tiny(mnemo::models::InfiniteFormerConfig{});
  ic.layers = 1;
  ic.stm_segments = 1;
  ic.ltm.basis = mnemo::memory::BasisConfig{8, {0.15, 0.3}};
  ic.ltm.samples = 6;
  mnemo::models::InfiniteFormer<float, Cuda> infinite_former(ic, /*seed=*/1);
  auto state = infinite_former.initial_state(1);
  const auto logits = infinite_former.step(segment.tokens, nullptr, state).logits.value();
  expect(logits.shape() == mnemo::Shape{1, 4, 16}, "InfiniteFormer<float, Cuda> logits " + logits.shape().str());
  expect(all_finite(logits.to_host()), "InfiniteFormer<float, Cuda> logits are finite");
  return failures == 0 ? 0 : 1;
}
