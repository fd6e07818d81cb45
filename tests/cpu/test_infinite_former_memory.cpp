// ∞-former long-term memory: the whole read chain of spec §13.6, the sticky histogram of §13.7,
// §14 properties 2, 4, 6, 8, 9, 10, float against double, state clone/resume, and the errors
// bad configurations and shapes get.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "mnemo/memory/continuous_memory.hpp"
#include "mnemo/memory/continuous_operators.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
using namespace mnemo::memory;
namespace ag = mnemo::autograd;
using Ltm = ContinuousMemory<double, Cpu>;

namespace {

/// The configuration of §13.6: the tiny basis of §13.3 (N = 6), L = 4, λ = 0.5, no gate.
ContinuousMemoryConfig tiny_config() {
  ContinuousMemoryConfig c;
  c.basis = BasisConfig{6, {0.1, 0.3}};
  c.segment_length = 4;
  c.samples = 4;
  c.tau = 0.5;
  c.ridge_lambda = 0.5;
  c.gate = false;
  c.sigma2_floor = 1e-4;
  return c;
}

void set_identity(Tensor<double, Cpu>& w) {
  w.zero();
  for (int64_t i = 0; i < w.shape()[0]; ++i) w.at({i, i}) = 1.0;
}

void set_values(Tensor<double, Cpu>& t, std::initializer_list<double> v) {
  int64_t i = 0;
  for (double x : v) t[i++] = x;
}

void require_all_below(const std::vector<GradCheck>& checks, double tol = 1e-6) {
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < tol);
  }
}

/// A small layer for gradient and property tests: N = 8 (4 centres × 2 widths), e = 4, 2 heads.
ContinuousMemoryConfig small_config(bool sticky) {
  ContinuousMemoryConfig c;
  c.basis = BasisConfig{8, {0.15, 0.3}};
  c.segment_length = 5;
  c.samples = 6;
  c.tau = 0.6;
  c.ridge_lambda = 0.3;
  c.sigma2_floor = 1e-4;
  c.sticky = sticky;
  c.sticky_bins = 8;
  c.init_std = 0.5;
  return c;
}

}  // namespace

TEST_CASE("the whole read chain matches spec 13.6", "[infformer][memory]") {
  nn::ParameterStore<double, Cpu> store(1);
  Ltm ltm(store, "ltm", 2, 1, tiny_config());
  set_identity(ltm.key_weight().value);
  set_identity(ltm.value_weight().value);
  set_identity(ltm.output_weight().value);
  set_values(ltm.mu_weight().value, {0.1, -0.2, 0.3, 2, -0.1, 0.2});
  set_values(ltm.sigma_weight().value, {-0.3, 0.1, 0, -10, 0.1, -0.1});
  auto state = ltm.initial_state(1);
  const auto x = TensorD::from_host({1, 4, 2}, {1, 0, 2, 1, 3, 0, 4, 1});
  const auto coeffs = ltm.write(x, nullptr, state).value();
  CHECK(state.has_memory[0] == 1);
  CHECK(state.tokens_written[0] == 4);
  const auto q = TensorD::from_host({1, 1, 1, 2}, {0.5, -1.0});

  // Forward intermediates.
  Ltm::ReadSaved saved;
  double kl = 0;
  const auto z = ltm.read_forward(coeffs, q, state, &saved, &kl);
  const double tol = 2e-9;
  CHECK(saved.scores[0] == Approx(1.0191180027).margin(tol));  // a = w_μ·s, s = K q/√d_h
  CHECK(saved.scores[1] == Approx(-5.1500104217).margin(tol));  // b = w_σ·s
  CHECK(saved.mu[0] == Approx(0.7348007615).margin(tol));
  CHECK(saved.sigma2[0] == Approx(0.0057825928).margin(tol));
  const double r[6] = {1.1832619e-07, 0.0769475665, 0.5537159593, 0.9666721994, 0.3421101587, 0.8929379262};
  for (int j = 0; j < 6; ++j) CHECK(saved.r[j] == Approx(r[j]).margin(tol));
  CHECK(z[0] == Approx(2.0965068807).margin(tol));  // W_O = I: Z_ltm = c
  CHECK(z[1] == Approx(0.1872215070).margin(tol));
  // s itself (§13.6): K q/√2 with K = B.
  const double s_expected[6] = {-0.0256208331, -0.0508591704, -0.1756229162, 0.5137387330, 0.0627081177, 0.2149423628};
  for (int64_t j = 0; j < 6; ++j)
    CHECK((coeffs.at({0, j, 0}) * 0.5 - coeffs.at({0, j, 1})) / std::sqrt(2.0) == Approx(s_expected[j]).margin(tol));
  // dL/dμ, dL/dσ² of loss = c·(1, −2): dr = V (1, −2), then the expectation backward.
  std::vector<double> dr(6);
  for (int64_t j = 0; j < 6; ++j) dr[static_cast<size_t>(j)] = coeffs.at({0, j, 0}) - 2 * coeffs.at({0, j, 1});
  double dmu = 0, ds = 0;
  BackendTraits<Cpu>::gaussian_expectation_backward<double>(store.context(), saved.mu.data(), saved.sigma2.data(),
                                                            ltm.operators()->centres().data(),
                                                            ltm.operators()->widths_sq().data(), dr.data(), &dmu, &ds, 1, 6);
  CHECK(dmu == Approx(3.2562178311).margin(tol));
  CHECK(ds == Approx(-19.2138972150).margin(tol));

  // Gradients through the tape (KL not in the loss).
  store.zero_grad();
  auto state2 = ltm.initial_state(1);
  ltm.write(x, nullptr, state2);
  auto cv = VarD::leaf(state2.coefficients);
  auto qv = VarD::leaf(q);
  ag::Tape tape;
  {
    ag::Recording on(tape);
    auto out = ltm.read(cv, qv, state2);
    tape.backward(ag::sum_product(store.context(), out.z, TensorD::from_host({1, 1, 2}, {1.0, -2.0})));
  }
  CHECK(qv.grad()[0] == Approx(2.4100967120).margin(tol));
  CHECK(qv.grad()[1] == Approx(-0.0121638876).margin(tol));
  const double dwmu[6] = {-0.0162573056, -0.0322719042, -0.1114388200, 0.3259850106, 0.0397904715, 0.1363883701};
  const double dwsigma[6] = {0.0028384174, 0.0056344597, 0.0194564764, -0.0569148135, -0.0069471515, -0.0238125018};
  for (int j = 0; j < 6; ++j) {
    CHECK(ltm.mu_weight().grad[j] == Approx(dwmu[j]).margin(tol));
    CHECK(ltm.sigma_weight().grad[j] == Approx(dwsigma[j]).margin(tol));
  }
  // dL/dX = G_L dB.
  const auto& g = ltm.operators()->for_length(4).fit;
  const double dx[4][2] = {{0.4573386889, -0.9146773777}, {0.1308089256, -0.2616178513},
                           {0.7937587154, -1.5875174308}, {0.0503306376, -0.1006612751}};
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < 2; ++c) {
      double v = 0;
      for (int64_t j = 0; j < 6; ++j) v += g.at({i, j}) * cv.grad().at({0, j, c});
      CHECK(v == Approx(dx[i][c]).margin(tol));
    }
}

