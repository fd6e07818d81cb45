// ∞-former primitives of BackendTraits<Cpu>: the Gaussian expectation against the spec's vectors
// (infinite_former.md §13.1) and adaptive quadrature (§14 item 1), its backward against finite
// differences, the μ/σ² maps and KL (§13.2), the write gate, and float against double.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "mnemo/backend/cpu/conv3_winograd.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
using BT = BackendTraits<Cpu>;

namespace {

Context<Cpu>& ctx() { return BT::default_context(); }

/// Inputs of the Gaussian expectation: n query densities (μ over [−0.1, 1.1), σ² from 1e-4 to 1)
/// and a basis of `basis` functions interleaving the given widths as the ∞-former's does
/// (memory/continuous_basis.hpp: function j has width widths[j mod W] and centre (j / W) / (basis / W − 1)).
template <class T>
struct ExpectationInputs {
  std::vector<T> mu, s2, centres, widths_sq;
};
template <class T>
ExpectationInputs<T> expectation_inputs(int64_t n, int64_t basis, const std::vector<double>& widths) {
  const auto W = static_cast<int64_t>(widths.size());
  ExpectationInputs<T> in{std::vector<T>(size_t(n)), std::vector<T>(size_t(n)), std::vector<T>(size_t(basis)),
                          std::vector<T>(size_t(basis))};
  for (int64_t i = 0; i < n; ++i) {
    in.mu[size_t(i)] = static_cast<T>(1.2 * static_cast<double>(i) / static_cast<double>(n) - 0.1);
    in.s2[size_t(i)] = static_cast<T>(std::pow(10.0, -4.0 + 4.0 * static_cast<double>(i % 9) / 8.0));
  }
  for (int64_t j = 0; j < basis; ++j) {
    in.centres[size_t(j)] = static_cast<T>(static_cast<double>(j / W) / static_cast<double>(basis / W - 1));
    in.widths_sq[size_t(j)] = static_cast<T>(widths[size_t(j % W)] * widths[size_t(j % W)]);
  }
  return in;
}

/// r for one query and one basis function through the primitive.
double expectation(double mu, double sigma2, double centre, double width) {
  const double w2 = width * width;
  double r = 0;
  BT::gaussian_expectation_forward<double>(ctx(), &mu, &sigma2, &centre, &w2, &r, 1, 1);
  return r;
}

/// (∂r/∂μ, ∂r/∂σ²) for one query and one basis function: the backward with dr = 1.
std::pair<double, double> expectation_derivatives(double mu, double sigma2, double centre, double width) {
  const double w2 = width * width, dr = 1.0;
  double dmu = 0, ds = 0;
  BT::gaussian_expectation_backward<double>(ctx(), &mu, &sigma2, &centre, &w2, &dr, &dmu, &ds, 1, 1);
  return {dmu, ds};
}

/// 15-point Gauss–Kronrod rule on [a, b]: (Kronrod estimate, |Kronrod − Gauss| error estimate).
std::pair<double, double> gauss_kronrod15(const std::function<double(double)>& f, double a, double b) {
  static const double xk[8] = {0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                               0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                               0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                               0.207784955007898467600689403773245, 0.000000000000000000000000000000000};
  static const double wk[8] = {0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                               0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                               0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                               0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
  static const double wg[4] = {0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                               0.381830050505118944950369775488975, 0.417959183673469387755102040816327};
  const double c = 0.5 * (a + b), h = 0.5 * (b - a);
  double k = wk[7] * f(c), g = wg[3] * f(c);
  for (int i = 0; i < 7; ++i) {
    const double s = f(c - h * xk[i]) + f(c + h * xk[i]);
    k += wk[i] * s;
    if (i % 2 == 1) g += wg[i / 2] * s;
  }
  return {k * h, std::abs((k - g) * h)};
}

double adaptive_integral(const std::function<double(double)>& f, double a, double b, double tol, int depth = 0) {
  const auto [value, err] = gauss_kronrod15(f, a, b);
  if (err <= tol || depth >= 12) return value;
  const double m = 0.5 * (a + b);
  return adaptive_integral(f, a, m, 0.5 * tol, depth + 1) + adaptive_integral(f, m, b, 0.5 * tol, depth + 1);
}

/// ∫ N(t; μ, σ²) ψ(t) dt by adaptive quadrature over the overlap of both ±40-sd supports, cut
/// into panels no wider than the narrower factor; the integrand is evaluated in the log domain.
double quadrature_expectation(double mu, double sigma2, double centre, double width) {
  const double sd = std::sqrt(sigma2);
  const double lo = std::max(mu - 40 * sd, centre - 40 * width), hi = std::min(mu + 40 * sd, centre + 40 * width);
  if (lo >= hi) return 0.0;
  auto f = [&](double t) {
    const double e = -0.5 * (t - mu) * (t - mu) / sigma2 - 0.5 * (t - centre) * (t - centre) / (width * width);
    return std::exp(e) / (2 * M_PI * sd * width);
  };
  const int panels = static_cast<int>(std::ceil((hi - lo) / std::min(sd, width)));
  auto edge = [&](int p) { return lo + (hi - lo) * p / panels; };
  double estimate = 0;
  for (int p = 0; p < panels; ++p) estimate += gauss_kronrod15(f, edge(p), edge(p + 1)).first;
  double total = 0;
  for (int p = 0; p < panels; ++p) total += adaptive_integral(f, edge(p), edge(p + 1), 1e-13 * estimate / panels);
  return total;
}

}  // namespace

TEST_CASE("Gaussian expectation matches spec 13.1 (r and derivatives)", "[infformer][kernels]") {
  struct Row { double mu, sigma2, centre, width, r, dmu, ds; };
  const Row rows[] = {
      {0.37, 0.003, 0.41, 0.01, 5.535453712865, 71.42520919826, -432.0073136992},
      {0.5, 0.01, 0.5, 0.05, 3.568248232306, 0, -142.7299292922},
      {0.1, 1e-4, 0.12, 0.005, 7.204168934431, 1152.667029509, 63396.68662299},
      {0.5, std::log(2.0), 0, 0.01, 0.4000902752493, -0.2885624972366, -0.1845005892590},
      {0.9, 0.0025, 0.95, 0.05, 4.393912894677, 43.93912894677, -219.6956447339},
      {0.37, 1e-8, 0.41, 0.01, 0.01339306257048, 5.356689359256, 1004.272131786},
  };
  for (const Row& row : rows) {
    INFO("mu " << row.mu << ", sigma2 " << row.sigma2 << ", centre " << row.centre << ", width " << row.width);
    CHECK(expectation(row.mu, row.sigma2, row.centre, row.width) == Approx(row.r).epsilon(1e-11));
    const auto [dmu, ds] = expectation_derivatives(row.mu, row.sigma2, row.centre, row.width);
    CHECK(dmu == Approx(row.dmu).epsilon(1e-11).margin(1e-12));
    CHECK(ds == Approx(row.ds).epsilon(1e-11));
  }
  // σ² → 0 (§14 item 2): r_j → ψ_j(μ) with error ≈ |∂r/∂σ²|·σ².
  const double point = 0.01338302257649;
  const double r = expectation(0.37, 1e-8, 0.41, 0.01);
  CHECK(r - point == Approx(1.004e-5).epsilon(1e-3));
  CHECK(std::abs(r - point) == Approx(1004.272131786 * 1e-8).epsilon(1e-3));
  CHECK(std::abs(expectation(0.37, 1e-14, 0.41, 0.01) - point) < 2e-11);
}

TEST_CASE("Gaussian expectation equals adaptive quadrature to 1e-9 (property 1)", "[infformer][kernels]") {
  const double widths[] = {0.005, 0.01, 0.05};
  const double centres[] = {0.0, 0.3, 0.5, 1.0};
  int compared = 0;
  double worst = 0;
  for (int im = 0; im <= 14; ++im) {
    const double mu = -0.2 + 1.4 * im / 14.0;
    for (int is = 0; is <= 8; ++is) {
      const double sigma2 = std::pow(10.0, -4.0 + 0.5 * is);  // 1e-4 .. 1
      for (double w : widths)
        for (double c : centres) {
          const double r = expectation(mu, sigma2, c, w);
          const double q = quadrature_expectation(mu, sigma2, c, w);
          if (r < 1e-250) {  // both underflow (the densities are > 40 sd apart)
            CHECK(q < 1e-240);
            continue;
          }
          ++compared;
          worst = std::max(worst, std::abs(q - r) / r);
          INFO("mu " << mu << ", sigma2 " << sigma2 << ", centre " << c << ", width " << w << ": r " << r << ", quadrature " << q);
          CHECK(std::abs(q - r) <= 1e-9 * r);
        }
    }
  }
  INFO("compared " << compared << " cases, worst relative difference " << worst);
  CHECK(compared > 1000);
}

TEST_CASE("Gaussian expectation backward matches finite differences", "[infformer][kernels][gradcheck]") {
  const int64_t n = 7, basis = 12;
  std::vector<double> mu(n), s2(n), centres(basis), w2(basis), dr(static_cast<size_t>(n * basis));
  const auto noise = random_tensor({n * basis + 2 * n}, 3);
  for (int64_t i = 0; i < n; ++i) {
    mu[static_cast<size_t>(i)] = -0.1 + 1.2 * static_cast<double>(i) / static_cast<double>(n - 1);
    s2[static_cast<size_t>(i)] = 1e-3 * std::exp(2.0 * noise[n * basis + i]);
  }
  for (int64_t j = 0; j < basis; ++j) {
    centres[static_cast<size_t>(j)] = static_cast<double>(j / 2) / 5.0;
    w2[static_cast<size_t>(j)] = j % 2 ? 0.05 * 0.05 : 0.02 * 0.02;
  }
  for (int64_t k = 0; k < n * basis; ++k) dr[static_cast<size_t>(k)] = noise[k];
  auto loss = [&](const std::vector<double>& m, const std::vector<double>& s) {
    std::vector<double> r(static_cast<size_t>(n * basis));
    BT::gaussian_expectation_forward<double>(ctx(), m.data(), s.data(), centres.data(), w2.data(), r.data(), n, basis);
    double l = 0;
    for (size_t k = 0; k < r.size(); ++k) l += r[k] * dr[k];
    return l;
  };
  std::vector<double> dmu(n), ds(n);
  BT::gaussian_expectation_backward<double>(ctx(), mu.data(), s2.data(), centres.data(), w2.data(), dr.data(), dmu.data(), ds.data(), n, basis);
  TensorD a_mu({n}), a_s({n}), n_mu({n}), n_s({n});
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<size_t>(i);
    a_mu[i] = dmu[k];
    a_s[i] = ds[k];
    const double hm = 1e-6, hs = 1e-6 * s2[k];
    auto mp = mu, mm = mu, sp = s2, sm = s2;
    mp[k] += hm;
    mm[k] -= hm;
    sp[k] += hs;
    sm[k] -= hs;
    n_mu[i] = (loss(mp, s2) - loss(mm, s2)) / (2 * hm);
    n_s[i] = (loss(mu, sp) - loss(mu, sm)) / (2 * hs);
  }
  CHECK(rel_error(a_mu, n_mu) < 1e-6);
  CHECK(rel_error(a_s, n_s) < 1e-6);
}

