// Every primitive of BackendTraits<Cuda>, for float, double, __half and __nv_bfloat16, against
// BackendTraits<Cpu> in double on the same (rounded-to-T) inputs: shapes that are not multiples
// of a block or a warp, one row, long rows (the block-per-row path), empty inputs, masks,
// accumulation into existing values, in-place calls.
#include "support/cuda_testing.cuh"

#include <cmath>
#include <limits>
#include <vector>

using namespace mnemo;
using namespace mnemo::test;

namespace {

/// Rows [batch, m, n] of a strided batch of row-major matrices (row stride ld, batch stride).
TensorD matrices(const TensorD& flat, int64_t batch, int64_t m, int64_t n, int64_t ld, int64_t stride) {
  TensorD out({batch, m, n});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) out[(b * m + i) * n + j] = flat[b * stride + i * ld + j];
  return out;
}

/// Random ids in [0, vocab) with some replaced by `special` (every `every`-th one).
Tensor<int32_t, Cpu> random_ids(int64_t n, int64_t vocab, uint64_t seed, int32_t special = 0, int64_t every = 0) {
  Tensor<int32_t, Cpu> ids({n});
  const RngKey key{seed, 0x1d5};
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
    if (every > 0 && i % every == every - 1) ids[i] = special;
  }
  return ids;
}

}  // namespace

TEMPLATE_TEST_CASE("gemm: every transpose combination, padded strides, beta, k = 0, shared operand",
                   "[cuda][gemm]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  const int64_t m = 5, n = 7, k = 9, batch = 3;
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T})
      for (double beta : {0.0, 0.5}) {
        INFO("ta=" << (ta == Trans::T) << " tb=" << (tb == Trans::T) << " beta=" << beta << " " << type_name<T>());
        const int64_t a_rows = ta == Trans::N ? m : k, a_cols = ta == Trans::N ? k : m, lda = a_cols + 2;
        const int64_t b_rows = tb == Trans::N ? k : n, b_cols = tb == Trans::N ? n : k, ldb = b_cols + 1;
        const int64_t ldc = n + 3, sa = a_rows * lda + 4, sb = b_rows * ldb, sc = m * ldc;
        const TensorD a = quantize<T>(random_tensor({batch * sa}, 1));
        const TensorD b = quantize<T>(random_tensor({batch * sb}, 2));
        const TensorD c0 = quantize<T>(random_tensor({batch * sc}, 3));
        TensorD ref = c0.clone();
        CpuTraits::gemm<double>(cpu_ctx(), ta, tb, m, n, k, 0.75, a.data(), lda, sa, b.data(), ldb, sb, beta,
                                ref.data(), ldc, sc, batch);
        auto da = upload<T>(a), db = upload<T>(b), dc = upload<T>(c0);
        if (beta == 0.0) dc.fill(mnemo::cuda::convert<T>(std::numeric_limits<float>::quiet_NaN()));  // never read
        CudaTraits::gemm<T>(gpu_ctx(), ta, tb, m, n, k, C(0.75), da.data(), lda, sa, db.data(), ldb, sb, C(beta),
                            dc.data(), ldc, sc, batch);
        check_close("gemm", matrices(download(dc), batch, m, n, ldc, sc), matrices(ref, batch, m, n, ldc, sc),
                    tolerance<T>());
      }

  SECTION("a larger product and a right operand shared by the batch (stride 0)") {
    const int64_t M = 70, N = 96, K = 200;
    const TensorD a = quantize<T>(random_tensor({2 * M * K}, 4)), b = quantize<T>(random_tensor({N * K}, 5));
    TensorD ref({2 * M * N});
    CpuTraits::gemm<double>(cpu_ctx(), Trans::N, Trans::T, M, N, K, 1.0, a.data(), K, M * K, b.data(), K, 0, 0.0,
                            ref.data(), N, M * N, 2);
    auto da = upload<T>(a), db = upload<T>(b);
    Tensor<T, Cuda> dc(Shape{2 * M * N});
    CudaTraits::gemm<T>(gpu_ctx(), Trans::N, Trans::T, M, N, K, C(1), da.data(), K, M * K, db.data(), K, 0, C(0),
                        dc.data(), N, M * N, 2);
    check_close("gemm 70x96x200, shared B", download(dc), ref, tolerance<T>());
  }
  SECTION("k = 0 scales C by beta; beta = 0 writes zeros") {
    const TensorD c0 = quantize<T>(random_tensor({2 * 3 * 4}, 6));
    for (double beta : {0.0, -1.5}) {
      TensorD ref = c0.clone();
      CpuTraits::gemm<double>(cpu_ctx(), Trans::N, Trans::N, 3, 4, 0, 1.0, nullptr, 1, 0, nullptr, 4, 0, beta,
                              ref.data(), 4, 12, 2);
      auto dc = upload<T>(c0);
      CudaTraits::gemm<T>(gpu_ctx(), Trans::N, Trans::N, 3, 4, 0, C(1), nullptr, 1, 0, nullptr, 4, 0, C(beta),
                          dc.data(), 4, 12, 2);
      check_close("gemm k = 0", download(dc), ref, tolerance<T>());
    }
  }
}

