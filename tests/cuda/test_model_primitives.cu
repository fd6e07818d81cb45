// The model primitives of BackendTraits<Cuda> (the ∞-former's Gaussian expectation, density
// parameters and sigmoid gate; Memformer's fused slot-attention writer) against BackendTraits<Cpu>
// in double on the same (rounded-to-T) inputs, for float, double, __half and __nv_bfloat16; the
// writer's backward twice, bitwise; and the compile-time parity of the two backends' primitive
// sets (backend/primitive_set.hpp) for every CUDA element type.
#include "support/cuda_testing.cuh"

#include <cmath>
#include <cstdint>
#include <vector>

#include "mnemo/backend/primitive_set.hpp"

using namespace mnemo;
using namespace mnemo::test;

static_assert(BackendPrimitives<BackendTraits<Cuda>, float>);
static_assert(BackendPrimitives<BackendTraits<Cuda>, double>);
static_assert(BackendPrimitives<BackendTraits<Cuda>, __half>);
static_assert(BackendPrimitives<BackendTraits<Cuda>, __nv_bfloat16>);
static_assert(BackendPrimitives<BackendTraits<Cpu>, float>);
static_assert(BackendPrimitives<BackendTraits<Cpu>, double>);

namespace {

/// Values in [lo, hi) (uniform map of a random tensor in [-1, 1)).
TensorD uniform(const Shape& shape, uint64_t seed, double lo, double hi) {
  TensorD x = random_tensor(shape, seed);
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = lo + (hi - lo) * 0.5 * (x[i] + 1.0);
  return x;
}

}  // namespace

TEMPLATE_TEST_CASE("Gaussian expectation forward and backward (one row per query, long basis rows)",
                   "[cuda][infinite_former]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  for (int64_t basis : {int64_t{1}, int64_t{37}, int64_t{1500}}) {
    const int64_t n = 45;
    INFO("basis=" << basis << " " << type_name<T>());
    const TensorD mu = quantize<C>(uniform({n}, 1, 0.0, 1.0)), s2 = quantize<C>(uniform({n}, 2, 1e-3, 0.05));
    const TensorD centres = quantize<C>(uniform({basis}, 3, 0.0, 1.0));
    const TensorD widths = quantize<C>(uniform({basis}, 4, 1e-4, 0.02));
    TensorD r({n, basis});
    CpuTraits::gaussian_expectation_forward<double>(cpu_ctx(), mu.data(), s2.data(), centres.data(), widths.data(),
                                                    r.data(), n, basis);
    auto d_mu = upload<C>(mu), d_s2 = upload<C>(s2), d_c = upload<C>(centres), d_w = upload<C>(widths);
    Tensor<T, Cuda> d_r(Shape{n, basis});
    CudaTraits::gaussian_expectation_forward<T>(gpu_ctx(), d_mu.data(), d_s2.data(), d_c.data(), d_w.data(),
                                                d_r.data(), n, basis);
    check_close("gaussian_expectation_forward", download(d_r), r, tolerance<T>());

    const TensorD dr = quantize<T>(random_tensor({n, basis}, 5));
    TensorD dmu({n}), ds2({n});
    CpuTraits::gaussian_expectation_backward<double>(cpu_ctx(), mu.data(), s2.data(), centres.data(), widths.data(),
                                                     dr.data(), dmu.data(), ds2.data(), n, basis);
    auto d_dr = upload<T>(dr);
    Tensor<C, Cuda> d_dmu(Shape{n}), d_ds2(Shape{n});
    CudaTraits::gaussian_expectation_backward<T>(gpu_ctx(), d_mu.data(), d_s2.data(), d_c.data(), d_w.data(),
                                                 d_dr.data(), d_dmu.data(), d_ds2.data(), n, basis);
    // compute_t<T> outputs: fp32 accuracy for every 32-bit-compute type.
    const double tol = std::is_same_v<T, double> ? 1e-10 : 1e-5;
    check_close("gaussian_expectation_backward dmu", download(d_dmu), dmu, tol);
    check_close("gaussian_expectation_backward dsigma2", download(d_ds2), ds2, tol);
  }
}