TEST_CASE("Gaussian expectation in float agrees with double", "[infformer][kernels][precision]") {
  // basis 512: whole 16-lane registers; 100 = 6·16 + 4: the last 4 functions of each query on the
  // dynamic-size tail.
  for (const int64_t basis : {int64_t{512}, int64_t{100}}) {
  INFO("basis " << basis);
  const int64_t n = 64;
  const auto [mu, s2, centres, w2] = expectation_inputs<double>(n, basis, {0.01, 0.05});
  const auto dr = random_tensor({n, basis}, 5);
  const auto drf = convert<float>(dr);
  auto f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const auto muf = f(mu), s2f = f(s2), cf = f(centres), w2f = f(w2);
  TensorD r({n, basis});
  Tensor<float, Cpu> rf({n, basis});
  BT::gaussian_expectation_forward<double>(ctx(), mu.data(), s2.data(), centres.data(), w2.data(), r.data(), n, basis);
  BT::gaussian_expectation_forward<float>(ctx(), muf.data(), s2f.data(), cf.data(), w2f.data(), rf.data(), n, basis);
  CHECK(rel_error(rf, r) < 1e-5);
  TensorD dmu({n}), ds({n});
  Tensor<float, Cpu> dmuf({n}), dsf({n});
  BT::gaussian_expectation_backward<double>(ctx(), mu.data(), s2.data(), centres.data(), w2.data(), dr.data(), dmu.data(), ds.data(), n, basis);
  BT::gaussian_expectation_backward<float>(ctx(), muf.data(), s2f.data(), cf.data(), w2f.data(), drf.data(), dmuf.data(), dsf.data(), n, basis);
  CHECK(rel_error(dmuf, dmu) < 1e-4);
  CHECK(rel_error(dsf, ds) < 1e-4);
  }
}