TEMPLATE_TEST_CASE("softmax forward: scale, causal with offset, key padding, ALiBi, fully masked rows, in place",
                   "[cuda][softmax]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  for (int64_t cols : {int64_t{7}, int64_t{45}, int64_t{1500}}) {
    INFO("cols=" << cols << " " << type_name<T>());
    const SoftmaxDims dims{2, 3, 5, cols};
    const TensorD x = quantize<T>(random_tensor({2, 3, 5, cols}, 10 + static_cast<uint64_t>(cols), 2.0));
    Tensor<uint8_t, Cpu> pad = Tensor<uint8_t, Cpu>::zeros({2, cols});
    pad[1] = 1;
    pad[cols - 1] = 1;
    for (int64_t c = 0; c < cols; ++c) pad[cols + c] = 1;  // batch row 1: every key is padding
    auto slopes = Tensor<float, Cpu>::from_host({3}, {0.5f, 0.25f, 0.125f});
    auto d_pad = upload_exact(pad);
    auto d_slopes = upload_exact(slopes);
    for (bool masked : {false, true}) {
      SoftmaxMask cpu_mask, gpu_mask;
      if (masked) {
        cpu_mask = {true, 2, pad.data(), slopes.data()};
        gpu_mask = {true, 2, d_pad.data(), d_slopes.data()};
      }
      TensorD ref(x.shape());
      CpuTraits::softmax_forward<double>(cpu_ctx(), x.data(), ref.data(), dims, 0.8, cpu_mask);
      auto dx = upload<T>(x);
      Tensor<T, Cuda> dy(x.shape());
      CudaTraits::softmax_forward<T>(gpu_ctx(), dx.data(), dy.data(), dims, C(0.8), gpu_mask);
      const TensorD y = download(dy);
      check_close(masked ? "softmax, masked" : "softmax", y, ref, tolerance<T>());
      if (masked) {  // fully masked rows are exactly zero
        double zero_row_max = 0;
        for (int64_t i = 3 * 5 * cols; i < y.numel(); ++i) zero_row_max = std::max(zero_row_max, std::abs(y[i]));
        CHECK(zero_row_max == 0.0);
      }
      CudaTraits::softmax_forward<T>(gpu_ctx(), dx.data(), dx.data(), dims, C(0.8), gpu_mask);  // in place
      check_close("softmax in place", download(dx), ref, tolerance<T>());
    }
  }
}

TEMPLATE_TEST_CASE("softmax backward, separate and in place", "[cuda][softmax]", float, double, __half,
                   __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  for (int64_t cols : {int64_t{1}, int64_t{7}, int64_t{1500}}) {
    const int64_t rows = 30;
    TensorD y(Shape{rows, cols});
    CpuTraits::softmax_forward<double>(cpu_ctx(), random_tensor({rows, cols}, 20).data(), y.data(),
                                       SoftmaxDims{1, 1, rows, cols}, 1.0, {});
    y = quantize<T>(y);
    const TensorD dy = quantize<T>(random_tensor({rows, cols}, 21));
    TensorD ref(y.shape());
    CpuTraits::softmax_backward<double>(cpu_ctx(), y.data(), dy.data(), ref.data(), rows, cols, 0.6);
    auto d_y = upload<T>(y), d_dy = upload<T>(dy);
    Tensor<T, Cuda> d_dx(y.shape());
    CudaTraits::softmax_backward<T>(gpu_ctx(), d_y.data(), d_dy.data(), d_dx.data(), rows, cols, C(0.6));
    INFO("cols=" << cols << " " << type_name<T>());
    check_close("softmax backward", download(d_dx), ref, tolerance<T>());
    CudaTraits::softmax_backward<T>(gpu_ctx(), d_y.data(), d_dy.data(), d_dy.data(), rows, cols, C(0.6));
    check_close("softmax backward in place", download(d_dy), ref, tolerance<T>());
  }
}