TEST_CASE("the context vector is W_V^T of the expected signal, and sigma -> 0 evaluates it at mu (properties 2, 6)",
          "[infformer][memory]") {
  auto cfg = tiny_config();
  cfg.sigma2_floor = 1e-13;
  nn::ParameterStore<double, Cpu> store(2);
  Ltm ltm(store, "ltm", 2, 1, cfg);
  set_identity(ltm.key_weight().value);
  set_identity(ltm.output_weight().value);  // W_V random: c = W_Vᵀ ∫ N(t; μ, σ²) X̄(t) dt
  set_values(ltm.mu_weight().value, {0.1, -0.2, 0.3, 2, -0.1, 0.2});
  auto state = ltm.initial_state(1);
  const auto x = TensorD::from_host({1, 4, 2}, {1, 0, 2, 1, 3, 0, 4, 1});
  const auto coeffs = ltm.write(x, nullptr, state).value();
  const auto q = TensorD::from_host({1, 1, 1, 2}, {0.5, -1.0});
  const ContinuousBasis basis(cfg.basis);
  auto signal = [&](double t, int64_t c) {
    double v = 0;
    for (int64_t j = 0; j < 6; ++j) v += coeffs.at({0, j, c}) * basis(j, t);
    return v;
  };
  const auto& wv = ltm.value_weight().value;
  for (double w_sigma3 : {-10.0, -400.0}) {  // σ² ≈ 0.0058, then clamped at ε = 1e-13
    set_values(ltm.sigma_weight().value, {-0.3, 0.1, 0, w_sigma3, 0.1, -0.1});
    Ltm::ReadSaved saved;
    const auto z = ltm.read_forward(coeffs, q, state, &saved, nullptr);
    const double mu = saved.mu[0], s2 = saved.sigma2[0];
    double expected[2];
    if (w_sigma3 == -10.0) {
      // ∫ N(t; μ, σ²) X̄(t) dt by the trapezoid rule on ±12σ (smooth integrand: spectrally accurate).
      const double sd = std::sqrt(s2);
      const int steps = 4000;
      double integral[2] = {0, 0};
      for (int i = 0; i <= steps; ++i) {
        const double t = mu - 12 * sd + 24 * sd * i / steps;
        const double w = (i == 0 || i == steps ? 0.5 : 1.0) * 24 * sd / steps * ContinuousBasis::gaussian(t, mu, sd);
        for (int64_t c = 0; c < 2; ++c) integral[c] += w * signal(t, c);
      }
      for (int64_t o = 0; o < 2; ++o) expected[o] = wv.at({0, o}) * integral[0] + wv.at({1, o}) * integral[1];
      for (int64_t o = 0; o < 2; ++o) CHECK(z[o] == Approx(expected[o]).epsilon(1e-10));
    } else {
      CHECK(s2 == 1e-13);
      for (int64_t o = 0; o < 2; ++o) expected[o] = wv.at({0, o}) * signal(mu, 0) + wv.at({1, o}) * signal(mu, 1);
      for (int64_t o = 0; o < 2; ++o) CHECK(z[o] == Approx(expected[o]).epsilon(1e-9));
    }
  }
}