TEST_CASE("Gaussian expectation: widths repeating per register give the bits of the per-entry inverses",
          "[infformer][kernels][precision]") {
  // Squared widths with period 2 or 4 (dividing the 16 lanes) take 1/v and sqrt(1/v) once per
  // query; changing the last function's width breaks the period, so the same call runs every
  // entry's own division and square root. Every other entry must come out bit for bit the same,
  // and so must the backward's sums with that function's dr set to zero.
  for (const int64_t period : {int64_t{2}, int64_t{4}}) {
    for (const int64_t basis : {int64_t{512}, int64_t{100}}) {
      INFO("period " << period << ", basis " << basis);
      const int64_t n = 37;
      std::vector<double> widths;
      for (int64_t w = 0; w < period; ++w) widths.push_back(0.005 * static_cast<double>(1 + w));
      const auto [mu, s2, centres, w2] = expectation_inputs<float>(n, basis, widths);
      auto w2_broken = w2;
      w2_broken.back() = 0.0123f;
      Tensor<float, Cpu> dr = random_tensor<float>({n, basis}, 9);
      for (int64_t i = 0; i < n; ++i) dr[i * basis + basis - 1] = 0.0f;
      Tensor<float, Cpu> r({n, basis}), r_entry({n, basis}), dmu({n}), ds({n}), dmu_entry({n}), ds_entry({n});
      BT::gaussian_expectation_forward<float>(ctx(), mu.data(), s2.data(), centres.data(), w2.data(), r.data(), n, basis);
      BT::gaussian_expectation_forward<float>(ctx(), mu.data(), s2.data(), centres.data(), w2_broken.data(),
                                              r_entry.data(), n, basis);
      int64_t differing = 0, last_column_differing = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < basis; ++j) {
          const bool same = r[i * basis + j] == r_entry[i * basis + j];
          if (j + 1 < basis) differing += same ? 0 : 1;
          else last_column_differing += same ? 0 : 1;
        }
      CHECK(differing == 0);
      CHECK(last_column_differing == n);  // the broken width does reach the kernel
      BT::gaussian_expectation_backward<float>(ctx(), mu.data(), s2.data(), centres.data(), w2.data(), dr.data(),
                                               dmu.data(), ds.data(), n, basis);
      BT::gaussian_expectation_backward<float>(ctx(), mu.data(), s2.data(), centres.data(), w2_broken.data(),
                                               dr.data(), dmu_entry.data(), ds_entry.data(), n, basis);
      for (int64_t i = 0; i < n; ++i) {
        CHECK(dmu[i] == dmu_entry[i]);
        CHECK(ds[i] == ds_entry[i]);
      }
    }
  }
}