TEMPLATE_TEST_CASE("layer norm forward (with statistics) and backward (dx, accumulated dgamma, dbeta)",
                   "[cuda][layer_norm]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using A = accumulate_t<T>;
  for (int64_t rows : {int64_t{1}, int64_t{150}})
    for (int64_t cols : {int64_t{6}, int64_t{33}, int64_t{2000}}) {
      INFO("rows=" << rows << " cols=" << cols << " " << type_name<T>());
      TensorD x = random_tensor({rows, cols}, 30, 2.0);
      for (int64_t i = 0; i < x.numel(); ++i) x[i] += 1.5;  // a mean far from 0
      x = quantize<T>(x);
      const TensorD gamma = quantize<T>(random_tensor({cols}, 31)), beta = quantize<T>(random_tensor({cols}, 32));
      TensorD y(x.shape()), mean({rows}), rstd({rows});
      CpuTraits::layer_norm_forward<double>(cpu_ctx(), x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                                            rstd.data(), rows, cols, 1e-5);
      auto dx_in = upload<T>(x), dg = upload<T>(gamma), db = upload<T>(beta);
      Tensor<T, Cuda> d_y(x.shape());
      Tensor<A, Cuda> d_mean(Shape{rows}), d_rstd(Shape{rows});
      CudaTraits::layer_norm_forward<T>(gpu_ctx(), dx_in.data(), dg.data(), db.data(), d_y.data(), d_mean.data(),
                                        d_rstd.data(), rows, cols, A(1e-5));
      check_close("layer_norm y", download(d_y), y, tolerance<T>());
      check_close("layer_norm mean", download(d_mean), mean, tolerance<A>());
      check_close("layer_norm rstd", download(d_rstd), rstd, tolerance<A>());

      // Backward from the GPU's own statistics (rounded as the GPU keeps them).
      const TensorD mean_g = download(d_mean), rstd_g = download(d_rstd);
      const TensorD dy = quantize<T>(random_tensor({rows, cols}, 33));
      const TensorD dgamma0 = quantize<T>(random_tensor({cols}, 34)), dbeta0 = quantize<T>(random_tensor({cols}, 35));
      TensorD dx(x.shape()), dgamma = dgamma0.clone(), dbeta = dbeta0.clone();
      CpuTraits::layer_norm_backward<double>(cpu_ctx(), dy.data(), x.data(), gamma.data(), mean_g.data(),
                                             rstd_g.data(), dx.data(), dgamma.data(), dbeta.data(), rows, cols);
      auto d_dy = upload<T>(dy), d_dgamma = upload<T>(dgamma0), d_dbeta = upload<T>(dbeta0);
      Tensor<T, Cuda> d_dx(x.shape());
      CudaTraits::layer_norm_backward<T>(gpu_ctx(), d_dy.data(), dx_in.data(), dg.data(), d_mean.data(),
                                         d_rstd.data(), d_dx.data(), d_dgamma.data(), d_dbeta.data(), rows, cols);
      check_close("layer_norm dx", download(d_dx), dx, tolerance<T>());
      check_close("layer_norm dgamma", download(d_dgamma), dgamma, tolerance<T>());
      check_close("layer_norm dbeta", download(d_dbeta), dbeta, tolerance<T>());
      // Nullable outputs: only dgamma.
      auto d_dgamma2 = upload<T>(dgamma0);
      CudaTraits::layer_norm_backward<T>(gpu_ctx(), d_dy.data(), dx_in.data(), dg.data(), d_mean.data(),
                                         d_rstd.data(), nullptr, d_dgamma2.data(), nullptr, rows, cols);
      check_close("layer_norm dgamma alone", download(d_dgamma2), dgamma, tolerance<T>());
    }
}

TEMPLATE_TEST_CASE("L2 normalisation forward and backward, including a zero row", "[cuda][normalize]", float,
                   double, __half, __nv_bfloat16) {
  using T = TestType;
  using A = accumulate_t<T>;
  for (int64_t cols : {int64_t{5}, int64_t{1100}}) {
    const int64_t rows = 40;
    TensorD x = quantize<T>(random_tensor({rows, cols}, 40));
    for (int64_t c = 0; c < cols; ++c) x[3 * cols + c] = 0.0;  // norm 0 < eps
    const double eps = 1e-3;
    TensorD y(x.shape()), norms({rows});
    CpuTraits::l2_normalize_forward<double>(cpu_ctx(), x.data(), y.data(), norms.data(), rows, cols, eps);
    auto d_x = upload<T>(x);
    Tensor<T, Cuda> d_y(x.shape());
    Tensor<A, Cuda> d_norms(Shape{rows});
    CudaTraits::l2_normalize_forward<T>(gpu_ctx(), d_x.data(), d_y.data(), d_norms.data(), rows, cols, A(eps));
    INFO("cols=" << cols << " " << type_name<T>());
    check_close("l2_normalize y", download(d_y), y, tolerance<T>());
    check_close("l2_normalize norms", download(d_norms), norms, tolerance<A>());
    const TensorD yq = download(d_y), norms_g = download(d_norms);
    const TensorD dy = quantize<T>(random_tensor({rows, cols}, 41));
    TensorD dx(x.shape());
    CpuTraits::l2_normalize_backward<double>(cpu_ctx(), yq.data(), norms_g.data(), dy.data(), dx.data(), rows, cols,
                                             eps);
    auto d_dy = upload<T>(dy);
    Tensor<T, Cuda> d_dx(x.shape());
    CudaTraits::l2_normalize_backward<T>(gpu_ctx(), d_y.data(), d_norms.data(), d_dy.data(), d_dx.data(), rows, cols,
                                         A(eps));
    check_close("l2_normalize dx", download(d_dx), dx, tolerance<T>());
  }
}