TEMPLATE_TEST_CASE("fused continuous read forward and backward against the CPU rule in double; bitwise reruns",
                   "[cuda][infinite_former][fused]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  // basis 64 / head_dim 16: warp groups; basis 1500: block groups (launch_rows' switch).
  for (const int64_t basis : {int64_t{64}, int64_t{1500}}) {
    const ContinuousReadDims dims{3 * 2 * 7, 7, basis, 16};  // 3 rows × 2 heads × 7 queries
    const int64_t n = dims.queries, blocks = n / dims.per_block;
    INFO("basis=" << basis << " " << type_name<T>());
    const TensorD a = quantize<T>(uniform({n}, 21, -3.0, 3.0)), b = quantize<T>(uniform({n}, 22, -8.0, 2.0));
    const TensorD centres = quantize<C>(uniform({basis}, 23, 0.0, 1.0));
    const TensorD widths = quantize<C>(uniform({basis}, 24, 1e-4, 0.02));
    const TensorD v = quantize<T>(random_tensor({blocks, basis, dims.head_dim}, 25));
    const double eps = 1e-4, s0 = 0.25, kappa = 0.2;
    TensorD mu({n}), s2({n}), kl({n}), r({n, basis}), c({n, dims.head_dim});
    CpuTraits::continuous_read_forward<double>(cpu_ctx(), a.data(), b.data(), centres.data(), widths.data(), v.data(),
                                               mu.data(), s2.data(), kl.data(), r.data(), c.data(), dims, eps, s0);
    auto d_a = upload<T>(a), d_b = upload<T>(b), d_v = upload<T>(v);
    auto d_c = upload<C>(centres), d_w = upload<C>(widths);
    Tensor<C, Cuda> d_mu(Shape{n}), d_s2(Shape{n}), d_kl(Shape{n});
    Tensor<T, Cuda> d_r(Shape{n, basis}), d_ctx(Shape{n, dims.head_dim});
    auto forward = [&] {
      CudaTraits::continuous_read_forward<T>(gpu_ctx(), d_a.data(), d_b.data(), d_c.data(), d_w.data(), d_v.data(),
                                             d_mu.data(), d_s2.data(), d_kl.data(), d_r.data(), d_ctx.data(), dims, C(eps),
                                             C(s0));
    };
    forward();
    const double tol = std::is_same_v<T, double> ? 1e-10 : (sizeof(T) == 2 ? 1e-2 : 1e-5);
    check_close("mu", download(d_mu), mu, tol);
    check_close("sigma2", download(d_s2), s2, tol);
    check_close("kl", download(d_kl), kl, tol);
    check_close("r", download(d_r), r, tol);
    check_close("context", download(d_ctx), c, tol);
    const auto first = bytes_of(d_ctx);
    forward();
    CHECK(bytes_of(d_ctx) == first);

    const TensorD dc = quantize<T>(random_tensor({n, dims.head_dim}, 26));
    TensorD da({n}), db({n});
    CpuTraits::continuous_read_backward<double>(cpu_ctx(), b.data(), mu.data(), s2.data(), centres.data(), widths.data(),
                                                v.data(), dc.data(), da.data(), db.data(), dims, eps, s0, kappa);
    auto d_dc = upload<T>(dc);
    Tensor<T, Cuda> d_da(Shape{n}), d_db(Shape{n});
    auto backward = [&] {
      CudaTraits::continuous_read_backward<T>(gpu_ctx(), d_b.data(), d_mu.data(), d_s2.data(), d_c.data(), d_w.data(),
                                              d_v.data(), d_dc.data(), d_da.data(), d_db.data(), dims, C(eps), C(s0),
                                              C(kappa));
    };
    backward();
    check_close("da", download(d_da), da, tol);
    check_close("db", download(d_db), db, tol);
    const auto first_db = bytes_of(d_db);
    backward();
    CHECK(bytes_of(d_db) == first_db);
  }
}