TEST_CASE("density maps and KL match spec 13.2", "[infformer][kernels]") {
  const double sigma0_sq = 0.05 * 0.05, eps = 1e-6;
  // Scores b with softplus(b) = the σ² of the spec's rows; b = 0 gives σ² = ln 2.
  auto inverse_softplus = [](double s2) { return std::log(std::expm1(s2)); };
  const std::vector<double> s2_targets = {0.0025, 0.01, 1e-4, std::log(2.0)};
  std::vector<double> a = {0.3, 0.3, 0.3, 0.3}, b;
  for (double s2 : s2_targets) b.push_back(inverse_softplus(s2));
  b[3] = 0.0;
  std::vector<double> mu(4), s2(4), kl(4);
  BT::density_parameters_forward<double>(ctx(), a.data(), b.data(), mu.data(), s2.data(), kl.data(), 4, eps, sigma0_sq);
  CHECK(mu[0] == Approx(0.574442516812).epsilon(1e-11));
  for (int i = 0; i < 4; ++i) CHECK(s2[static_cast<size_t>(i)] == Approx(s2_targets[static_cast<size_t>(i)]).epsilon(1e-9));
  CHECK(std::abs(kl[0]) < 1e-9);
  CHECK(kl[1] == Approx(0.806852819440).epsilon(1e-9));
  CHECK(kl[2] == Approx(1.129437912434).epsilon(1e-9));
  CHECK(kl[3] == Approx(135.316960299).epsilon(1e-10));
  // Backward: with dμ = 1, dσ² = 0 and κ = 0, da = dμ/da; with dμ = 0, dσ² = 0 and κ = 1, db =
  // dKL/dσ²·dσ²/db.
  const std::vector<double> one = {1, 1, 1, 1}, zero = {0, 0, 0, 0};
  std::vector<double> da(4), db(4);
  BT::density_parameters_backward<double>(ctx(), b.data(), mu.data(), s2.data(), one.data(), zero.data(), da.data(), db.data(), 4, eps, sigma0_sq, 0.0);
  CHECK(da[0] == Approx(0.244458311691).epsilon(1e-11));
  for (double v : db) CHECK(v == 0.0);
  BT::density_parameters_backward<double>(ctx(), b.data(), mu.data(), s2.data(), zero.data(), zero.data(), da.data(), db.data(), 4, eps, sigma0_sq, 1.0);
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  CHECK(std::abs(db[0]) < 1e-9);
  CHECK(db[1] == Approx(150.0 * sigmoid(b[1])).epsilon(1e-9));
  CHECK(db[2] == Approx(-4800.0 * sigmoid(b[2])).epsilon(1e-9));
  // b = −2: σ² = 0.126928011043, dσ²/db = 0.119202922022 (dσ² = 1, κ = 0).
  const double bm2 = -2.0, zero1 = 0.0, am = 0.0;
  double m1 = 0, v1 = 0, dav = 0, dbv = 0;
  BT::density_parameters_forward<double>(ctx(), &am, &bm2, &m1, &v1, nullptr, 1, eps, sigma0_sq);
  CHECK(v1 == Approx(0.126928011043).epsilon(1e-11));
  const double one1 = 1.0;
  BT::density_parameters_backward<double>(ctx(), &bm2, &m1, &v1, &zero1, &one1, &dav, &dbv, 1, eps, sigma0_sq, 0.0);
  CHECK(dbv == Approx(0.119202922022).epsilon(1e-11));
  // The ε clamp: σ² = ε and no gradient through b; above 20 softplus is the identity.
  const double very_negative = -30.0, large = 25.0;
  BT::density_parameters_forward<double>(ctx(), &am, &very_negative, &m1, &v1, nullptr, 1, 1e-4, sigma0_sq);
  CHECK(v1 == 1e-4);
  BT::density_parameters_backward<double>(ctx(), &very_negative, &m1, &v1, &zero1, &one1, &dav, &dbv, 1, 1e-4, sigma0_sq, 1.0);
  CHECK(dbv == 0.0);
  BT::density_parameters_forward<double>(ctx(), &am, &large, &m1, &v1, nullptr, 1, 1e-4, sigma0_sq);
  CHECK(v1 == 25.0);
}