TEMPLATE_TEST_CASE("bias + activation forward and backward (GELU, ReLU, identity; with and without bias)",
                   "[cuda][activation]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  for (Activation act : {Activation::Gelu, Activation::Relu, Activation::Identity})
    for (bool with_bias : {true, false})
      for (int64_t rows : {int64_t{3}, int64_t{200}}) {
        const int64_t cols = 70;
        INFO("act=" << static_cast<int>(act) << " bias=" << with_bias << " rows=" << rows << " " << type_name<T>());
        const TensorD x = quantize<T>(random_tensor({rows, cols}, 50, 1.5)), bias = quantize<T>(random_tensor({cols}, 51));
        const TensorD dy = quantize<T>(random_tensor({rows, cols}, 52)), dbias0 = quantize<T>(random_tensor({cols}, 53));
        TensorD y(x.shape()), dx(x.shape()), dbias = dbias0.clone();
        const double* bp = with_bias ? bias.data() : nullptr;
        CpuTraits::bias_activation_forward<double>(cpu_ctx(), x.data(), bp, y.data(), rows, cols, act);
        CpuTraits::bias_activation_backward<double>(cpu_ctx(), x.data(), bp, dy.data(), dx.data(), dbias.data(), rows,
                                                    cols, act);
        auto d_x = upload<T>(x), d_bias = upload<T>(bias), d_dy = upload<T>(dy), d_dbias = upload<T>(dbias0);
        const T* dbp = with_bias ? d_bias.data() : nullptr;
        Tensor<T, Cuda> d_y(x.shape()), d_dx(x.shape());
        CudaTraits::bias_activation_forward<T>(gpu_ctx(), d_x.data(), dbp, d_y.data(), rows, cols, act);
        CudaTraits::bias_activation_backward<T>(gpu_ctx(), d_x.data(), dbp, d_dy.data(), d_dx.data(), d_dbias.data(),
                                                rows, cols, act);
        check_close("activation y", download(d_y), y, tolerance<T>());
        check_close("activation dx", download(d_dx), dx, tolerance<T>());
        check_close("activation dbias", download(d_dbias), dbias, tolerance<T>());
        Tensor<T, Cuda> d_dx2(x.shape());  // without dbias: the elementwise path
        CudaTraits::bias_activation_backward<T>(gpu_ctx(), d_x.data(), dbp, d_dy.data(), d_dx2.data(), nullptr, rows,
                                                cols, act);
        check_close("activation dx without dbias", download(d_dx2), dx, tolerance<T>());
        CudaTraits::bias_activation_forward<T>(gpu_ctx(), d_x.data(), dbp, d_x.data(), rows, cols, act);  // in place
        check_close("activation in place", download(d_x), y, tolerance<T>());
      }
}

TEMPLATE_TEST_CASE("cross-entropy forward and backward with weights and an ignore index", "[cuda][loss]", float,
                   double, __half, __nv_bfloat16) {
  using T = TestType;
  using A = accumulate_t<T>;
  for (int64_t vocab : {int64_t{5}, int64_t{3000}}) {
    const int64_t rows = 40;
    const int32_t ignore = -100;
    INFO("vocab=" << vocab << " " << type_name<T>());
    const TensorD logits = quantize<T>(random_tensor({rows, vocab}, 60, 3.0));
    const auto targets = random_ids(rows, vocab, 61, ignore, 7);
    Tensor<float, Cpu> weights({rows});
    for (int64_t r = 0; r < rows; ++r) weights[r] = 0.25f + 0.05f * static_cast<float>(r % 9);
    TensorD loss({rows}), lse({rows}), dlogits(logits.shape());
    CpuTraits::cross_entropy_forward<double>(cpu_ctx(), logits.data(), targets.data(), weights.data(), loss.data(),
                                             lse.data(), rows, vocab, ignore);
    auto d_logits = upload<T>(logits);
    auto d_targets = upload_exact(targets);
    auto d_weights = upload_exact(weights);
    Tensor<A, Cuda> d_loss(Shape{rows}), d_lse(Shape{rows});
    CudaTraits::cross_entropy_forward<T>(gpu_ctx(), d_logits.data(), d_targets.data(), d_weights.data(),
                                         d_loss.data(), d_lse.data(), rows, vocab, ignore);
    check_close("cross_entropy loss rows", download(d_loss), loss, tolerance<A>());
    check_close("cross_entropy lse", download(d_lse), lse, tolerance<A>());
    const TensorD lse_g = download(d_lse);
    CpuTraits::cross_entropy_backward<double>(cpu_ctx(), logits.data(), targets.data(), weights.data(), lse_g.data(),
                                              0.3, dlogits.data(), rows, vocab, ignore);
    Tensor<T, Cuda> d_dlogits(logits.shape());
    CudaTraits::cross_entropy_backward<T>(gpu_ctx(), d_logits.data(), d_targets.data(), d_weights.data(),
                                          d_lse.data(), A(0.3), d_dlogits.data(), rows, vocab, ignore);
    check_close("cross_entropy dlogits", download(d_dlogits), dlogits, tolerance<T>());
    // Without weights.
    CpuTraits::cross_entropy_forward<double>(cpu_ctx(), logits.data(), targets.data(), nullptr, loss.data(),
                                             lse.data(), rows, vocab, ignore);
    CudaTraits::cross_entropy_forward<T>(gpu_ctx(), d_logits.data(), d_targets.data(), nullptr, d_loss.data(),
                                         d_lse.data(), rows, vocab, ignore);
    check_close("cross_entropy loss rows, unweighted", download(d_loss), loss, tolerance<A>());
  }
}

