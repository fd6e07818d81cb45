// The CPU kernels on their threaded paths: strided batched GEMM split into row or column blocks,
// masked softmax over many rows, against double references; multi-head attention values and
// gradients on 1 and on 2 threads. The sizes are chosen above parallel_for's work threshold.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>

#include "mnemo/nn/attention.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;

namespace {

/// Sets the CPU thread count for a scope.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(cpu::num_threads()) { cpu::set_num_threads(n); }
  ~ThreadCount() { cpu::set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

/// op(X)[i, j] of a row-major matrix with row stride ld.
double op_at(const TensorD& x, Trans t, int64_t ld, int64_t offset, int64_t i, int64_t j) {
  return t == Trans::N ? x[offset + i * ld + j] : x[offset + j * ld + i];
}

}  // namespace

TEST_CASE("strided batched GEMM matches a double reference on its threaded paths", "[cpu][gemm]") {
  ThreadCount two(2);
  // {batch, m, n, k}: one product split by rows (m >= n), one split by columns, a batch smaller
  // than and one larger than the thread count; m, n not multiples of 8.
  const std::tuple<int64_t, int64_t, int64_t, int64_t> shapes[] = {
      {1, 70, 40, 33}, {1, 24, 300, 50}, {1, 100, 20, 90}, {5, 37, 29, 41}};
  for (const auto& [batch, m, n, k] : shapes)
    for (Trans ta : {Trans::N, Trans::T})
      for (Trans tb : {Trans::N, Trans::T})
        for (double beta : {0.0, 0.5}) {
          // Row strides wider than the rows, so block offsets that ignore ld would show.
          const int64_t a_rows = ta == Trans::N ? m : k, a_cols = ta == Trans::N ? k : m;
          const int64_t b_rows = tb == Trans::N ? k : n, b_cols = tb == Trans::N ? n : k;
          const int64_t lda = a_cols + 3, ldb = b_cols + 5, ldc = n + 2;
          const int64_t sa = a_rows * lda, sb = b_rows * ldb, sc = m * ldc;
          const TensorD a = random_tensor({batch * sa}, 1), b = random_tensor({batch * sb}, 2);
          const TensorD c0 = random_tensor({batch * sc}, 3);
          TensorD expected = c0.clone();
          for (int64_t p = 0; p < batch; ++p)
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t l = 0; l < k; ++l) s += op_at(a, ta, lda, p * sa, i, l) * op_at(b, tb, ldb, p * sb, l, j);
                const int64_t at = p * sc + i * ldc + j;
                expected[at] = 0.75 * s + beta * c0[at];
              }
          auto& ctx = BackendTraits<Cpu>::default_context();
          TensorD got = c0.clone();
          BackendTraits<Cpu>::gemm<double>(ctx, ta, tb, m, n, k, 0.75, a.data(), lda, sa, b.data(), ldb, sb, beta,
                                           got.data(), ldc, sc, batch);
          auto af = convert<float>(a), bf = convert<float>(b), gotf = convert<float>(c0);
          BackendTraits<Cpu>::gemm<float>(ctx, ta, tb, m, n, k, 0.75f, af.data(), lda, sa, bf.data(), ldb, sb,
                                          static_cast<float>(beta), gotf.data(), ldc, sc, batch);
          INFO("batch " << batch << ", m " << m << ", n " << n << ", k " << k << ", ta " << int(ta) << ", tb "
                        << int(tb) << ", beta " << beta);
          // Entries between rows (j >= n) are outside C and must be left untouched: compared too.
          CHECK(rel_error(got, expected) < 1e-13);
          CHECK(rel_error(gotf, expected) < 1e-5);
        }
}

namespace {

/// softmax(scale·x + ALiBi) over [outer, heads, rows, cols] with causal, padding masks, in
/// double with std::exp.
TensorD softmax_reference(const TensorD& x, const SoftmaxDims& dims, double scale, const SoftmaxMask& mask) {
  TensorD y(x.shape());
  for (int64_t row = 0; row < dims.total_rows(); ++row) {
    const int64_t r = row % dims.rows, h = (row / dims.rows) % dims.heads, o = row / (dims.rows * dims.heads);
    const int64_t q_pos = r + mask.query_offset;
    std::vector<double> z(static_cast<size_t>(dims.cols), -INFINITY);
    double mx = -INFINITY;
    for (int64_t c = 0; c < dims.cols; ++c) {
      if ((mask.causal && c > q_pos) || (mask.key_padding && mask.key_padding[o * dims.cols + c])) continue;
      double v = scale * x[row * dims.cols + c];
      if (mask.alibi_slopes) v -= mask.alibi_slopes[h] * static_cast<double>(q_pos - c);
      z[static_cast<size_t>(c)] = v;
      mx = std::max(mx, v);
    }
    double sum = 0;
    for (double& v : z) sum += (v = mx == -INFINITY ? 0.0 : std::exp(v - mx));
    for (int64_t c = 0; c < dims.cols; ++c) y[row * dims.cols + c] = sum > 0 ? z[static_cast<size_t>(c)] / sum : 0.0;
  }
  return y;
}

}  // namespace