TEST_CASE("sigmoid gate forward and backward", "[infformer][kernels][gradcheck]") {
  const int64_t n = 40;
  const auto x = random_tensor({n}, 1), z = random_tensor({n}, 2, 2.0), dy = random_tensor({n}, 3);
  TensorD y({n}), dz({n}), numeric({n});
  BT::sigmoid_gate_forward<double>(ctx(), n, x.data(), z.data(), y.data());
  for (int64_t i = 0; i < n; ++i) CHECK(y[i] == Approx(x[i] / (1 + std::exp(-z[i]))).epsilon(1e-14));
  BT::sigmoid_gate_backward<double>(ctx(), n, x.data(), z.data(), dy.data(), dz.data());
  for (int64_t i = 0; i < n; ++i) {
    const double h = 1e-6;
    auto g = [&](double zi) { return x[i] / (1 + std::exp(-zi)) * dy[i]; };
    numeric[i] = (g(z[i] + h) - g(z[i] - h)) / (2 * h);
  }
  CHECK(rel_error(dz, numeric) < 1e-6);
  // Float (Eigen's vectorised exp) against double, over more elements than one vector block.
  const int64_t nf = 3000;
  const auto xd = random_tensor({nf}, 4), zd = random_tensor({nf}, 5, 6.0), dyd = random_tensor({nf}, 6);
  const auto xf = convert<float>(xd), zf = convert<float>(zd), dyf = convert<float>(dyd);
  TensorD yd({nf}), dzd({nf});
  Tensor<float, Cpu> yf({nf}), dzf({nf});
  BT::sigmoid_gate_forward<double>(ctx(), nf, xd.data(), zd.data(), yd.data());
  BT::sigmoid_gate_forward<float>(ctx(), nf, xf.data(), zf.data(), yf.data());
  BT::sigmoid_gate_backward<double>(ctx(), nf, xd.data(), zd.data(), dyd.data(), dzd.data());
  BT::sigmoid_gate_backward<float>(ctx(), nf, xf.data(), zf.data(), dyf.data(), dzf.data());
  CHECK(rel_error(yf, yd) < 1e-6);
  CHECK(rel_error(dzf, dzd) < 1e-6);
}