TEMPLATE_TEST_CASE("embedding gather, deterministic scatter-add with repeated ids, id checks", "[cuda][embedding]",
                   float, double, __half, __nv_bfloat16) {
  using T = TestType;
  for (int64_t dim : {int64_t{3}, int64_t{300}}) {
    const int64_t vocab = 50, n = 200;
    INFO("dim=" << dim << " " << type_name<T>());
    const TensorD table = quantize<T>(random_tensor({vocab, dim}, 70));
    const auto ids = random_ids(n, vocab, 71);
    TensorD out({n, dim});
    CpuTraits::embedding_gather<double>(cpu_ctx(), table.data(), ids.data(), out.data(), n, dim);
    auto d_table = upload<T>(table);
    auto d_ids = upload_exact(ids);
    Tensor<T, Cuda> d_out(Shape{n, dim});
    CudaTraits::embedding_gather<T>(gpu_ctx(), d_table.data(), d_ids.data(), d_out.data(), n, dim);
    CHECK(rel_error(download(d_out), out) == 0.0);

    const TensorD dout = quantize<T>(random_tensor({n, dim}, 72)), dtable0 = quantize<T>(random_tensor({vocab, dim}, 73));
    TensorD dtable = dtable0.clone();
    CpuTraits::embedding_scatter_add<double>(cpu_ctx(), dout.data(), ids.data(), dtable.data(), n, dim);
    auto d_dout = upload<T>(dout), d_dtable = upload<T>(dtable0);
    CudaTraits::embedding_scatter_add<T>(gpu_ctx(), d_dout.data(), d_ids.data(), d_dtable.data(), n, dim);
    check_close("embedding scatter_add", download(d_dtable), dtable, tolerance<T>());
  }
  SECTION("count_invalid_ids over many ids, with an allowed ignore index") {
    const int64_t n = 100003, vocab = 1000;
    auto ids = random_ids(n, vocab, 74, -100, 11);
    ids[5] = static_cast<int32_t>(vocab);
    ids[77777] = -1;
    ids[n - 1] = 123456;
    auto d_ids = upload_exact(ids);
    for (int64_t allowed : {int64_t{-100}, autograd::kNoIgnoreIndex}) {
      const int64_t expected = CpuTraits::count_invalid_ids(cpu_ctx(), ids.data(), n, vocab, allowed);
      CHECK(CudaTraits::count_invalid_ids(gpu_ctx(), d_ids.data(), n, vocab, allowed) == expected);
    }
    CHECK(CudaTraits::count_invalid_ids(gpu_ctx(), d_ids.data(), 0, vocab, -100) == 0);
  }
}

