// tests/support/testing.hpp — gradients from the tape against central finite differences in
// double, small helpers shared by the tests, and an exception check
// that asserts both the mnemo::Error subclass and a piece of its message.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

// Only what the helpers below use (not the umbrella mnemo/mnemo.hpp, which also parses Eigen,
// nlohmann-json and every model in each test file): each test includes the layers, models and IO
// it tests (docs/compile_time.md).
#include "mnemo/autograd/ops.hpp"
#include "mnemo/autograd/tape.hpp"
#include "mnemo/autograd/var.hpp"
#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/nn/parameter_store.hpp"

namespace mnemo::test {

using TensorD = Tensor<double, Cpu>;
using VarD = autograd::Var<double, Cpu>;

/// N(0, scale²) entries drawn from a fixed seed.
template <class T = double>
Tensor<T, Cpu> random_tensor(const Shape& shape, uint64_t seed, double scale = 1.0) {
  Tensor<T, Cpu> t(shape);
  const RngKey key{seed, 0x7e57};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(scale * key.normal(static_cast<uint64_t>(i)));
  return t;
}

/// Same values in another element type.
template <class U, class T>
Tensor<U, Cpu> convert(const Tensor<T, Cpu>& t) {
  Tensor<U, Cpu> u(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) u[i] = static_cast<U>(t[i]);
  return u;
}

/// Normwise relative error max|a − b| / max(max|b|, floor). The floor (default 1e-3) makes
/// near-zero references (e.g. the exactly-zero gradient of an attention key bias, whose finite
/// difference is rounding noise ~1e-10) compare absolutely.
template <class TA, class TB>
double rel_error(const Tensor<TA, Cpu>& a, const Tensor<TB, Cpu>& b, double floor = 1e-3) {
  if (a.numel() != b.numel()) return INFINITY;
  double diff = 0, ref = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    ref = std::max(ref, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(ref, floor);
}

struct GradCheck {
  std::string name;      // what is checked
  double max_rel_error;  // normwise relative error of the analytic against the numeric gradient
};

/// Runs `loss` once on a tape, then compares the gradient of every `inputs` leaf and every
/// parameter of `store` (if given) with central differences (step h) of `loss` evaluated
/// without the tape. `loss` must return a one-element value computed from those tensors.
inline std::vector<GradCheck> check_gradients(const std::function<VarD()>& loss,
                                              const std::vector<std::pair<std::string, VarD>>& inputs,
                                              nn::ParameterStore<double, Cpu>* store = nullptr,
                                              double h = 1e-6) {
  if (store) store->zero_grad();
  for (const auto& in : inputs) const_cast<VarD&>(in.second).zero_grad();
  autograd::Tape tape;
  {
    autograd::Recording on(tape);
    VarD l = loss();
    tape.backward(l);
  }
  auto value = [&] {
    autograd::NoGrad off;
    return loss().value()[0];
  };
  auto numeric = [&](TensorD x) {  // x aliases the storage the loss reads
    TensorD g(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double keep = x[i];
      x[i] = keep + h;
      const double up = value();
      x[i] = keep - h;
      const double down = value();
      x[i] = keep;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  };
  std::vector<GradCheck> out;
  for (const auto& [name, v] : inputs) {
    const TensorD analytic = v.has_grad() ? v.grad().clone() : TensorD::zeros(v.shape());
    out.push_back({name, rel_error(analytic, numeric(v.value()))});
  }
  if (store)
    for (auto& p : *store) {
      const TensorD analytic = p->grad.clone();
      out.push_back({p->name, rel_error(analytic, numeric(p->value))});
    }
  return out;
}

}  // namespace mnemo::test

/// Checks that `expr` throws exactly the mnemo::Error subclass `Type` and that its message
/// contains `text` (expr is evaluated twice).
#define MNEMO_CHECK_THROWS(expr, Type, text)                      \
  do {                                                            \
    CHECK_THROWS_AS(expr, Type);                                  \
    CHECK_THROWS_WITH(expr, Catch::Matchers::Contains(text));     \
  } while (0)