namespace {

/// The kernel-3 convolution of x [batch, length, e] with taps w [3e, e] in double (zero padding).
TensorD direct_conv3(const TensorD& x, const TensorD& w, int64_t batch, int64_t length, int64_t e) {
  TensorD ref({batch, length, e});
  ref.zero();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < length; ++t)
      for (int64_t k = 0; k < 3; ++k) {
        const int64_t s = t + k - 1;
        if (s < 0 || s >= length) continue;
        for (int64_t i = 0; i < e; ++i)
          for (int64_t o = 0; o < e; ++o) ref.at({b, t, o}) += x.at({b, s, i}) * w.at({k * e + i, o});
      }
  return ref;
}

/// conv3_winograd's float path by one tile size against the double convolution: lengths 1..13
/// (the last tile of a row holds 1..outputs outputs) and several rows (tiles must not reach
/// across rows), without and with the bias fused into the output transform.
template <class Tile>
void check_winograd_tiles() {
  for (int64_t length = 1; length <= 13; ++length) {
    INFO("outputs per tile " << Tile::outputs << ", length " << length);
    const int64_t batch = 3, e = 37;
    const auto x = random_tensor({batch, length, e}, 10 + static_cast<uint64_t>(length));
    const auto w = random_tensor({3 * e, e}, 20 + static_cast<uint64_t>(length), 0.2);
    const TensorD ref = direct_conv3(x, w, batch, length, e);
    const auto xf = convert<float>(x), wf = convert<float>(w);
    Tensor<float, Cpu> z({batch, length, e}), scratch({cpu::detail::conv3_winograd_tile_scratch<Tile>(batch, length, e)});
    cpu::detail::conv3_winograd_tiles<Tile>(xf.data(), wf.data(), z.data(), batch, length, e, scratch.data(), nullptr);
    CHECK(rel_error(z, ref) < 2e-6);
    // With the bias fused into the output transform: the same sums plus bias[o].
    const auto bias = random_tensor({e}, 30 + static_cast<uint64_t>(length));
    const auto biasf = convert<float>(bias);
    TensorD ref_b({batch, length, e});
    for (int64_t i = 0; i < ref_b.numel(); ++i) ref_b[i] = ref[i] + bias[i % e];
    Tensor<float, Cpu> zb({batch, length, e});
    cpu::detail::conv3_winograd_tiles<Tile>(xf.data(), wf.data(), zb.data(), batch, length, e, scratch.data(), biasf.data());
    CHECK(rel_error(zb, ref_b) < 2e-6);
    for (int64_t i = 0; i < zb.numel(); ++i) REQUIRE(zb[i] == z[i] + biasf[i % e]);  // bitwise: the sum, then + bias
  }
}

}  // namespace