TEMPLATE_TEST_CASE("elementwise: axpby (beta = 0 never reads y), add, mul, row broadcast, permute, select rows, "
                   "cast, fill",
                   "[cuda][elementwise]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  using C = compute_t<T>;
  const int64_t rows = 37, cols = 29, n = rows * cols;
  const TensorD a = quantize<T>(random_tensor({rows, cols}, 80)), b = quantize<T>(random_tensor({rows, cols}, 81));
  const TensorD row = quantize<T>(random_tensor({cols}, 82));
  auto d_a = upload<T>(a), d_b = upload<T>(b), d_row = upload<T>(row);
  const double tol = tolerance<T>();
  {
    TensorD ref = b.clone();
    CpuTraits::axpby<double>(cpu_ctx(), n, 0.3, a.data(), 0.0, ref.data());
    Tensor<T, Cuda> y(a.shape());
    y.fill(mnemo::cuda::convert<T>(std::numeric_limits<float>::quiet_NaN()));
    CudaTraits::axpby<T>(gpu_ctx(), n, C(0.3), d_a.data(), C(0), y.data());
    check_close("axpby beta = 0", download(y), ref, tol);
    ref = b.clone();
    CpuTraits::axpby<double>(cpu_ctx(), n, 0.3, a.data(), -1.25, ref.data());
    auto y2 = upload<T>(b);
    CudaTraits::axpby<T>(gpu_ctx(), n, C(0.3), d_a.data(), C(-1.25), y2.data());
    check_close("axpby", download(y2), ref, tol);
  }
  {
    TensorD sum(a.shape()), prod(a.shape()), bc(a.shape());
    CpuTraits::add<double>(cpu_ctx(), n, a.data(), b.data(), sum.data());
    CpuTraits::mul<double>(cpu_ctx(), n, a.data(), b.data(), prod.data());
    CpuTraits::add_row_broadcast<double>(cpu_ctx(), a.data(), row.data(), bc.data(), rows, cols);
    Tensor<T, Cuda> d_sum(a.shape()), d_prod(a.shape());
    CudaTraits::add<T>(gpu_ctx(), n, d_a.data(), d_b.data(), d_sum.data());
    CudaTraits::mul<T>(gpu_ctx(), n, d_a.data(), d_b.data(), d_prod.data());
    auto d_bc = upload<T>(a);
    CudaTraits::add_row_broadcast<T>(gpu_ctx(), d_bc.data(), d_row.data(), d_bc.data(), rows, cols);  // in place
    check_close("add", download(d_sum), sum, tol);
    check_close("mul", download(d_prod), prod, tol);
    check_close("add_row_broadcast in place", download(d_bc), bc, tol);
  }
  {
    const TensorD x = quantize<T>(random_tensor({2, 3, 4, 5}, 83));
    TensorD ref({2, 4, 3, 5});
    CpuTraits::permute_0213<double>(cpu_ctx(), x.data(), ref.data(), 2, 3, 4, 5);
    auto d_x = upload<T>(x);
    Tensor<T, Cuda> d_y(Shape{2, 4, 3, 5});
    CudaTraits::permute_0213<T>(gpu_ctx(), d_x.data(), d_y.data(), 2, 3, 4, 5);
    CHECK(rel_error(download(d_y), ref) == 0.0);
  }
  {  // more rows than one launch's mask holds (2048), with a broadcast row too
    const int64_t srows = 5000, scols = 3;
    const TensorD sa = quantize<T>(random_tensor({srows, scols}, 84)), sb = quantize<T>(random_tensor({srows, scols}, 85));
    std::vector<uint8_t> select(static_cast<size_t>(srows));
    for (int64_t r = 0; r < srows; ++r) select[static_cast<size_t>(r)] = (r * 7 % 5 == 0 || r == srows - 1) ? 1 : 0;
    auto d_sa = upload<T>(sa), d_sb = upload<T>(sb);
    for (int64_t a_stride : {scols, int64_t{0}}) {
      TensorD ref(sb.shape());
      CpuTraits::select_rows<double>(cpu_ctx(), select.data(), sa.data(), a_stride, sb.data(), ref.data(), srows, scols);
      Tensor<T, Cuda> out(sb.shape());
      CudaTraits::select_rows<T>(gpu_ctx(), select.data(), d_sa.data(), a_stride, d_sb.data(), out.data(), srows, scols);
      INFO("a_stride=" << a_stride);
      CHECK(rel_error(download(out), ref) == 0.0);
    }
  }
  {  // casts into and out of T, and fill
    const TensorD x = random_tensor({1000}, 86, 10.0);
    auto d_x = upload<double>(x);
    Tensor<T, Cuda> as_t(Shape{1000});
    CudaTraits::cast(gpu_ctx(), 1000, d_x.data(), as_t.data());
    CHECK(rel_error(download(as_t), quantize<T>(x)) == 0.0);
    Tensor<float, Cuda> as_float(Shape{1000});
    CudaTraits::cast(gpu_ctx(), 1000, as_t.data(), as_float.data());
    CHECK(rel_error(download(as_float), quantize<T>(x)) == 0.0);
    auto ints = Tensor<int32_t, Cuda>::from_host({4}, {-3, 0, 7, 1024});
    Tensor<T, Cuda> from_ints(Shape{4});
    CudaTraits::cast(gpu_ctx(), 4, ints.data(), from_ints.data());
    CHECK(rel_error(download(from_ints), TensorD::from_host({4}, {-3.0, 0.0, 7.0, 1024.0})) == 0.0);
    Tensor<T, Cuda> filled(Shape{3, 1001});
    filled.fill(mnemo::cuda::convert<T>(-2.5));
    CHECK(rel_error(download(filled), TensorD::full({3, 1001}, -2.5)) == 0.0);
    filled.zero();
    CHECK(rel_error(download(filled), TensorD::zeros({3, 1001})) == 0.0);
  }
}

