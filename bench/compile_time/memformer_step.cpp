// bench/compile_time/memformer_step.cpp — a user translation unit that instantiates and runs a
// Memformer: one inference step, then one MRBP training rollout and an AdamW step. It includes
// only the Memformer, its trainer and the optimizer. measure.sh times its compilation.
#include <cstdio>
#include <vector>

#include <mnemo/backend/cpu.hpp>  // BackendTraits<Cpu>: the layers are backend-agnostic templates
#include <mnemo/models/memformer.hpp>
#include <mnemo/train/mrbp.hpp>
#include <mnemo/train/optimizer.hpp>

int main() {
  using namespace mnemo;
  models::MemformerConfig config;
  config.vocab = 64;
  config.d_model = 32;
  config.heads = 4;
  config.d_ff = 64;
  config.slots = 4;
  config.encoder_layers = 2;
  config.decoder_layers = 1;
  config.segment_length = 8;
  models::Memformer<float, Cpu> model(config, /*seed=*/1);
  std::vector<train::Segment> segments;
  for (int t = 0; t < 3; ++t) segments.push_back({Tensor<int32_t, Cpu>::zeros({2, 8}), {}});

  auto state = model.initial_state(/*batch=*/2);
  const auto out = model.step(state, segments[0], &segments[1]);

  train::Mrbp<float, Cpu> trainer(model);
  train::AdamW<float, Cpu> optimizer(model.parameters(), {1e-3});
  model.parameters().zero_grad();
  const auto result = trainer.rollout(segments, /*resets=*/{}, state);
  if (result.finite) optimizer.step();
  std::printf("logits %s, rollout loss %.4f\n", out.logits.shape().str().c_str(), result.loss);
}