TEST_CASE("Winograd F(4,3) and F(6,3) gate convolutions equal the direct convolution", "[infformer][kernels][precision]") {
  check_winograd_tiles<cpu::detail::WinogradF43>();
  check_winograd_tiles<cpu::detail::WinogradF63>();
}

TEST_CASE("the float gate convolution takes F(6,3) where it needs fewer products than F(4,3)", "[infformer][kernels]") {
  // Products per row: 8 per tile of six outputs against 6 per tile of four, last tiles whole.
  CHECK(cpu::conv3_winograd_uses_f63(512));   // 688 against 768
  CHECK(cpu::conv3_winograd_uses_f63(64));    // 88 against 96
  CHECK(cpu::conv3_winograd_uses_f63(6));     // 8 against 12
  CHECK_FALSE(cpu::conv3_winograd_uses_f63(16));  // 24 against 24: the better-rounded F(4,3)
  CHECK_FALSE(cpu::conv3_winograd_uses_f63(8));   // 16 against 12
  CHECK_FALSE(cpu::conv3_winograd_uses_f63(1));   // 8 against 6
  // The dispatcher gives the chosen tile's bits, and its scratch size is that tile's.
  for (const int64_t length : {8, 11}) {
    INFO("length " << length);
    const int64_t batch = 2, e = 24;
    const auto xf = convert<float>(random_tensor({batch, length, e}, 40 + static_cast<uint64_t>(length)));
    const auto wf = convert<float>(random_tensor({3 * e, e}, 50 + static_cast<uint64_t>(length), 0.2));
    const int64_t size = cpu::conv3_winograd_scratch(batch, length, e);
    Tensor<float, Cpu> z({batch, length, e}), expect({batch, length, e}), scratch({size});
    cpu::conv3_winograd(xf.data(), wf.data(), z.data(), batch, length, e, scratch.data());
    if (cpu::conv3_winograd_uses_f63(length)) {
      CHECK(size == cpu::detail::conv3_winograd_tile_scratch<cpu::detail::WinogradF63>(batch, length, e));
      cpu::detail::conv3_winograd_tiles<cpu::detail::WinogradF63>(xf.data(), wf.data(), expect.data(), batch, length, e,
                                                                  scratch.data(), nullptr);
    } else {
      CHECK(size == cpu::detail::conv3_winograd_tile_scratch<cpu::detail::WinogradF43>(batch, length, e));
      cpu::detail::conv3_winograd_tiles<cpu::detail::WinogradF43>(xf.data(), wf.data(), expect.data(), batch, length, e,
                                                                  scratch.data(), nullptr);
    }
    for (int64_t i = 0; i < z.numel(); ++i) REQUIRE(z[i] == expect[i]);
  }
}