TEMPLATE_TEST_CASE("dropout draws the CPU's mask for the same key and offset", "[cuda][dropout]", float, double,
                   __half, __nv_bfloat16) {
  using T = TestType;
  const int64_t n = 10007;
  const RngKey key = RngKey{42, 7}.derive("layer.3.dropout");
  for (uint64_t offset : {uint64_t{0}, uint64_t{12345}}) {
    const TensorD x = quantize<T>(random_tensor({n}, 90));
    TensorD ref(x.shape());
    CpuTraits::dropout<double>(cpu_ctx(), n, x.data(), ref.data(), 0.3f, key, offset);
    auto d_x = upload<T>(x);
    Tensor<T, Cuda> d_y(x.shape());
    CudaTraits::dropout<T>(gpu_ctx(), n, d_x.data(), d_y.data(), 0.3f, key, offset);
    const TensorD y = download(d_y);
    int64_t kept = 0, mismatched = 0;
    for (int64_t i = 0; i < n; ++i) {
      const bool cpu_kept = key.keep(offset + static_cast<uint64_t>(i), 0.3f);
      kept += cpu_kept ? 1 : 0;
      mismatched += (cpu_kept != (y[i] != 0.0)) ? 1 : 0;  // x has no exact zeros
    }
    INFO("offset=" << offset << " " << type_name<T>());
    CHECK(mismatched == 0);
    CHECK(std::abs(static_cast<double>(kept) / static_cast<double>(n) - 0.7) < 0.02);
    check_close("dropout values", y, ref, tolerance<T>());
  }
  SECTION("float values are bitwise the CPU's") {
    if constexpr (std::is_same_v<T, float>) {
      const Tensor<float, Cpu> xf = convert<float>(random_tensor({n}, 91));
      Tensor<float, Cpu> yf(xf.shape());
      CpuTraits::dropout<float>(cpu_ctx(), n, xf.data(), yf.data(), 0.1f, key, 3);
      auto d_x = upload_exact(xf);
      Tensor<float, Cuda> d_y(xf.shape());
      CudaTraits::dropout<float>(gpu_ctx(), n, d_x.data(), d_y.data(), 0.1f, key, 3);
      CHECK(d_y.to_host() == yf.to_host());
    }
  }
}

TEMPLATE_TEST_CASE("reductions to the host and column sums", "[cuda][reduce]", float, double, __half,
                   __nv_bfloat16) {
  using T = TestType;
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{1000}, (int64_t{1} << 20) + 3}) {
    INFO("n=" << n << " " << type_name<T>());
    const TensorD x = quantize<T>(random_tensor({n}, 100)), y = quantize<T>(random_tensor({n}, 101));
    auto d_x = upload<T>(x), d_y = upload<T>(y);
    double abs_sum = 0, abs_dot = 0;
    for (int64_t i = 0; i < n; ++i) {
      abs_sum += std::abs(x[i]);
      abs_dot += std::abs(x[i] * y[i]);
    }
    // Inputs are exact in double and both sides add in double: only the order differs.
    const double sum_tol = 1e-12 * abs_sum + 1e-300, dot_tol = 1e-12 * abs_dot + 1e-300;
    CHECK(std::abs(CudaTraits::sum(gpu_ctx(), d_x.data(), n) - CpuTraits::sum(cpu_ctx(), x.data(), n)) <= sum_tol);
    CHECK(std::abs(CudaTraits::dot(gpu_ctx(), d_x.data(), d_y.data(), n) -
                   CpuTraits::dot(cpu_ctx(), x.data(), y.data(), n)) <= dot_tol);
    const double ss = CpuTraits::sum_squares(cpu_ctx(), x.data(), n);
    CHECK(std::abs(CudaTraits::sum_squares(gpu_ctx(), d_x.data(), n) - ss) <= 1e-12 * ss + 1e-300);
    CHECK(CudaTraits::max_abs(gpu_ctx(), d_x.data(), n) == CpuTraits::max_abs(cpu_ctx(), x.data(), n));
    CHECK(CudaTraits::count_nonfinite(gpu_ctx(), d_x.data(), n) == 0);
  }
  SECTION("non-finite values are counted; max_abs ignores NaN as the CPU does") {
    TensorD x = quantize<T>(random_tensor({5000}, 102));
    x[17] = std::numeric_limits<double>::quiet_NaN();
    x[4000] = std::numeric_limits<double>::infinity();
    x[4999] = -std::numeric_limits<double>::infinity();
    auto d_x = upload<T>(x);
    CHECK(CudaTraits::count_nonfinite(gpu_ctx(), d_x.data(), 5000) == 3);
    CHECK(CudaTraits::max_abs(gpu_ctx(), d_x.data(), 5000) == CpuTraits::max_abs(cpu_ctx(), x.data(), 5000));
  }
  SECTION("sum_rows, written and accumulated, including zero rows") {
    for (int64_t rows : {int64_t{0}, int64_t{1}, int64_t{700}, int64_t{40000}})
      for (bool accumulate : {false, true}) {
        const int64_t cols = 45;
        INFO("rows=" << rows << " accumulate=" << accumulate);
        const TensorD x = quantize<T>(random_tensor({rows, cols}, 103)), out0 = quantize<T>(random_tensor({cols}, 104));
        TensorD ref = out0.clone();
        CpuTraits::sum_rows<double>(cpu_ctx(), x.data(), ref.data(), rows, cols, accumulate);
        auto d_x = upload<T>(x), d_out = upload<T>(out0);
        CudaTraits::sum_rows<T>(gpu_ctx(), d_x.data(), d_out.data(), rows, cols, accumulate);
        check_close("sum_rows", download(d_out), ref, tolerance<T>());
      }
  }
}