TEST_CASE("sticky histogram and sampler (spec 13.7, property 8)", "[infformer][memory][sticky]") {
  const std::vector<double> mu = {0.3, 0.8, 0.5}, sigma = {0.1, 0.05, 0.5};
  const auto mass = sticky_histogram(mu, sigma, 4);
  const double expected_mass[4] = {0.4570704537, 0.8601747916, 0.3728644485, 0.9911992439};
  const double expected_p[4] = {0.1704654198, 0.3208040593, 0.1390606070, 0.3696699138};
  const auto p = normalise_histogram(mass);
  for (int d = 0; d < 4; ++d) {
    CHECK(mass[static_cast<size_t>(d)] == Approx(expected_mass[d]).margin(1e-10));
    CHECK(p[static_cast<size_t>(d)] == Approx(expected_p[d]).margin(1e-10));
  }
  const RngKey key{1234, 0};
  const int64_t draws = 100000;
  const auto s = sample_sticky_positions(p, draws, key, false);
  double counts[4] = {0, 0, 0, 0};
  for (size_t k = 0; k < s.size(); ++k) {
    const double bin = s[k] * 4;
    REQUIRE(bin == std::floor(bin));  // left edges 0, .25, .5, .75
    REQUIRE((k == 0 || s[k - 1] <= s[k]));
    counts[static_cast<int>(bin)] += 1;
  }
  double chi2 = 0;
  for (int d = 0; d < 4; ++d) {
    const double e = draws * expected_p[d];
    chi2 += (counts[d] - e) * (counts[d] - e) / e;
  }
  INFO("chi-square (3 dof) " << chi2);
  CHECK(chi2 < 16.27);  // p = 0.001
  CHECK(sample_sticky_positions(p, 1000, key, false) == sample_sticky_positions(p, 1000, key, false));
  CHECK(sample_sticky_positions(p, 1000, key, false) != sample_sticky_positions(p, 1000, RngKey{1235, 0}, false));
  const auto jittered = sample_sticky_positions(p, 1000, key, true);
  for (double t : jittered) CHECK((t >= 0.0 && t < 1.0));
  CHECK(jittered != sample_sticky_positions(p, 1000, key, false));
}

TEST_CASE("write and contraction are linear; zero in gives zero out (property 4)", "[infformer][memory]") {
  nn::ParameterStore<double, Cpu> store(3);
  auto cfg = small_config(false);
  cfg.gate = false;
  Ltm ltm(store, "ltm", 4, 2, cfg);
  const auto x1 = random_tensor({2, 5, 4}, 1), x2 = random_tensor({2, 5, 4}, 2);
  const auto p1 = random_tensor({2, 8, 4}, 3), p2 = random_tensor({2, 8, 4}, 4);
  const double alpha = 0.7, beta = -1.3;
  auto combine = [&](const TensorD& a, const TensorD& b) {
    TensorD c(a.shape());
    for (int64_t i = 0; i < a.numel(); ++i) c[i] = alpha * a[i] + beta * b[i];
    return c;
  };
  auto write = [&](const TensorD* prev, const TensorD& x) {
    auto s = ltm.initial_state(2);
    if (prev) {
      s.coefficients = prev->clone();
      s.has_memory = {1, 1};
    }
    return ltm.write_forward(x, nullptr, s, nullptr);
  };
  CHECK(rel_error(write(nullptr, combine(x1, x2)), combine(write(nullptr, x1), write(nullptr, x2))) < 1e-13);
  const auto p12 = combine(p1, p2);
  CHECK(rel_error(write(&p12, combine(x1, x2)), combine(write(&p1, x1), write(&p2, x2))) < 1e-13);
  const auto zeros = TensorD::zeros({2, 5, 4});
  const auto zero_prev = TensorD::zeros({2, 8, 4});
  CHECK(write(nullptr, zeros).to_host() == std::vector<double>(64, 0.0));
  CHECK(write(&zero_prev, zeros).to_host() == std::vector<double>(64, 0.0));
}

TEST_CASE("whole-layer gradients match finite differences (property 10)", "[infformer][memory][gradcheck]") {
  for (bool sticky : {false, true}) {
    DYNAMIC_SECTION("sticky " << sticky) {
      nn::ParameterStore<double, Cpu> store(4);
      Ltm ltm(store, "ltm", 4, 2, small_config(sticky));
      // Rows: 0 contracts (partly padded segment), 1 first write, 2 stays EMPTY (all padding),
      // 3 keeps its memory (all padding) and reads it.
      auto prebuilt = ltm.initial_state(4, 77);
      {
        auto pad0 = Tensor<uint8_t, Cpu>::zeros({4, 5});
        for (int64_t t = 0; t < 5; ++t) pad0.at({1, t}) = pad0.at({2, t}) = 1;
        ltm.write_forward(random_tensor({4, 5, 4}, 10), &pad0, prebuilt, nullptr);
        ltm.read_forward(prebuilt.coefficients, random_tensor({4, 2, 3, 2}, 11), prebuilt, nullptr, nullptr);
      }
      REQUIRE(prebuilt.has_memory == std::vector<uint8_t>{1, 0, 0, 1});
      auto pad = Tensor<uint8_t, Cpu>::zeros({4, 5});
      pad.at({0, 4}) = 1;
      for (int64_t t = 0; t < 5; ++t) pad.at({2, t}) = pad.at({3, t}) = 1;
      const auto x = random_tensor({4, 5, 4}, 12);
      const auto rz = random_tensor({4, 3, 4}, 13);
      auto q = VarD::leaf(random_tensor({4, 2, 3, 2}, 14));
      auto loss = [&] {
        auto s = prebuilt.clone();
        auto coeffs = ltm.write(x, &pad, s);
        auto out = ltm.read(coeffs, q, s);
        return ag::add(store.context(), ag::sum_product(store.context(), out.z, rz), ag::scale(store.context(), out.kl, 0.01));
      };
      {
        auto s = prebuilt.clone();
        ltm.write(x, &pad, s);
        CHECK(s.has_memory == std::vector<uint8_t>{1, 1, 0, 1});
        CHECK(s.tokens_written == std::vector<int64_t>{9, 5, 0, 5});
      }
      require_all_below(check_gradients(loss, {{"queries", q}}, &store));
    }
  }
}

