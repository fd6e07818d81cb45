// The AdamW step on a master copy (mixed precision) on the CPU: the reference the CUDA kernel
// is held to. With T = float the master is a second float array, so the step must equal the
// plain step bit for bit, and both must follow the double-precision formula.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "mnemo/io/safetensors.hpp"
#include "mnemo/train/optimizer.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;

TEST_CASE("adamw_update_master equals adamw_update and writes the parameter from the master", "[train][adamw]") {
  auto& ctx = BackendTraits<Cpu>::default_context();
  const int64_t n = 257;
  const auto p0 = convert<float>(random_tensor({n}, 1));
  auto plain = p0.clone(), param = p0.clone(), master = p0.clone();
  auto m1 = Tensor<float, Cpu>::zeros({n}), v1 = Tensor<float, Cpu>::zeros({n});
  auto m2 = Tensor<float, Cpu>::zeros({n}), v2 = Tensor<float, Cpu>::zeros({n});
  TensorD ref = convert<double>(p0), mr = TensorD::zeros({n}), vr = TensorD::zeros({n});
  for (int64_t t = 1; t <= 4; ++t) {
    const auto g = convert<float>(random_tensor({n}, 10 + static_cast<uint64_t>(t)));
    const AdamWStep s{0.05, 0.9, 0.98, 1e-8, 0.1, t, 0.7};
    BackendTraits<Cpu>::adamw_update(ctx, plain.data(), g.data(), m1.data(), v1.data(), n, s);
    BackendTraits<Cpu>::adamw_update_master(ctx, param.data(), g.data(), master.data(), m2.data(), v2.data(), n, s);
    for (int64_t i = 0; i < n; ++i) {  // the formula of backend/primitives.hpp, in double
      const double gi = 0.7 * static_cast<double>(g[i]);
      mr[i] = 0.9 * mr[i] + 0.1 * gi;
      vr[i] = 0.98 * vr[i] + 0.02 * gi * gi;
      const double mh = mr[i] / (1 - std::pow(0.9, t)), vh = vr[i] / (1 - std::pow(0.98, t));
      ref[i] = ref[i] * (1 - 0.05 * 0.1) - 0.05 * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  CHECK(param.to_host() == plain.to_host());
  CHECK(master.to_host() == plain.to_host());
  CHECK(m2.to_host() == m1.to_host());
  CHECK(rel_error(master, ref) < 1e-5);
}

TEST_CASE("loading parameters drops the master copy so the next step takes it from the loaded value",
          "[train][adamw][io]") {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("mnemo_test_master_" + std::to_string(std::random_device{}()) + ".safetensors"))
                               .string();
  nn::ParameterStore<float, Cpu> store(3);
  auto& p = store.add("w", {4}, nn::Init::constant(0.25));
  io::save_parameters(store, path);
  p.master = Tensor<float, Cpu>::full({4}, 7.0f);  // as an optimizer on half-precision values keeps it
  p.value.fill(-1.0f);
  io::load_parameters(store, path);
  std::filesystem::remove(path);
  CHECK_FALSE(p.master.defined());
  CHECK(p.value.to_host() == std::vector<float>(4, 0.25f));
}