TEMPLATE_TEST_CASE("AdamW step, plain and on an fp32 master copy", "[cuda][adamw]", float, double, __half,
                   __nv_bfloat16) {
  using T = TestType;
  using M = master_t<T>;
  const int64_t n = 3001;
  AdamWStep s;
  s.lr = 0.01;
  s.beta1 = 0.9;
  s.beta2 = 0.99;
  s.eps = 1e-8;
  s.weight_decay = 0.1;
  s.grad_scale = 0.5;
  const TensorD p0 = quantize<T>(random_tensor({n}, 110));
  // Reference in double; the parameter is rounded to T after every step, as T storage does.
  TensorD p = p0.clone(), m = TensorD::zeros({n}), v = TensorD::zeros({n});
  auto d_p = upload<T>(p0);
  auto d_m = Tensor<M, Cuda>::zeros({n}), d_v = Tensor<M, Cuda>::zeros({n});
  // Master variant: the master starts at the parameter's value and is never rounded to T.
  TensorD pm = p0.clone(), mm = TensorD::zeros({n}), vm = TensorD::zeros({n}), master_ref = p0.clone();
  auto d_pm = upload<T>(p0);
  auto d_master = upload<M>(p0);
  auto d_mm = Tensor<M, Cuda>::zeros({n}), d_vm = Tensor<M, Cuda>::zeros({n});
  for (int64_t t = 1; t <= 3; ++t) {
    s.step = t;
    const TensorD g = quantize<T>(random_tensor({n}, 110 + static_cast<uint64_t>(t)));
    auto d_g = upload<T>(g);
    CpuTraits::adamw_update<double>(cpu_ctx(), p.data(), g.data(), m.data(), v.data(), n, s);
    p = quantize<T>(p);
    CudaTraits::adamw_update<T>(gpu_ctx(), d_p.data(), d_g.data(), d_m.data(), d_v.data(), n, s);
    CpuTraits::adamw_update_master<double>(cpu_ctx(), pm.data(), g.data(), master_ref.data(), mm.data(), vm.data(), n, s);
    CudaTraits::adamw_update_master<T>(gpu_ctx(), d_pm.data(), d_g.data(), d_master.data(), d_mm.data(), d_vm.data(),
                                       n, s);
  }
  INFO(type_name<T>());
  check_close("adamw param", download(d_p), p, tolerance<T>());
  check_close("adamw m", download(d_m), m, tolerance<M>());
  check_close("adamw v", download(d_v), v, tolerance<M>());
  check_close("adamw master", download(d_master), master_ref, tolerance<M>());
  check_close("adamw master m", download(d_mm), mm, tolerance<M>());
  // The parameter is exactly the master rounded to T.
  CHECK(rel_error(download(d_pm), quantize<T>(download(d_master))) == 0.0);
}

TEST_CASE("copies: 2-D, overlapping device ranges, host round trips", "[cuda][memory]") {
  auto& ctx = gpu_ctx();
  std::vector<float> host(100);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i);
  auto t = Tensor<float, Cuda>::from_host({100}, host);
  CHECK(t.to_host() == host);
  // Overlapping move by 10 elements forward: memmove semantics.
  CudaTraits::copy_device(ctx, t.data() + 10, t.data(), 80 * sizeof(float));
  std::vector<float> moved = host;
  std::memmove(moved.data() + 10, moved.data(), 80 * sizeof(float));
  CHECK(t.to_host() == moved);
  // 2-D: 4 rows of 3 floats out of rows of 10.
  auto src = Tensor<float, Cuda>::from_host({100}, host);
  Tensor<float, Cuda> dst(Shape{4, 3});
  CudaTraits::copy_2d(ctx, dst.data(), 3 * sizeof(float), src.data() + 2, 10 * sizeof(float), 3 * sizeof(float), 4);
  CHECK(dst.to_host() == std::vector<float>{2, 3, 4, 12, 13, 14, 22, 23, 24, 32, 33, 34});
  // From page-locked memory (the copy synchronises before returning).
  float* pinned = nullptr;
  REQUIRE(cudaMallocHost(&pinned, 100 * sizeof(float)) == cudaSuccess);
  for (int i = 0; i < 100; ++i) pinned[i] = static_cast<float>(-i);
  Tensor<float, Cuda> from_pinned(Shape{100});
  CudaTraits::copy_from_host(ctx, from_pinned.data(), pinned, 100 * sizeof(float));
  for (int i = 0; i < 100; ++i) pinned[i] = 0.0f;  // safe: the copy has completed
  CHECK(from_pinned.to_host()[99] == -99.0f);
  cudaFreeHost(pinned);
}