TEST_CASE("the per-row write rule, and the streaming write (every row fitted and contracted, the rule selects) equal write_forward",
          "[infformer][memory][stream]") {
  // The rule alone: each source once (valid tokens, reset period, has_memory, tokens_written).
  {
    uint8_t has = 0;
    int64_t written = 0;
    CHECK(continuous_write_row(0, 0, has, written) == ContinuousWriteSource::Previous);
    CHECK((has == 0 && written == 0));
    CHECK(continuous_write_row(3, 0, has, written) == ContinuousWriteSource::Fit);
    CHECK((has == 1 && written == 3));
    CHECK(continuous_write_row(4, 0, has, written) == ContinuousWriteSource::Contraction);
    CHECK((has == 1 && written == 7));
    CHECK(continuous_write_row(0, 7, has, written) == ContinuousWriteSource::Zero);  // 7 ≥ 7: emptied, nothing written
    CHECK((has == 0 && written == 0));
    has = 1;
    written = 8;
    CHECK(continuous_write_row(2, 7, has, written) == ContinuousWriteSource::Fit);  // emptied, then a first fit
    CHECK((has == 1 && written == 2));
    const uint8_t pad[5] = {0, 1, 0, 1, 1};
    CHECK(continuous_write_valid(pad, 5) == 2);
    CHECK(continuous_write_valid(nullptr, 5) == 5);
  }
  using BT = BackendTraits<Cpu>;
  for (int64_t every : {int64_t{0}, int64_t{6}}) {
    DYNAMIC_SECTION("reset_every_tokens " << every) {
      nn::ParameterStore<double, Cpu> store(6);
      auto cfg = small_config(false);  // with the gate
      cfg.reset_every_tokens = every;
      Ltm ltm(store, "ltm", 4, 2, cfg);
      const int64_t nb = 4, L = 5, n = 8, e = 4;
      // Rows: 0 contracts a partly padded segment (or, reset, fits it first), 1 first write, 2 stays
      // empty (all padding), 3 keeps its memory (all padding; emptied when reset).
      auto before = ltm.initial_state(nb, 5);
      before.coefficients = random_tensor({nb, n, e}, 30);
      std::fill_n(before.coefficients.data() + n * e, 2 * n * e, 0.0);  // rows 1 and 2
      before.has_memory = {1, 0, 0, 1};
      before.tokens_written = {9, 0, 0, 7};
      auto pad = Tensor<uint8_t, Cpu>::zeros({nb, L});
      pad.at({0, 2}) = 1;
      for (int64_t t = 0; t < L; ++t) pad.at({2, t}) = pad.at({3, t}) = 1;
      const auto x = random_tensor({nb, L, e}, 31);

      auto eager = before.clone();
      const auto expected = ltm.write_forward(x, &pad, eager, nullptr);

      // The streaming write (models/infinite_former_stream.cuh) on the CPU.
      auto& ctx = store.context();
      TensorD xm(x.shape());
      for (int64_t i = 0; i < xm.numel(); ++i) xm[i] = pad[i / e] ? 0.0 : x[i];
      const TensorD xt = ltm.gated(xm, nullptr, nullptr);
      const auto& ops = ltm.operators()->for_length(L);
      TensorD fit({nb, n, e}), contraction({nb, n, e});
      BT::gemm(ctx, Trans::T, Trans::N, n, e, L, 1.0, ops.fit.data(), n, 0, xt.data(), e, L * e, 0.0, fit.data(), e, n * e, nb);
      BT::gemm(ctx, Trans::T, Trans::N, n, e, L, 1.0, ops.fit_new.data(), n, 0, xt.data(), e, L * e, 0.0, contraction.data(), e,
               n * e, nb);
      BT::gemm(ctx, Trans::N, Trans::N, n, e, n, 1.0, ops.contract.data(), n, 0, before.coefficients.data(), e, n * e, 1.0,
               contraction.data(), e, n * e, nb);
      TensorD streamed = before.coefficients.clone();
      auto has = before.has_memory;
      auto written = before.tokens_written;
      std::vector<ContinuousWriteSource> sources;
      for (int64_t b = 0; b < nb; ++b) {
        const auto k = static_cast<size_t>(b);
        const auto src = continuous_write_row(continuous_write_valid(pad.data() + b * L, L), every, has[k], written[k]);
        sources.push_back(src);
        for (int64_t i = b * n * e; i < (b + 1) * n * e; ++i)
          streamed[i] = src == ContinuousWriteSource::Previous ? streamed[i]
                        : src == ContinuousWriteSource::Zero   ? 0.0
                        : src == ContinuousWriteSource::Fit    ? fit[i]
                                                               : contraction[i];
      }
      const bool reset = every > 0;
      CHECK(sources == std::vector<ContinuousWriteSource>{
                           reset ? ContinuousWriteSource::Fit : ContinuousWriteSource::Contraction, ContinuousWriteSource::Fit,
                           ContinuousWriteSource::Previous, reset ? ContinuousWriteSource::Zero : ContinuousWriteSource::Previous});
      CHECK(has == eager.has_memory);
      CHECK(written == eager.tokens_written);
      CHECK(written == (reset ? std::vector<int64_t>{4, 5, 0, 0} : std::vector<int64_t>{13, 5, 0, 7}));
      CHECK(rel_error(streamed, expected) < 1e-13);
      CHECK(rel_error(streamed, eager.coefficients) < 1e-13);
    }
  }
}

