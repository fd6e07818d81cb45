// tests/downstream/main.cpp — a program outside mnemo's tree, built against the installed package
// (find_package) or the source tree (add_subdirectory), once header-only (mnemo::mnemo) and once
// in the compiled mode (mnemo::compiled). It checks that the usage requirements
// carried by mnemo::mnemo (C++20, Eigen, nlohmann_json, OpenMP) are enough to build a layer, its
// tape and an optimizer step; that the numbers are right; that errors arrive typed; and, for an
// installed package, that the package version and the headers agree. Exit status 1 on a failure.
#include <cmath>
#include <cstdio>
#include <string>

#include <mnemo/mnemo.hpp>

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("  %-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

bool near(double a, double b) { return std::abs(a - b) <= 1e-12 * (1.0 + std::abs(b)); }

}  // namespace

int main() {
  using namespace mnemo;
  using Tens = Tensor<double, Cpu>;
  const std::string version = std::to_string(kVersionMajor) + "." + std::to_string(kVersionMinor) + "." +
                              std::to_string(kVersionPatch);
  std::printf("mnemo %s headers, %d OpenMP thread(s)\n", version.c_str(), cpu::num_threads());
#ifdef MNEMO_EXPECT_COMPILED
  // Built twice: against mnemo::mnemo (header-only) and mnemo::compiled (which must define the macro).
#ifdef MNEMO_COMPILED
  const bool compiled = true;
#else
  const bool compiled = false;
#endif
  std::printf("mode: %s\n", compiled ? "compiled (mnemo::compiled)" : "header-only (mnemo::mnemo)");
  expect(compiled == (MNEMO_EXPECT_COMPILED != 0), "the target linked sets the expected mode");
#endif
#ifdef MNEMO_PACKAGE_VERSION
  expect(version == MNEMO_PACKAGE_VERSION,
         "package version " MNEMO_PACKAGE_VERSION " matches the headers' version " + version);
#endif

  // y = x·W + b with W [3, 2] = [[1, 2], [3, 4], [5, 6]], b = [0.5, -1], x [2, 3] = [[1, 0, -1], [2, 1, 0]].
  nn::ParameterStore<double, Cpu> store(/*seed=*/1);
  nn::Linear<double, Cpu> linear(store, "linear", 3, 2);
  linear.weight().value.copy_from(Tens::from_host({3, 2}, {1, 2, 3, 4, 5, 6}));
  linear.bias()->value.copy_from(Tens::from_host({2}, {0.5, -1}));
  const auto x = autograd::Var<double, Cpu>::leaf(Tens::from_host({2, 3}, {1, 0, -1, 2, 1, 0}));

  autograd::Tape tape;
  autograd::Var<double, Cpu> y, loss;
  {
    autograd::Recording on(tape);
    y = linear(x);
    loss = autograd::sum(store.context(), y);
  }
  const double want_y[4] = {-3.5, -5.0, 5.5, 7.0};
  bool y_ok = y.shape() == Shape{2, 2};
  for (int i = 0; i < 4 && y_ok; ++i) y_ok = near(y.value()[i], want_y[i]);
  expect(y_ok, "Linear forward equals x·W + b");

  // d(Σy)/dW[i][j] = Σ_r x[r][i];  d(Σy)/db = rows;  d(Σy)/dx[r][i] = Σ_j W[i][j].
  tape.backward(loss);
  const Tens& dw = linear.weight().grad;
  const double want_dw[6] = {3, 3, 1, 1, -1, -1}, want_dx[6] = {3, 7, 11, 3, 7, 11};
  bool dw_ok = true, dx_ok = true;
  for (int i = 0; i < 6; ++i) {
    dw_ok = dw_ok && near(dw[i], want_dw[i]);
    dx_ok = dx_ok && near(x.grad()[i], want_dx[i]);
  }
  expect(dw_ok && near(linear.bias()->grad[0], 2.0) && near(linear.bias()->grad[1], 2.0),
         "tape gradients of W and b equal the hand-derived ones");
  expect(dx_ok, "tape gradient of the input equals the hand-derived one");

  // One AdamW step without weight decay moves every weight by -lr·sign(grad) (bias-corrected m/√v).
  train::AdamW<double, Cpu> adamw(store, {.lr = 0.1, .weight_decay = 0.0});
  adamw.step();
  const double moved = linear.weight().value[0] - 1.0;
  expect(std::abs(moved + 0.1) < 1e-6, "AdamW's first step moves W[0][0] by -lr (moved " + std::to_string(moved) + ")");

  // Bad input arrives as the right mnemo::Error subclass, naming what was expected.
  try {
    autograd::NoGrad off;
    linear(autograd::Var<double, Cpu>(Tens::zeros({2, 4})));
    expect(false, "a [2, 4] input to a 3-feature Linear throws ShapeError");
  } catch (const ShapeError& e) {
    const std::string message = e.what();
    expect(message.find("[2, 4]") != std::string::npos &&
               message.find("in_features=3") != std::string::npos,
           std::string("a [2, 4] input to a 3-feature Linear throws ShapeError: ") + e.what());
  }

  std::printf("%s\n", failures == 0 ? "downstream check passed" : "downstream check FAILED");
  return failures == 0 ? 0 : 1;
}
