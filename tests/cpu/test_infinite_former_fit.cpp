// ∞-former basis and fit operators: the spec's test vectors (infinite_former.md §13.3–13.5) and
// properties 3, 5 and 7 of §14.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "mnemo/memory/continuous_basis.hpp"
#include "mnemo/memory/ridge_fit.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::memory;

namespace {

/// The tiny basis of §13.3: centres {0, 0.5, 1} × widths {0.1, 0.3}, interleaved.
ContinuousBasis tiny_basis() { return ContinuousBasis(BasisConfig{6, {0.1, 0.3}}); }

/// X̄(t) = Bᵀψ(t) for a one-column signal.
double signal_at(const ContinuousBasis& basis, const Eigen::VectorXd& b, double t) {
  double s = 0;
  for (int64_t j = 0; j < basis.size(); ++j) s += b(j) * basis(j, t);
  return s;
}

void check_row(const HostMatrix& g, Eigen::Index row, std::initializer_list<double> expected, double tol) {
  Eigen::Index j = 0;
  for (double e : expected) {
    INFO("row " << row << ", column " << j);
    CHECK(g(row, j) == Approx(e).margin(tol));
    ++j;
  }
}

void check_vector(const Eigen::VectorXd& v, std::initializer_list<double> expected, double tol) {
  Eigen::Index j = 0;
  for (double e : expected) {
    INFO("entry " << j);
    CHECK(v(j) == Approx(e).margin(tol));
    ++j;
  }
}

/// Full-size operators of §13.5, built once per test run.
const HostMatrix& full_operator(const std::string& which) {
  static std::map<std::string, HostMatrix> cache;
  auto it = cache.find(which);
  if (it != cache.end()) return it->second;
  const ContinuousBasis sorting(BasisConfig::sorting()), lm(BasisConfig::lm());
  HostMatrix g;
  if (which == "sorting_paper") g = fit_operator(sorting, 1024, 1.0, PositionConvention::Paper, true);
  else if (which == "sorting_cell") g = fit_operator(sorting, 1024, 1.0, PositionConvention::CellCentre, true);
  else if (which == "sorting_inf") g = contraction_operator(sorting, 1024, 512, 0.75, 1.0, true);
  else if (which == "lm_paper") g = fit_operator(lm, 512, 0.5, PositionConvention::Paper, true);
  else if (which == "lm_inf") g = contraction_operator(lm, 512, 512, 0.5, 0.5, true);
  return cache.emplace(which, std::move(g)).first->second;
}

}  // namespace