TEST_CASE("state size is constant and a reset empties only its row (property 9)", "[infformer][memory]") {
  nn::ParameterStore<double, Cpu> store(5);
  auto cfg = small_config(true);
  cfg.segment_length = 16384;
  Ltm ltm(store, "ltm", 4, 2, cfg);
  ag::NoGrad off;
  // Tiny rows: one thread (thread start-up would dominate the 64 writes on a busy machine).
  struct OneThread {
    int previous = cpu::num_threads();
    OneThread() { cpu::set_num_threads(1); }
    ~OneThread() { cpu::set_num_threads(previous); }
  } one_thread;
  std::vector<TensorD> xs, qs;
  for (uint64_t k = 0; k < 5; ++k) {
    xs.push_back(random_tensor({3, 16384, 4}, 100 + k));
    qs.push_back(random_tensor({3, 2, 8, 2}, 200 + k));
  }
  auto run = [&](int64_t segments, int64_t reset_at, std::vector<int64_t>* sizes) {
    auto s = ltm.initial_state(3, 9);
    for (int64_t k = 0; k < segments; ++k) {
      if (k == reset_at) s.reset_rows({0, 1, 0});
      const auto coeffs = ltm.write_forward(xs[static_cast<size_t>(k % 5)], nullptr, s, nullptr);
      ltm.read_forward(coeffs, qs[static_cast<size_t>(k % 3)], s, nullptr, nullptr);
      if (sizes && k == 0) sizes->push_back(s.numel());  // after 16k tokens
    }
    if (sizes) sizes->push_back(s.numel());
    return s;
  };
  std::vector<int64_t> sizes;
  const auto a = run(64, -1, &sizes);  // 16k tokens, then 1M tokens
  REQUIRE(sizes.size() == 2);
  CHECK(sizes[0] == sizes[1]);
  CHECK(sizes[0] == 3 * 8 * 4 + 2 * 3 * 2 * 8);  // N·e + 2·H·L_q per row
  CHECK(a.tokens_written[0] == 1048576);
  // Reset of row 1 at segment 5: rows 0 and 2 stay bit-identical to the run without it.
  const auto b = run(6, -1, nullptr), c = run(6, 3, nullptr);
  for (int64_t row : {0, 2}) CHECK(b.coefficients.slice(row, 1).to_host() == c.coefficients.slice(row, 1).to_host());
  CHECK(b.coefficients.slice(1, 1).to_host() != c.coefficients.slice(1, 1).to_host());
  CHECK(c.tokens_written == std::vector<int64_t>{6 * 16384, 3 * 16384, 6 * 16384});
  auto d = b.clone();
  d.reset_rows({0, 1, 0});
  CHECK(d.has_memory == std::vector<uint8_t>{1, 0, 1});
  CHECK(d.coefficients.slice(1, 1).to_host() == std::vector<double>(32, 0.0));
  CHECK(d.coefficients.slice(0, 1).to_host() == b.coefficients.slice(0, 1).to_host());
}

TEST_CASE("a cloned state resumes bit for bit, sticky sampler included", "[infformer][memory][sticky]") {
  nn::ParameterStore<double, Cpu> store(6);
  Ltm ltm(store, "ltm", 4, 2, small_config(true));
  ag::NoGrad off;
  auto s = ltm.initial_state(2, 5);
  auto step = [&](ContinuousState<double, Cpu>& st, uint64_t k) {
    const auto coeffs = ltm.write_forward(random_tensor({2, 5, 4}, 300 + k), nullptr, st, nullptr);
    return ltm.read_forward(coeffs, random_tensor({2, 2, 3, 2}, 400 + k), st, nullptr, nullptr).to_host();
  };
  for (uint64_t k = 0; k < 3; ++k) step(s, k);
  auto copy = s.clone();
  for (uint64_t k = 3; k < 6; ++k) CHECK(step(s, k) == step(copy, k));
  CHECK(s.draws == copy.draws);
  CHECK(s.draws == 5);  // one sampling per contraction
  // A different seed samples different positions.
  auto other = ltm.initial_state(2, 6);
  for (uint64_t k = 0; k < 3; ++k) step(other, k);
  CHECK(ltm.sticky_positions(s, 0) != ltm.sticky_positions(other, 0));
}

TEST_CASE("float memory agrees with double", "[infformer][memory][precision]") {
  auto cfg = small_config(false);
  cfg.basis = BasisConfig{64, {0.02, 0.05}};
  cfg.segment_length = 32;
  cfg.samples = 64;
  cfg.init_std = 0.3;
  nn::ParameterStore<double, Cpu> sd(7);
  nn::ParameterStore<float, Cpu> sf(7);
  Ltm md(sd, "ltm", 16, 4, cfg);
  ContinuousMemory<float, Cpu> mf(sf, "ltm", 16, 4, cfg);
  auto stated = md.initial_state(2);
  auto statef = mf.initial_state(2);
  TensorD zd;
  Tensor<float, Cpu> zf;
  for (uint64_t k = 0; k < 3; ++k) {
    const auto x = random_tensor({2, 32, 16}, 500 + k), q = random_tensor({2, 4, 8, 4}, 600 + k);
    zd = md.read_forward(md.write_forward(x, nullptr, stated, nullptr), q, stated, nullptr, nullptr);
    zf = mf.read_forward(mf.write_forward(convert<float>(x), nullptr, statef, nullptr), convert<float>(q), statef, nullptr, nullptr);
  }
  CHECK(rel_error(statef.coefficients, stated.coefficients) < 1e-5);
  CHECK(rel_error(zf, zd) < 1e-5);
}

