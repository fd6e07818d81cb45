// deploy_pytorch_model — the C++ half of "train in PyTorch, deploy in C++"
// (examples/train_in_pytorch_deploy_in_cpp.md): loads a Memformer that examples/train_in_pytorch.py
// trained with the PyTorch twin (python/mnemo_torch) and exported as a mnemo model file, checks
// that it computes what PyTorch computed, then serves the task with streaming generation.
//
//   deploy_pytorch_model MODEL.safetensors [PROBE.safetensors]
//
// PROBE (written next to the model by the training script) holds one stream's segments tokens.<t>
// and the twin's logits.<t> for them: the program prints the largest difference to its own logits
// (float32 on both sides: rounding only). Then, on fresh streams a b a b a, it encodes each segment
// and generates the next one greedily (Memformer::generate), and reports how often the generated
// segment 2..4 (which only the memory can supply) is right.
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "mnemo/mnemo.hpp"

using namespace mnemo;
using Model = models::Memformer<float, Cpu>;

namespace {

constexpr size_t kSegments = 5;

/// Streams a b a b a of `batch` rows (symbols 2..vocab−1), drawn from `key`.
std::vector<train::Segment> make_streams(int64_t batch, const models::MemformerConfig& c, const RngKey& key) {
  const int64_t L = c.segment_length;
  train::Segment a{Tensor<int32_t, Cpu>(Shape{batch, L}), {}}, b{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  for (int64_t i = 0; i < batch * L; ++i) {
    const auto symbols = static_cast<uint32_t>(c.vocab - 2);
    a.tokens[i] = 2 + static_cast<int32_t>(key.bits(static_cast<uint64_t>(2 * i)) % symbols);
    b.tokens[i] = 2 + static_cast<int32_t>(key.bits(static_cast<uint64_t>(2 * i + 1)) % symbols);
  }
  std::vector<train::Segment> s;
  for (size_t t = 0; t < kSegments; ++t) s.push_back(t % 2 == 0 ? a : b);
  return s;
}

/// Largest |C++ − PyTorch| over the probe's logits.
double probe_difference(const Model& model, const std::string& path) {
  const io::SafetensorsReader probe(path);
  std::vector<train::Segment> s;
  for (size_t t = 0; t < kSegments; ++t) s.push_back({probe.read<int32_t>("tokens." + std::to_string(t)), {}});
  auto state = model.initial_state(s[0].batch());
  double worst = 0;
  for (size_t t = 0; t + 1 < kSegments; ++t) {
    const auto out = model.step(state, s[t], &s[t + 1]);
    const auto want = probe.read<float>("logits." + std::to_string(t)).to_host();
    const auto got = out.logits.to_host();
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
    state = out.next;
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors [PROBE.safetensors]\n", argv[0]);
    return 2;
  }
  const Model model = io::load_model<Model>(argv[1]);  // configuration and weights from the file alone
  const auto& c = model.config();
  std::printf("loaded %s: vocab %lld, d_model %lld, %lld slots, segments of %lld tokens\n", argv[1],
              static_cast<long long>(c.vocab), static_cast<long long>(c.d_model), static_cast<long long>(c.slots),
              static_cast<long long>(c.segment_length));
  if (argc == 3) std::printf("probe: largest |C++ logits - PyTorch logits| = %.3g\n", probe_difference(model, argv[2]));

  const int64_t batch = 256;
  const auto s = make_streams(batch, c, RngKey{2026, 7});
  auto state = model.initial_state(batch);
  int64_t right = 0, total = 0;
  for (size_t t = 0; t + 1 < kSegments; ++t) {
    const auto out = model.step(state, s[t]);   // encode segment t, advance the memory
    if (t >= 1) {                                // segment t+1 = segment t−1: only the memory has it
      const auto next = model.generate(out);     // greedy, token by token
      for (int64_t i = 0; i < next.tokens.numel(); ++i) right += next.tokens[i] == s[t + 1].tokens[i];
      total += next.tokens.numel();
    }
    state = out.next;
  }
  std::printf("C++: greedy generation of remembered segments: %.3f of %lld tokens right (chance %.3f)\n",
              static_cast<double>(right) / static_cast<double>(total), static_cast<long long>(total),
              1.0 / static_cast<double>(c.vocab - 2));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "deploy_pytorch_model: %s\n", e.what());
  return 1;
}