TEST_CASE("basis layout is interleaved with centres k/(N/W - 1)", "[infformer][basis]") {
  const ContinuousBasis basis(BasisConfig{8, {0.02, 0.05}});
  CHECK(basis.centre(0) == 0.0);
  CHECK(basis.centre(1) == 0.0);
  CHECK(basis.width(0) == 0.02);
  CHECK(basis.width(1) == 0.05);
  CHECK(basis.centre(2) == Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(basis.centre(7) == 1.0);
  // ψ is a normalised density: ψ_j(μ_j) = 1/(σ_j·sqrt(2π)); the §13.1 point value.
  CHECK(basis(1, 0.0) == Approx(1.0 / (0.05 * std::sqrt(2 * M_PI))).epsilon(1e-14));
  CHECK(ContinuousBasis::gaussian(0.37, 0.41, 0.01) == Approx(0.01338302257649).epsilon(1e-12));
}

TEST_CASE("bad basis configurations name the field", "[infformer][basis][errors]") {
  MNEMO_CHECK_THROWS(ContinuousBasis(BasisConfig{10, {0.1, 0.2, 0.3}}), ConfigError, "not a multiple");
  MNEMO_CHECK_THROWS(ContinuousBasis(BasisConfig{2, {0.1, 0.2}}), ConfigError, "at least 2 centres per width");
  MNEMO_CHECK_THROWS(ContinuousBasis(BasisConfig{4, {0.1, -0.2}}), ConfigError, "basis_widths[1] = -0.2");
  MNEMO_CHECK_THROWS(ContinuousBasis(BasisConfig{4, {}}), ConfigError, "basis_widths is empty");
  MNEMO_CHECK_THROWS(ContinuousBasis(BasisConfig{0, {0.1}}), ConfigError, "basis_count = 0");
  const ContinuousBasis basis = tiny_basis();
  MNEMO_CHECK_THROWS(fit_operator(basis, 4, 0.0, PositionConvention::Paper, true), ConfigError, "lambda = 0");
  MNEMO_CHECK_THROWS(contraction_operator(basis, 4, 4, 1.0, 0.5, true), ConfigError, "tau = 1");
}

TEST_CASE("tiny fit matches spec 13.3 in both position conventions", "[infformer][fit]") {
  const ContinuousBasis basis = tiny_basis();
  const FitLattice lat = segment_lattice(4, PositionConvention::Paper, true);
  REQUIRE(lat.positions.size() == 8);
  const double expected_positions[8] = {-0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5};
  for (int i = 0; i < 8; ++i) CHECK(lat.positions[static_cast<size_t>(i)] == Approx(expected_positions[i]).margin(1e-15));
  CHECK(lat.first_real == 2);

  const HostMatrix g = fit_operator(basis, 4, 0.5, PositionConvention::Paper, true);
  REQUIRE(g.rows() == 4);
  REQUIRE(g.cols() == 6);
  const double tol = 2e-10;
  check_row(g, 0, {-0.1145284283, 0.2717055826, -0.1251207299, 0.3600479273, 0.0116613636, -0.1306112247}, tol);
  check_row(g, 1, {0.0037181883, -0.0100619048, 0.2465985807, -0.0079227364, 0.0035383881, -0.0095332269}, tol);
  check_row(g, 2, {0.0142812772, -0.1412213129, -0.1264661314, 0.3715377194, -0.1094047625, 0.2537335579}, tol);
  check_row(g, 3, {-0.0003910313, 0.0040534496, 0.0038912522, -0.0107942591, 0.2469591326, -0.0113203199}, tol);

  const Eigen::Vector4d x(1, 2, 3, 4);
  const Eigen::VectorXd b = g.transpose() * x;
  check_vector(b, {-0.0658123452, -0.1558683673, 0.0042430460, 1.4156385766, 0.6783603823, 0.5662417156}, tol);
  const double ts[5] = {0, 0.25, 0.5, 0.75, 1};
  const double paper_signal[5] = {0.0024951123, 1.2061060724, 2.0355392396, 1.9729270549, 3.9278699216};
  for (int i = 0; i < 5; ++i) CHECK(signal_at(basis, b, ts[i]) == Approx(paper_signal[i]).margin(tol));

  const HostMatrix gc = fit_operator(basis, 4, 0.5, PositionConvention::CellCentre, true);
  const Eigen::VectorXd bc = gc.transpose() * x;
  check_vector(bc, {0.0167486976, -0.1633754771, 0.1532818818, 1.7408252295, 0.4543099923, 0.3669940546}, tol);
  const double cell_signal[5] = {0.4286896977, 1.5335854713, 2.9939938391, 2.0776858392, 2.8768695468};
  for (int i = 0; i < 5; ++i) CHECK(signal_at(basis, bc, ts[i]) == Approx(cell_signal[i]).margin(tol));
}

TEST_CASE("tiny contraction matches spec 13.4 (pads, u, G_inf rows, B_new)", "[infformer][fit]") {
  const ContinuousBasis basis = tiny_basis();
  const FitLattice lat = contraction_lattice(4, 4, 0.5, true);
  REQUIRE(lat.positions.size() == 16);
  CHECK(lat.first_real == 4);
  CHECK(lat.real_count == 8);
  const double expected[16] = {-0.4166666667, -0.2944444444, -0.1722222222, -0.05, 0.125, 0.25, 0.375, 0.5,
                               0.625, 0.75, 0.875, 1.0, 1.05, 1.1722222222, 1.2944444444, 1.4166666667};
  for (int i = 0; i < 16; ++i) CHECK(lat.positions[static_cast<size_t>(i)] == Approx(expected[i]).margin(1e-10));

  const HostMatrix ginf = contraction_operator(basis, 4, 4, 0.5, 0.5, true);
  REQUIRE(ginf.rows() == 8);
  const double tol = 2e-10;
  check_row(ginf, 0, {0.0591523995, 0.0695837082, -0.0534932933, 0.1148149331, 0.0044255397, -0.0418219634}, tol);
  check_row(ginf, 7, {0.0004280210, -0.0021470353, 0.0083519841, 0.0065272897, 0.1566195338, -0.0898713433}, tol);
  // Crop alignment (§14 item 7): the kept rows are exactly the rows of the u positions.
  const HostMatrix full = ridge_operator(basis, lat.positions, 0.5);
  CHECK((full.middleRows(4, 8) - ginf).cwiseAbs().maxCoeff() == 0.0);

  const Eigen::Vector4d x_new(4, 3, 2, 1), x(1, 2, 3, 4);
  const HostMatrix psi_s = basis.evaluate(uniform_sample_positions(4));
  for (auto convention : {PositionConvention::Paper, PositionConvention::CellCentre}) {
    const HostMatrix g = fit_operator(basis, 4, 0.5, convention, true);
    const Eigen::VectorXd b_prev = g.transpose() * x;
    const Eigen::VectorXd x_past = psi_s * b_prev;
    Eigen::VectorXd stacked(8);
    stacked << x_past, x_new;
    const Eigen::VectorXd b_new = ginf.transpose() * stacked;
    if (convention == PositionConvention::Paper) {
      check_vector(x_past, {1.2061060724, 2.0355392396, 1.9729270549, 3.9278699216}, tol);
      check_vector(b_new, {-0.0541286103, -0.1375519882, 0.2657825663, 2.0265814997, -0.1502821528, 0.4404738501}, tol);
      const double ts[5] = {0.125, 0.25, 0.5, 0.75, 1};
      const double signal[5] = {0.9765331131, 1.8379680425, 3.8557254754, 2.3305157523, 0.6574983299};
      for (int i = 0; i < 5; ++i) CHECK(signal_at(basis, b_new, ts[i]) == Approx(signal[i]).margin(tol));
    } else {
      check_vector(b_new, {-0.1554627185, 0.0490591126, -0.1044814063, 2.4763965648, -0.1518403572, 0.3242458581}, tol);
    }
  }
}

TEST_CASE("full-size operators match spec 13.5", "[infformer][fit][slow]") {
  const double tol = 1e-9;
  const HostMatrix& gp = full_operator("sorting_paper");
  REQUIRE(gp.rows() == 1024);
  CHECK(gp.sum() == Approx(0.99980716168).margin(tol));
  CHECK(gp(0, 0) == Approx(-0.018509319671).margin(tol));
  CHECK(gp(512, 256) == Approx(0.026906759715).margin(tol));
  const HostMatrix& gc = full_operator("sorting_cell");
  CHECK(gc.sum() == Approx(0.99980537224).margin(tol));
  CHECK(gc(0, 0) == Approx(-0.019425254803).margin(tol));
  CHECK(gc(512, 256) == Approx(0.024921261100).margin(tol));
  const HostMatrix& gi = full_operator("sorting_inf");
  REQUIRE(gi.rows() == 512 + 1024);
  CHECK(gi.sum() == Approx(0.99981927643).margin(tol));
  CHECK(gi(0, 0) == Approx(-0.012999424134).margin(tol));
  const HostMatrix& lp = full_operator("lm_paper");
  CHECK(lp.sum() == Approx(0.99978393383).margin(tol));
  CHECK(lp(0, 0) == Approx(-0.030916835055).margin(tol));
  const HostMatrix& li = full_operator("lm_inf");
  CHECK(li.sum() == Approx(0.99959853334).margin(tol));
  CHECK(li(512, 256) == Approx(0.057832872325).margin(tol));
}

TEST_CASE("ridge fit reproduces a signal built from the basis as lambda -> 0 (property 3)", "[infformer][fit]") {
  const ContinuousBasis basis(BasisConfig{16, {0.05, 0.1}});
  const int64_t L = 64;
  const auto bt = test::random_tensor({16}, 42);
  Eigen::VectorXd b(16);
  for (int j = 0; j < 16; ++j) b(j) = bt[j];
  const FitLattice lat = segment_lattice(L, PositionConvention::Paper, false);
  Eigen::VectorXd x(L);
  for (int64_t i = 0; i < L; ++i) x(i) = signal_at(basis, b, lat.positions[static_cast<size_t>(i)]);
  auto fit_error = [&](double lambda) {
    const HostMatrix g = fit_operator(basis, L, lambda, PositionConvention::Paper, false);
    const Eigen::VectorXd fitted = g.transpose() * x;
    double err = 0, ref = 0;
    for (int64_t i = 0; i <= 1000; ++i) {  // a fine grid on [0, 1] (samples included at i/L)
      const double t = static_cast<double>(i) / 1000.0;
      err = std::max(err, std::abs(signal_at(basis, fitted, t) - signal_at(basis, b, t)));
      ref = std::max(ref, std::abs(signal_at(basis, b, t)));
    }
    for (int64_t i = 0; i < L; ++i) err = std::max(err, std::abs(signal_at(basis, fitted, lat.positions[static_cast<size_t>(i)]) - x(i)));
    return err / ref;
  };
  const double e8 = fit_error(1e-8), e4 = fit_error(1e-4), e2 = fit_error(1e-2);
  INFO("relative errors: lambda 1e-8 " << e8 << ", 1e-4 " << e4 << ", 1e-2 " << e2);
  CHECK(e8 < 1e-7);
  // The error scales with λ: about 1e-3 at 1e-2 and 3e-5 at 1e-4 (spec §14 item 3).
  CHECK(e2 > 1e-4);
  CHECK(e2 < 1e-2);
  CHECK(e4 > 3e-6);
  CHECK(e4 < 3e-4);
  CHECK(e2 / e4 > 10.0);
}

TEST_CASE("contraction keeps a constant signal constant (property 5)", "[infformer][fit][slow]") {
  const double c = 1.7;
  const int grid = 2000;
  std::vector<double> grid_t;
  for (int i = 0; i <= grid; ++i) grid_t.push_back(static_cast<double>(i) / grid);
  struct Preset {
    BasisConfig basis;
    int64_t L, M;
    double tau, lambda;
  };
  // Max deviation from c on [lo, hi] and the mean over [0, 1] on a fine grid (relative to c).
  auto stats = [&](const HostMatrix& psi_grid, const Eigen::VectorXd& b, double lo, double hi) {
    const Eigen::VectorXd v = psi_grid * b;
    double dev = 0;
    for (int i = 0; i <= grid; ++i)
      if (grid_t[static_cast<size_t>(i)] >= lo && grid_t[static_cast<size_t>(i)] <= hi) dev = std::max(dev, std::abs(v(i) - c));
    return std::pair{dev / c, v.mean() / c};
  };
  // First fit of a constant segment, then `steps` contractions with constant new vectors.
  auto run = [&](const Preset& p, double lambda, bool pad, int steps, auto&& check) {
    const ContinuousBasis basis(p.basis);
    const HostMatrix psi_grid = basis.evaluate(grid_t);
    const HostMatrix psi_s = basis.evaluate(uniform_sample_positions(p.M));
    const HostMatrix g = fit_operator(basis, p.L, lambda, PositionConvention::Paper, pad);
    const HostMatrix ginf = contraction_operator(basis, p.L, p.M, p.tau, lambda, pad);
    const Eigen::VectorXd ones = Eigen::VectorXd::Constant(p.L, c);
    Eigen::VectorXd b = g.transpose() * ones;
    check(0, psi_grid, b);
    for (int s = 1; s <= steps; ++s) {
      Eigen::VectorXd stacked(p.M + p.L);
      stacked << psi_s * b, ones;
      b = ginf.transpose() * stacked;
      check(s, psi_grid, b);
    }
  };
  const Preset sorting{BasisConfig::sorting(), 1024, 512, 0.75, 1.0};
  const Preset lm{BasisConfig::lm(), 512, 512, 0.5, 0.5};
  SECTION("padding off: flat up to the ridge bias") {
    for (auto [lambda, bound] : {std::pair{1.0, 2.5e-3}, std::pair{1e-4, 2e-5}})
      run(sorting, lambda, false, 20, [&, lambda = lambda, bound = bound](int s, const HostMatrix& pg, const Eigen::VectorXd& b) {
        const double dev = stats(pg, b, 0.02, 0.98).first;
        INFO("lambda " << lambda << ", contraction " << s << ": max relative deviation " << dev);
        CHECK(dev < bound);
      });
  }
  SECTION("padding on: sag at the ends, bounded deviation, mean kept") {
    const ContinuousBasis basis(BasisConfig::sorting());
    const Eigen::VectorXd x = Eigen::VectorXd::Constant(1024, c);
    const Eigen::VectorXd b0 = fit_operator(basis, 1024, 1.0, PositionConvention::Paper, true).transpose() * x;
    CHECK(signal_at(basis, b0, 0.0) / c == Approx(0.450).margin(0.005));
    CHECK(signal_at(basis, b0, 1.0) / c == Approx(0.546).margin(0.005));
    const Eigen::VectorXd bc = fit_operator(basis, 1024, 1.0, PositionConvention::CellCentre, true).transpose() * x;
    CHECK(signal_at(basis, bc, 0.0) / c == Approx(0.498).margin(0.005));
    CHECK(signal_at(basis, bc, 1.0) / c == Approx(0.498).margin(0.005));
    for (auto [preset, expected] : {std::pair{sorting, 0.0329}, std::pair{lm, 0.106}})
      run(preset, preset.lambda, true, 20, [&, expected = expected](int s, const HostMatrix& pg, const Eigen::VectorXd& b) {
        const auto [dev, mean] = stats(pg, b, 0.05, 0.95);
        INFO("contraction " << s << ": max deviation " << dev << ", mean " << mean);
        if (s == 5 || s == 20) CHECK(dev == Approx(expected).margin(0.002));
        CHECK(std::abs(mean - 1.0) < 0.005);
      });
  }
}