TEST_CASE("float memory skips only negligible blocks of its operators", "[infformer][memory][precision]") {
  // The LM preset's narrow basis (widths {0.005, 0.01}): the fit and contraction operators are
  // local, so the float memory applies them in bands with low-rank tails and skips the rest
  // (operator_bands.hpp). N 256, L 128, and the benchmark's N 512, L 512 (M = N).
  const int64_t basis_count = GENERATE(256, 512);
  auto cfg = ContinuousMemoryConfig::lm();
  cfg.basis.count = basis_count;
  cfg.segment_length = basis_count == 256 ? 128 : 512;
  cfg.samples = basis_count;
  INFO("N " << cfg.basis.count << ", L " << cfg.segment_length);
  cfg.gate = false;  // X̃ = X: the coefficients are the operators' products alone
  const int64_t e = 16, N = cfg.basis.count, L = cfg.segment_length;
  nn::ParameterStore<double, Cpu> sd(9);
  nn::ParameterStore<float, Cpu> sf(9);
  Ltm md(sd, "ltm", e, 4, cfg);
  ContinuousMemory<float, Cpu> mf(sf, "ltm", e, 4, cfg);
  const auto& dops = md.operators()->for_length(L);
  CHECK(dops.contract_bands.size() == 1);  // double: whole operators, dense
  CHECK(dops.contract_bands[0].k_end == N);
  CHECK(dops.contract_bands[0].tail_rank() == 0);
  const auto& ops = mf.operators()->for_length(L);
  // In double, on the operators the memory is built from: in every row, what the bands leave out
  // and the tails' low-rank error sum in magnitude to at most kOperatorBandFloor of the largest
  // entry; dense work and low-rank terms together well below the whole operator's.
  const ContinuousBasis basis(cfg.basis);
  const HostMatrix fit = fit_operator(basis, L, cfg.ridge_lambda, cfg.positions, cfg.zero_pad);
  const HostMatrix inf = contraction_operator(basis, L, cfg.samples, cfg.tau, cfg.ridge_lambda, cfg.zero_pad);
  const HostMatrix fit_new = inf.bottomRows(L).transpose();
  const HostMatrix contract = inf.topRows(cfg.samples).transpose() * basis.evaluate(uniform_sample_positions(cfg.samples));
  int64_t tails = 0;
  for (const HostMatrix* op : {&fit, &fit_new, &contract}) {
    const HostMatrix a = op == &fit ? HostMatrix(fit.transpose()) : *op;  // [N outputs, inner]
    const BandedOperator banded = band_operator(a, kOperatorBandFloor);
    const double largest = a.cwiseAbs().maxCoeff();
    HostMatrix approx = HostMatrix::Zero(a.rows(), a.cols());
    double work = 0;
    for (const OperatorBand& band : banded.bands) {
      const int64_t m = band.rows(), rank = band.tail_rank();
      approx.block(band.row_begin, band.k_begin, m, band.k_end - band.k_begin) =
          a.block(band.row_begin, band.k_begin, m, band.k_end - band.k_begin);
      const double* u = banded.factors.data() + band.factors;
      const double* vt_left = u + m * rank;
      const double* vt_right = vt_left + band.left_rank * band.left_width();
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t k = 0; k < band.left_width(); ++k)
          for (int64_t j = 0; j < band.left_rank; ++j)
            approx(band.row_begin + r, band.left_begin + k) += u[r * rank + j] * vt_left[j * band.left_width() + k];
        for (int64_t k = 0; k < band.right_width(); ++k)
          for (int64_t j = 0; j < band.right_rank; ++j)
            approx(band.row_begin + r, band.k_end + k) +=
                u[r * rank + band.left_rank + j] * vt_right[j * band.right_width() + k];
      }
      work += static_cast<double>(m * (band.k_end - band.k_begin) + rank * m + band.left_rank * band.left_width() +
                                  band.right_rank * band.right_width());
      tails += rank > 0;
    }
    for (int64_t r = 0; r < a.rows(); ++r) CHECK((a.row(r) - approx.row(r)).cwiseAbs().sum() <= kOperatorBandFloor * largest);
    CHECK(work < 0.6 * static_cast<double>(a.size()));
  }
  CHECK(tails > 0);  // the test exercises the low-rank tails
  // The bands the float memory holds are these.
  CHECK(ops.contract_bands.size() == band_operator(contract, kOperatorBandFloor).bands.size());
  CHECK(ops.contract_factors.numel() == static_cast<int64_t>(band_operator(contract, kOperatorBandFloor).factors.size()));
  const float *fitf = ops.fit.data(), *fit_newf = ops.fit_new.data(), *contractf = ops.contract.data();
  // A first write and a contraction against the whole products of the same float operators in
  // double: what the bands leave out and the tails round is below float rounding.
  auto state = mf.initial_state(2);
  for (uint64_t k = 0; k < 2; ++k) {
    INFO("write " << k);
    const Tensor<float, Cpu> prev = state.coefficients.clone();
    const auto x = convert<float>(random_tensor({2, L, e}, 700 + k));
    mf.write_forward(x, nullptr, state, nullptr);
    TensorD ref({2, N, e});
    ref.zero();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t r = 0; r < N; ++r)
        for (int64_t c = 0; c < e; ++c) {
          double acc = 0;
          for (int64_t i = 0; i < L; ++i)
            acc += static_cast<double>((k == 0 ? fitf : fit_newf)[i * N + r]) * static_cast<double>(x.at({b, i, c}));
          if (k > 0)
            for (int64_t j = 0; j < N; ++j) acc += static_cast<double>(contractf[r * N + j]) * static_cast<double>(prev.at({b, j, c}));
          ref.at({b, r, c}) = acc;
        }
    CHECK(rel_error(state.coefficients, ref) < 2e-6);
  }
}