TEST_CASE("masked softmax matches a double reference on the threaded path", "[cpu][softmax]") {
  ThreadCount two(2);
  const SoftmaxDims dims{3, 2, 64, 80};  // 384 rows of 80: above the parallel threshold
  const TensorD x = random_tensor({3, 2, 64, 80}, 4, 3.0);
  // Batch row 0: keys 5 and 70 padded; row 1: no padding; row 2: every key padded.
  std::vector<uint8_t> pad_host(3 * 80, 0);
  pad_host[5] = pad_host[70] = 1;
  for (int c = 0; c < 80; ++c) pad_host[160 + c] = 1;
  const auto pad = Tensor<uint8_t, Cpu>::from_host({3, 80}, pad_host);
  const auto slopes = Tensor<float, Cpu>::from_host({2}, {0.25f, 0.0625f});
  auto& ctx = BackendTraits<Cpu>::default_context();
  for (int variant = 0; variant < 3; ++variant) {
    SoftmaxMask mask;
    if (variant >= 1) {  // causal with a cache of 7 keys
      mask.causal = true;
      mask.query_offset = 7;
    }
    if (variant == 2) {
      mask.key_padding = pad.data();
      mask.alibi_slopes = slopes.data();
    }
    INFO("variant " << variant);
    const TensorD expected = softmax_reference(x, dims, 0.7, mask);
    TensorD y(x.shape());
    BackendTraits<Cpu>::softmax_forward<double>(ctx, x.data(), y.data(), dims, 0.7, mask);
    CHECK(rel_error(y, expected) < 1e-14);
    auto yf = convert<float>(x);  // in place, as the attention layer calls it
    BackendTraits<Cpu>::softmax_forward<float>(ctx, yf.data(), yf.data(), dims, 0.7f, mask);
    CHECK(rel_error(yf, expected) < 1e-6);
    // Masked probabilities are exactly zero (not a tiny exp(−∞) approximation).
    int64_t nonzero_masked = 0;
    for (int64_t i = 0; i < expected.numel(); ++i)
      nonzero_masked += (expected[i] == 0.0 && (y[i] != 0.0 || yf[i] != 0.0f)) ? 1 : 0;
    CHECK(nonzero_masked == 0);

    // backward: dx = scale·y⊙(dy − <y, dy>) per row
    const TensorD dy = random_tensor(x.shape(), 5);
    TensorD dx_expected(x.shape());
    for (int64_t row = 0; row < dims.total_rows(); ++row) {
      double dot = 0;
      for (int64_t c = 0; c < dims.cols; ++c) dot += expected[row * 80 + c] * dy[row * 80 + c];
      for (int64_t c = 0; c < dims.cols; ++c)
        dx_expected[row * 80 + c] = 0.7 * expected[row * 80 + c] * (dy[row * 80 + c] - dot);
    }
    TensorD dx = dy.clone();  // in place over dy, as the attention layer calls it
    BackendTraits<Cpu>::softmax_backward<double>(ctx, y.data(), dx.data(), dx.data(), dims.total_rows(), 80, 0.7);
    CHECK(rel_error(dx, dx_expected) < 1e-13);
  }
}

TEST_CASE("MultiHeadAttention gives the same values and gradients on 1 and 2 threads", "[nn][attention][cpu]") {
  // B·L = 96 rows of d = 64: the projections split between threads, 8 heads of 48×48 scores.
  nn::ParameterStore<double, Cpu> store(21);
  nn::MultiHeadAttention<double, Cpu> mha(store, "attn", 64, 4, true, 0.2);
  const TensorD x = random_tensor({2, 48, 64}, 6);
  const TensorD dy = random_tensor({2, 48, 64}, 7);
  nn::AttentionMask<Cpu> mask;
  mask.causal = true;
  auto run = [&](int threads) {
    ThreadCount scope(threads);
    store.zero_grad();
    auto xv = VarD::leaf(x.clone());
    ag::Tape tape;
    VarD y;
    {
      ag::Recording on(tape);
      y = mha(xv, xv, mask);
    }
    tape.seed(y, dy.clone());
    tape.backward(size_t{0});
    std::vector<TensorD> out{y.value().clone(), xv.grad().clone()};
    for (auto& p : store) out.push_back(p->grad.clone());
    return out;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("tensor " << i << " (0: output, 1: dx, then parameter gradients)");
    CHECK(rel_error(two[i], one[i]) < 1e-12);
  }
}
