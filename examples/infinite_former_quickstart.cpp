// A minimal ∞-former program (docs/infinite_former.md, "API example"): build a small model,
// train one rollout of segments, save and restore the stream state, generate a continuation.
#include <cstdio>

#include <mnemo/mnemo.hpp>
using namespace mnemo;

int main() {
  models::InfiniteFormerConfig config;              // LM preset: N 512, {0.005, 0.01}, τ 0.5, λ 0.5
  config.vocab = 256;
  config.d_model = 128;
  config.heads = 4;
  config.d_ff = 512;
  config.layers = 2;
  config.segment_length = 64;
  config.ltm.basis.count = 64;                      // smaller basis for a small model
  config.ltm.basis.widths = {0.02, 0.05};
  config.ltm.samples = 64;
  models::InfiniteFormer<float, Cpu> model(config, /*seed=*/1);
  train::InfiniteFormerTrainer<float, Cpu> trainer(model, {/*seed=*/1});
  train::AdamW<float, Cpu> optimizer(model.parameters(), {1e-3});

  auto state = model.initial_state(/*batch=*/2);
  std::vector<train::Segment> segments;             // T+1 segments of [2, 64] token ids
  for (int t = 0; t < 5; ++t) segments.push_back({Tensor<int32_t, Cpu>::zeros({2, 64}), {}});
  model.parameters().zero_grad();
  auto result = trainer.rollout(segments, /*resets=*/{}, state);
  if (result.finite) optimizer.step();

  io::save_state(model, state, "stream.safetensors");  // resume later, bit for bit
  auto restored = io::load_state(model, 2, "stream.safetensors");
  std::vector<int32_t> pending;
  auto next = model.generate(Tensor<int32_t, Cpu>::zeros({2, 8}), 16, restored, pending);
  std::remove("stream.safetensors");
  std::printf("rollout loss %.4f over %lld tokens; generated %lld tokens per row\n", result.loss,
              static_cast<long long>(result.tokens), static_cast<long long>(next.shape()[1]));
  return next.shape()[1] == 16 ? 0 : 1;
}