TEMPLATE_TEST_CASE("density parameters forward (with and without KL) and backward, clamp and softplus threshold",
                   "[cuda][infinite_former]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  const int64_t n = 1003;
  TensorD a = quantize<T>(uniform({n}, 11, -6.0, 6.0)), b = quantize<T>(uniform({n}, 12, -12.0, 25.0));
  b[0] = -30.0;  // softplus below eps: clamped, db = 0
  b[1] = 21.0;   // above the threshold: softplus(b) = b
  const double eps = 1e-6, sigma0_sq = 0.25, kl_weight = 0.3;
  TensorD mu({n}), s2({n}), kl({n});
  CpuTraits::density_parameters_forward<double>(cpu_ctx(), a.data(), b.data(), mu.data(), s2.data(), kl.data(), n, eps,
                                                sigma0_sq);
  auto d_a = upload<T>(a), d_b = upload<T>(b);
  Tensor<C, Cuda> d_mu(Shape{n}), d_s2(Shape{n}), d_kl(Shape{n});
  CudaTraits::density_parameters_forward<T>(gpu_ctx(), d_a.data(), d_b.data(), d_mu.data(), d_s2.data(), d_kl.data(),
                                            n, C(eps), C(sigma0_sq));
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-6;
  check_close("mu", download(d_mu), mu, tol);
  check_close("sigma2", download(d_s2), s2, tol);
  check_close("kl", download(d_kl), kl, tol);
  CudaTraits::density_parameters_forward<T>(gpu_ctx(), d_a.data(), d_b.data(), d_mu.data(), d_s2.data(), nullptr, n,
                                            C(eps), C(sigma0_sq));
  check_close("sigma2 without kl", download(d_s2), s2, tol);

  const TensorD dmu = quantize<C>(random_tensor({n}, 13)), ds2 = quantize<C>(random_tensor({n}, 14));
  TensorD da({n}), db({n});
  CpuTraits::density_parameters_backward<double>(cpu_ctx(), b.data(), mu.data(), s2.data(), dmu.data(), ds2.data(),
                                                 da.data(), db.data(), n, eps, sigma0_sq, kl_weight);
  REQUIRE(db[0] == 0.0);
  auto d_dmu = upload<C>(dmu), d_ds2 = upload<C>(ds2);
  Tensor<T, Cuda> d_da(Shape{n}), d_db(Shape{n});
  CudaTraits::density_parameters_backward<T>(gpu_ctx(), d_b.data(), d_mu.data(), d_s2.data(), d_dmu.data(),
                                             d_ds2.data(), d_da.data(), d_db.data(), n, C(eps), C(sigma0_sq),
                                             C(kl_weight));
  check_close("da", download(d_da), da, tolerance<T>());
  const TensorD db_gpu = download(d_db);
  check_close("db", db_gpu, db, tolerance<T>());
  CHECK(db_gpu[0] == 0.0);
}

TEMPLATE_TEST_CASE("sigmoid gate forward and backward", "[cuda][infinite_former]", float, double, __half,
                   __nv_bfloat16) {
  using T = TestType;
  const int64_t n = 70001;
  const TensorD x = quantize<T>(random_tensor({n}, 21, 2.0)), z = quantize<T>(random_tensor({n}, 22, 8.0));
  const TensorD dy = quantize<T>(random_tensor({n}, 23));
  TensorD y({n}), dz({n});
  CpuTraits::sigmoid_gate_forward<double>(cpu_ctx(), n, x.data(), z.data(), y.data());
  CpuTraits::sigmoid_gate_backward<double>(cpu_ctx(), n, x.data(), z.data(), dy.data(), dz.data());
  auto d_x = upload<T>(x), d_z = upload<T>(z), d_dy = upload<T>(dy);
  Tensor<T, Cuda> d_y(Shape{n}), d_dz(Shape{n});
  CudaTraits::sigmoid_gate_forward<T>(gpu_ctx(), n, d_x.data(), d_z.data(), d_y.data());
  CudaTraits::sigmoid_gate_backward<T>(gpu_ctx(), n, d_x.data(), d_z.data(), d_dy.data(), d_dz.data());
  check_close("sigmoid_gate_forward", download(d_y), y, tolerance<T>());
  check_close("sigmoid_gate_backward", download(d_dz), dz, tolerance<T>());
}