TEST_CASE("bad memory configurations and shapes name what is wrong", "[infformer][memory][errors]") {
  nn::ParameterStore<double, Cpu> store(8);
  auto bad = [&](auto edit) {
    auto c = small_config(false);
    edit(c);
    return c;
  };
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.basis.count = 9; })), ConfigError, "not a multiple");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.basis.count = 2; })), ConfigError, "at least 2 centres");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.tau = 1.0; })), ConfigError, "tau = 1");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.tau = 0.0; })), ConfigError, "tau = 0");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.ridge_lambda = 0.0; })), ConfigError, "ridge_lambda = 0");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.samples = 0; })), ConfigError, "samples = 0");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.sticky_bins = 0; })), ConfigError, "sticky_bins = 0");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.sigma2_floor = -1.0; })), ConfigError, "sigma2_floor");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 4, 2, bad([](auto& c) { c.segment_length = 0; })), ConfigError, "segment_length = 0");
  MNEMO_CHECK_THROWS(Ltm(store, "a", 5, 2, small_config(false)), ConfigError, "d_model=5 is not divisible by heads=2");
  Ltm ltm(store, "ltm", 4, 2, small_config(false));
  auto s = ltm.initial_state(2);
  MNEMO_CHECK_THROWS(ltm.write(TensorD::zeros({2, 5, 3}), nullptr, s), ShapeError,
                     "x has shape [2, 5, 3], expected [batch=2, length, d_model=4]");
  MNEMO_CHECK_THROWS(ltm.write(TensorD::zeros({3, 5, 4}), nullptr, s), ShapeError, "expected [batch=2");
  auto pad = Tensor<uint8_t, Cpu>::zeros({2, 4});
  MNEMO_CHECK_THROWS(ltm.write(TensorD::zeros({2, 5, 4}), &pad, s), ShapeError, "padding has shape [2, 4]");
  MNEMO_CHECK_THROWS(ltm.read(VarD(s.coefficients), VarD(TensorD::zeros({2, 3, 3, 2})), s), ShapeError,
                     "queries has shape [2, 3, 3, 2], expected [batch=2, heads=2, queries, head_dim=2]");
  MNEMO_CHECK_THROWS(s.reset_rows({1}), ShapeError, "expected batch=2");
  ContinuousState<double, Cpu> undefined;
  MNEMO_CHECK_THROWS(ltm.write(TensorD::zeros({2, 5, 4}), nullptr, undefined), StateError, "initial_state");
}

namespace {
/// read_forward without ReadSaved (the blocked read: r per block of queries, V and c in place)
/// against read_forward with it (r materialised, head-layout copies) on the same state: one row
/// EMPTY, 300 queries = two whole blocks of kReadBlock and a partial one; the KL sums too.
template <class T>
void check_blocked_read(double tolerance) {
  static_assert(ContinuousMemory<T, Cpu>::kReadBlock * 2 < 300, "the queries must span a partial third block");
  auto cfg = small_config(true);
  cfg.basis = BasisConfig{16, {0.05, 0.1}};
  cfg.segment_length = 8;
  cfg.samples = 16;
  nn::ParameterStore<T, Cpu> store(21);
  ContinuousMemory<T, Cpu> ltm(store, "ltm", 12, 3, cfg);
  auto state = ltm.initial_state(3);
  const std::vector<uint8_t> reset_middle{0, 1, 0};
  const auto x = convert<T>(random_tensor({3, 8, 12}, 700));
  Tensor<T, Cpu> coeffs = ltm.write_forward(x, nullptr, state, nullptr);
  coeffs = ltm.write_forward(x, nullptr, state, nullptr);  // contracted
  state.reset_rows(reset_middle);                          // row 1 EMPTY: reads nothing
  const auto q = convert<T>(random_tensor({3, 3, 300, 4}, 701, 3.0));
  typename ContinuousMemory<T, Cpu>::ReadSaved saved;
  double kl_saved = 0, kl_blocked = 0;
  const auto z_saved = ltm.read_forward(state.coefficients, q, state, &saved, &kl_saved);
  const auto mu_saved = state.sticky_mu.to_host();
  const auto z_blocked = ltm.read_forward(state.coefficients, q, state, nullptr, &kl_blocked);
  CHECK(saved.r.defined());
  CHECK(rel_error(z_blocked, z_saved) < tolerance);
  CHECK(std::abs(kl_blocked - kl_saved) <= tolerance * std::abs(kl_saved));
  CHECK(state.sticky_mu.to_host() == mu_saved);  // the densities the sampler keeps are the same
  for (int64_t i = 0; i < 300 * 12; ++i) CHECK(z_blocked[300 * 12 + i] == T(0));
}
}  // namespace

TEST_CASE("blocked read (no ReadSaved) equals the unblocked read", "[infformer][memory][precision]") {
  check_blocked_read<double>(1e-12);
  check_blocked_read<float>(1e-5);
}