TEST_CASE("fused continuous read equals density -> expectation -> GEMM; backward matches finite differences",
          "[infformer][kernels][fused][gradcheck]") {
  // 2 value blocks of 3 queries each, N = 5 basis functions, d_h = 4.
  const ContinuousReadDims dims{6, 3, 5, 4};
  const int64_t n = dims.queries, N = dims.basis, dh = dims.head_dim, blocks = n / dims.per_block;
  const RngKey key{77, 1};
  auto uniform = [&](uint64_t i, double lo, double hi) { return lo + (hi - lo) * key.uniform_double(i); };
  std::vector<double> a(n), b(n), v(blocks * N * dh), centres(N), widths_sq(N), w(n * dh);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = uniform(i, -2, 2);
    b[i] = uniform(100 + i, -3, 1);
  }
  b[2] = -30.0;  // softplus below ε: σ² clamped, db = 0
  for (size_t i = 0; i < v.size(); ++i) v[i] = uniform(200 + i, -1, 1);
  for (int64_t j = 0; j < N; ++j) {
    centres[j] = (j + 0.5) / N;
    widths_sq[j] = 0.01 + 0.02 * j;
  }
  for (size_t i = 0; i < w.size(); ++i) w[i] = uniform(500 + i, -1, 1);
  const double eps = 1e-4, s0 = 0.25, kappa = 0.3;

  std::vector<double> mu(n), s2(n), kl(n), r(n * N), c(n * dh);
  BT::continuous_read_forward<double>(ctx(), a.data(), b.data(), centres.data(), widths_sq.data(), v.data(), mu.data(),
                                      s2.data(), kl.data(), r.data(), c.data(), dims, eps, s0);
  // The unfused chain of ContinuousMemory on the CPU.
  std::vector<double> mu2(n), s22(n), kl2(n), r2(n * N), c2(n * dh);
  BT::density_parameters_forward<double>(ctx(), a.data(), b.data(), mu2.data(), s22.data(), kl2.data(), n, eps, s0);
  BT::gaussian_expectation_forward<double>(ctx(), mu2.data(), s22.data(), centres.data(), widths_sq.data(), r2.data(), n, N);
  BT::gemm<double>(ctx(), Trans::N, Trans::N, dims.per_block, dh, N, 1.0, r2.data(), N, dims.per_block * N, v.data(), dh,
                   N * dh, 0.0, c2.data(), dh, dims.per_block * dh, blocks);
  CHECK(mu == mu2);
  CHECK(s22 == s2);
  CHECK(kl == kl2);
  CHECK(r == r2);
  for (size_t i = 0; i < c.size(); ++i) CHECK(c[i] == Approx(c2[i]).epsilon(1e-13).margin(1e-15));

  // L = Σ w ⊙ c + κ Σ KL: the backward from dc = w with kl_weight κ against central differences.
  std::vector<double> da(n), db(n);
  BT::continuous_read_backward<double>(ctx(), b.data(), mu.data(), s2.data(), centres.data(), widths_sq.data(), v.data(),
                                       w.data(), da.data(), db.data(), dims, eps, s0, kappa);
  auto loss = [&](const std::vector<double>& aa, const std::vector<double>& bb) {
    std::vector<double> m(n), s(n), k(n), rr(n * N), cc(n * dh);
    BT::continuous_read_forward<double>(ctx(), aa.data(), bb.data(), centres.data(), widths_sq.data(), v.data(), m.data(),
                                        s.data(), k.data(), rr.data(), cc.data(), dims, eps, s0);
    double total = 0;
    for (size_t i = 0; i < cc.size(); ++i) total += w[i] * cc[i];
    for (double x : k) total += kappa * x;
    return total;
  };
  const double h = 1e-6;
  for (int64_t i = 0; i < n; ++i) {
    INFO("query " << i);
    auto ap = a, am = a, bp = b, bm = b;
    ap[i] += h;
    am[i] -= h;
    bp[i] += h;
    bm[i] -= h;
    CHECK(da[i] == Approx((loss(ap, b) - loss(am, b)) / (2 * h)).epsilon(1e-6).margin(1e-9));
    CHECK(db[i] == Approx((loss(a, bp) - loss(a, bm)) / (2 * h)).epsilon(1e-6).margin(1e-9));
  }
  CHECK(db[2] == 0.0);
  // ... and equals the unfused backward (dr by GEMM, then expectation and density backward).
  std::vector<double> dr(n * N), dmu(n), ds2(n), da2(n), db2(n);
  BT::gemm<double>(ctx(), Trans::N, Trans::T, dims.per_block, N, dh, 1.0, w.data(), dh, dims.per_block * dh, v.data(), dh,
                   N * dh, 0.0, dr.data(), N, dims.per_block * N, blocks);
  BT::gaussian_expectation_backward<double>(ctx(), mu.data(), s2.data(), centres.data(), widths_sq.data(), dr.data(),
                                            dmu.data(), ds2.data(), n, N);
  BT::density_parameters_backward<double>(ctx(), b.data(), mu.data(), s2.data(), dmu.data(), ds2.data(), da2.data(),
                                          db2.data(), n, eps, s0, kappa);
  for (int64_t i = 0; i < n; ++i) {
    CHECK(da[i] == Approx(da2[i]).epsilon(1e-12).margin(1e-15));
    CHECK(db[i] == Approx(db2[i]).epsilon(1e-12).margin(1e-15));
  }
}
