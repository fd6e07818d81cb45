// bench/compile_time/infinite_former_step.cpp — a user translation unit that instantiates and
// runs an ∞-former: one training rollout with an AdamW step, then one inference step. It
// includes only the model, its trainer and the optimizer. measure.sh times its compilation.
#include <cstdio>
#include <vector>

#include <mnemo/backend/cpu.hpp>  // BackendTraits<Cpu>: the layers are backend-agnostic templates
#include <mnemo/models/infinite_former.hpp>
#include <mnemo/train/infinite_former_trainer.hpp>
#include <mnemo/train/optimizer.hpp>

int main() {
  using namespace mnemo;
  models::InfiniteFormerConfig config;
  config.vocab = 64;
  config.d_model = 32;
  config.heads = 4;
  config.d_ff = 64;
  config.layers = 2;
  config.segment_length = 16;
  config.ltm.basis.count = 16;
  config.ltm.basis.widths = {0.05, 0.1};
  config.ltm.samples = 16;
  models::InfiniteFormer<float, Cpu> model(config, /*seed=*/1);
  train::InfiniteFormerTrainer<float, Cpu> trainer(model, {/*seed=*/1});
  train::AdamW<float, Cpu> optimizer(model.parameters(), {1e-3});

  auto state = model.initial_state(/*batch=*/2);
  std::vector<train::Segment> segments;
  for (int t = 0; t < 3; ++t) segments.push_back({Tensor<int32_t, Cpu>::zeros({2, 16}), {}});
  model.parameters().zero_grad();
  const auto result = trainer.rollout(segments, /*resets=*/{}, state);
  if (result.finite) optimizer.step();

  autograd::NoGrad inference;
  const auto out = model.step(segments[0].tokens, nullptr, state);
  std::printf("rollout loss %.4f, logits %s\n", result.loss, out.logits.shape().str().c_str());
}