TEST_CASE("the read's Chebyshev expansion: its error bound holds, and the float tables reproduce r",
          "[infformer][memory][precision]") {
  // (a) The bound, in double, against the K-point interpolant computed here on its own (direct
  // sums at the Chebyshev points), on 2001 points of [-1, 1], at each degree's least std and wider.
  for (size_t d = 0; d < kSmoothReadDegrees.size(); ++d) {
    const int K = kSmoothReadDegrees[d];
    const double least = smooth_read_least_std(K);
    CHECK(chebyshev_gaussian_error_bound(least, K) <= kSmoothReadTolerance);
    CHECK(chebyshev_gaussian_error_bound(0.9 * least, K) > kSmoothReadTolerance);  // the least, up to 10 %
    if (d > 0) CHECK(least < smooth_read_least_std(kSmoothReadDegrees[d - 1]));
    for (double s : {least, 1.7 * least})
      for (double x0 : {-1.0, -0.55, 0.0, 0.3, 1.0}) {
        std::vector<double> a(static_cast<size_t>(K), 0.0);
        for (int p = 0; p < K; ++p)
          for (int k = 0; k < K; ++k) {
            const double theta = std::numbers::pi * (k + 0.5) / K, x = std::cos(theta);
            a[static_cast<size_t>(p)] += (p == 0 ? 1.0 : 2.0) / K * std::exp(-(x - x0) * (x - x0) / (2 * s * s)) * std::cos(p * theta);
          }
        double worst = 0;
        for (int i = 0; i <= 2000; ++i) {
          const double x = -1.0 + i / 1000.0;
          double approx = 0;
          for (int p = 0; p < K; ++p) approx += a[static_cast<size_t>(p)] * std::cos(p * std::acos(x));
          worst = std::max(worst, std::abs(approx - std::exp(-(x - x0) * (x - x0) / (2 * s * s))));
        }
        INFO("K " << K << ", s " << s << ", x0 " << x0);
        CHECK(worst <= chebyshev_gaussian_error_bound(s, K));
      }
  }
  // (b) The float tables of the LM preset's basis (N 512, widths {0.005, 0.01}): at the narrowest
  // variance each degree is chosen for, the coefficients times Φ give r = N(μ; c_j, σ² + s_j²)
  // to float rounding of its peak; a narrower variance takes a larger degree, the narrowest none.
  auto cfg = ContinuousMemoryConfig::lm();
  const ContinuousBasis basis(cfg.basis);
  const SmoothReadTables tables(basis);
  REQUIRE(tables.usable());
  REQUIRE(tables.widths() == 2);
  const int64_t N = basis.size();
  const double least_width_sq = 0.005 * 0.005;
  for (size_t d = 0; d < kSmoothReadDegrees.size(); ++d) {
    const int K = kSmoothReadDegrees[d];
    const double s = smooth_read_least_std(K), sigma2 = s * s / 4 - least_width_sq;
    if (sigma2 <= 0) continue;
    CHECK(tables.degree_for(sigma2 * 1.0001) <= static_cast<int>(d));
    CHECK(tables.degree_for(sigma2 * 1.0001) >= 0);
    const int narrower = tables.degree_for(sigma2 * 0.98);  // below this degree's least: a larger one or none
    CHECK((narrower > static_cast<int>(d) || narrower == -1));
    const std::vector<float> mus = {0.02f, 0.37f, 0.5f, 0.81f, 0.999f};
    const std::vector<float> s2(mus.size(), static_cast<float>(sigma2 * 1.0001));
    std::vector<float> a(mus.size() * 2 * K);
    tables.coefficients(static_cast<int>(d), mus.data(), s2.data(), static_cast<int64_t>(mus.size()), a.data());
    for (size_t i = 0; i < mus.size(); ++i) {
      double peak = 0, worst = 0;
      for (int64_t j = 0; j < N; ++j) {
        const double v = static_cast<double>(s2[i]) + basis.width(j) * basis.width(j), dm = mus[i] - basis.centre(j);
        const double r = kInvSqrt2Pi / std::sqrt(v) * std::exp(-dm * dm / (2 * v));
        double approx = 0;
        for (int p = 0; p < K; ++p)
          approx += static_cast<double>(a[i * 2 * K + (j % 2) * K + p]) * tables.phi(static_cast<int>(d))[((j % 2) * K + p) * N + j];
        peak = std::max(peak, r);
        worst = std::max(worst, std::abs(approx - r));
      }
      INFO("K " << K << ", mu " << mus[i] << ", sigma2 " << s2[i]);
      CHECK(worst <= 4e-6 * peak);
    }
  }
  CHECK(tables.degree_for(1e-4) == -1);  // σ ≈ 0.01: no degree up to 32 reaches it
  CHECK(tables.degree_for(0.69) == 1);   // the untrained model's σ² ≈ 0.69: 12 terms
}

TEST_CASE("a float memory's read of wide densities takes the expansion and equals the exact read",
          "[infformer][memory][precision]") {
  // Untrained weights give σ² ≈ softplus(0) ≈ 0.69: every row's densities are wide enough for the
  // expansion (smooth_read.hpp); the blocked read then equals the unblocked read (r over all N).
  auto cfg = ContinuousMemoryConfig::lm();
  cfg.basis.count = 128;
  cfg.segment_length = 32;
  cfg.samples = 64;
  nn::ParameterStore<float, Cpu> store(31);
  ContinuousMemory<float, Cpu> ltm(store, "ltm", 32, 2, cfg);
  auto state = ltm.initial_state(2);
  for (uint64_t k = 0; k < 2; ++k) ltm.write_forward(convert<float>(random_tensor({2, 32, 32}, 800 + k)), nullptr, state, nullptr);
  const auto q = convert<float>(random_tensor({2, 2, 300, 16}, 802));
  ContinuousMemory<float, Cpu>::ReadSaved saved;
  const auto z_exact = ltm.read_forward(state.coefficients, q, state, &saved, nullptr);
  const auto s2 = saved.sigma2.to_host();
  const double least = *std::min_element(s2.begin(), s2.end());
  CHECK(ltm.operators()->smooth_read().degree_for(least) >= 0);
  const auto z_smooth = ltm.read_forward(state.coefficients, q, state, nullptr, nullptr);
  CHECK(rel_error(z_smooth, z_exact) < 5e-6);  // float rounding of two different sums
  CHECK(rel_error(z_smooth, z_exact) > 0);  // a different sum: not the exact path by accident
}