TEMPLATE_TEST_CASE("Memformer writer forward and backward: padding, no tokens, long rows; bitwise reruns",
                   "[cuda][memformer]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  struct Case {
    MemformerWriterDims dims;
    bool padded;
  };
  // Warp-per-row (1 + L <= 1024) and block-per-row (1 + L > 1024) paths, L = 0, odd extents.
  const std::vector<Case> cases = {{{2, 5, 7, 3, 4}, true}, {{1, 3, 0, 2, 5}, false}, {{2, 4, 1100, 2, 3}, true}};
  for (const Case& cs : cases) {
    const MemformerWriterDims& d = cs.dims;
    const int64_t W = d.width(), P = d.prob_cols();
    INFO("batch=" << d.batch << " slots=" << d.slots << " tokens=" << d.tokens << " heads=" << d.heads
                  << " head_dim=" << d.head_dim << " " << type_name<T>());
    const Shape slot_shape{d.batch, d.slots, W}, token_shape{d.batch, d.tokens, W};
    const TensorD q = quantize<T>(random_tensor(slot_shape, 31)), ks = quantize<T>(random_tensor(slot_shape, 32));
    const TensorD kt = quantize<T>(random_tensor(token_shape, 33)), vt = quantize<T>(random_tensor(token_shape, 34));
    const TensorD m = quantize<T>(random_tensor(slot_shape, 35)), g = quantize<T>(random_tensor(slot_shape, 36));
    Tensor<uint8_t, Cpu> pad({d.batch, d.tokens > 0 ? d.tokens : 1});
    for (int64_t i = 0; i < pad.numel(); ++i) pad[i] = cs.padded && (i % 3 == 1) ? 1 : 0;
    const uint8_t* pad_cpu = cs.padded ? pad.data() : nullptr;
    const double scale = 0.7;

    TensorD probs({d.batch, d.heads, d.slots, P}), out(slot_shape);
    CpuTraits::memformer_writer_forward<double>(cpu_ctx(), q.data(), ks.data(), kt.data(), vt.data(), m.data(),
                                                pad_cpu, probs.data(), out.data(), d, scale);
    TensorD dq(slot_shape), dks(slot_shape), dkt(token_shape), dvt(token_shape), dm(slot_shape);
    CpuTraits::memformer_writer_backward<double>(cpu_ctx(), q.data(), ks.data(), kt.data(), vt.data(), m.data(),
                                                 probs.data(), g.data(), dq.data(), dks.data(), dkt.data(),
                                                 dvt.data(), dm.data(), d, scale);

    auto d_q = upload<T>(q), d_ks = upload<T>(ks), d_kt = upload<T>(kt), d_vt = upload<T>(vt), d_m = upload<T>(m);
    auto d_g = upload<T>(g);
    auto d_pad = upload_exact(pad);
    const uint8_t* pad_gpu = cs.padded ? d_pad.data() : nullptr;
    Tensor<T, Cuda> d_probs(probs.shape()), d_out(slot_shape);
    CudaTraits::memformer_writer_forward<T>(gpu_ctx(), d_q.data(), d_ks.data(), d_kt.data(), d_vt.data(), d_m.data(),
                                            pad_gpu, d_probs.data(), d_out.data(), d, C(scale));
    check_close("writer probabilities", download(d_probs), probs, tolerance<T>());
    check_close("writer m_out", download(d_out), out, tolerance<T>());

    Tensor<T, Cuda> d_dq(slot_shape), d_dks(slot_shape), d_dkt(token_shape), d_dvt(token_shape), d_dm(slot_shape);
    auto backward = [&] {
      CudaTraits::memformer_writer_backward<T>(gpu_ctx(), d_q.data(), d_ks.data(), d_kt.data(), d_vt.data(),
                                               d_m.data(), d_probs.data(), d_g.data(), d_dq.data(), d_dks.data(),
                                               d_dkt.data(), d_dvt.data(), d_dm.data(), d, C(scale));
    };
    backward();
    // The CPU reference ran on the double probabilities; the GPU's are rounded to T first,
    // hence the layer tolerance for the 16-bit types.
    check_close("writer dq", download(d_dq), dq, layer_tolerance<T>());
    check_close("writer dk_self", download(d_dks), dks, layer_tolerance<T>());
    check_close("writer dm", download(d_dm), dm, layer_tolerance<T>());
    if (d.tokens > 0) {
      check_close("writer dk_tok", download(d_dkt), dkt, layer_tolerance<T>());
      check_close("writer dv_tok", download(d_dvt), dvt, layer_tolerance<T>());
    }
    const auto first = bytes_of(d_dq), first_kt = bytes_of(d_dkt);
    backward();
    CHECK(bytes_of(d_dq) == first);
    CHECK(bytes_of(d_dkt) == first_kt);
  }
}
