// Layers and autograd ops on CUDA against the same layers on the CPU in double (same parameter
// values, same inputs), forward and backward after a tape sweep; bitwise determinism; mixed
// precision AdamW on fp32 master weights; CUDA graphs; no cudaMalloc in a steady-state step;
// CUDA and cuBLAS failures as CudaError.
#include "support/cuda_testing.cuh"

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;

namespace {

/// Every parameter gradient of `gpu` against `cpu`. A gradient that is zero in exact arithmetic
/// (an attention key bias: softmax ignores a constant shift of its row) is held to tol times the
/// largest gradient of the store, absolutely: on the GPU it is rounding noise of that scale.
template <class T>
void compare_gradients(const nn::ParameterStore<T, Cuda>& gpu, const nn::ParameterStore<double, Cpu>& cpu,
                       double tol) {
  double scale = 0;
  for (const auto& p : cpu)
    for (int64_t i = 0; i < p->numel(); ++i) scale = std::max(scale, std::abs(p->grad[i]));
  REQUIRE(scale > 0);
  for (size_t k = 0; k < cpu.size(); ++k) {
    const TensorD g = download(gpu[k].grad);
    double ref_max = 0, got_max = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      ref_max = std::max(ref_max, std::abs(cpu[k].grad[i]));
      got_max = std::max(got_max, std::abs(g[i]));
    }
    if (ref_max < 1e-9 * scale) {
      INFO("gradient of " << cpu[k].name << " (zero in exact arithmetic): max " << got_max << ", scale " << scale);
      CHECK(count_nonfinite(g) == 0);
      CHECK(got_max <= tol * scale);
    } else {
      check_close("gradient of " + cpu[k].name, g, cpu[k].grad, tol);
    }
  }
}

/// A small transformer block: embedding → LayerNorm → causal self-attention → cross-attention
/// over a memory (padding, ALiBi, causal with an offset) → FFN → vocabulary head → loss.
template <class T, class B>
struct Block {
  static constexpr int64_t kVocab = 20, kDim = 16, kHeads = 4, kFfn = 40;
  Context<B>* ctx;
  nn::Embedding<T, B> emb;
  nn::LayerNorm<T, B> ln;
  nn::MultiHeadAttention<T, B> self_attn, cross_attn;
  nn::FeedForward<T, B> ffn;
  nn::Linear<T, B> head;

  explicit Block(nn::ParameterStore<T, B>& s)
      : ctx(&s.context()),
        emb(s, "emb", kVocab, kDim, 0.7),
        ln(s, "ln", kDim),
        self_attn(s, "self_attn", kDim, kHeads, true, 0.3),
        cross_attn(s, "cross_attn", kDim, kHeads, true, 0.3),
        ffn(s, "ffn", kDim, kFfn, Activation::Gelu, 0.3),
        head(s, "head", kDim, kVocab, {true, 0.3}) {}

  struct Inputs {
    Tensor<int32_t, B> ids, targets;   // [2, 6], [12]
    Tensor<float, B> weights, slopes;  // [12], [heads]
    Tensor<uint8_t, B> padding;        // [2, 9]
    autograd::Var<T, B> memory;        // leaf [2, 9, d]
  };

  /// Returns (logits, loss).
  std::pair<autograd::Var<T, B>, autograd::Var<T, B>> operator()(const Inputs& in) const {
    auto h = ln(emb(in.ids));
    nn::AttentionMask<B> causal;
    causal.causal = true;
    h = ag::add(*ctx, h, self_attn(h, h, causal));
    nn::AttentionMask<B> cross;
    cross.causal = true;
    cross.query_offset = 3;
    cross.key_padding = &in.padding;
    cross.alibi_slopes = &in.slopes;
    h = ag::add(*ctx, h, cross_attn(h, in.memory, cross));
    h = ag::add(*ctx, h, ffn(h));
    auto logits = head(h);
    auto loss = ag::cross_entropy(*ctx, ag::reshape(logits, {12, kVocab}), in.targets, &in.weights,
                                  {-100, ag::Reduction::Sum});
    return {logits, loss};
  }
};

struct HostInputs {
  Tensor<int32_t, Cpu> ids = Tensor<int32_t, Cpu>::from_host({2, 6}, {3, 7, 7, 0, 19, 3, 5, 5, 12, 1, 3, 8});
  Tensor<int32_t, Cpu> targets =
      Tensor<int32_t, Cpu>::from_host({12}, {7, 7, 0, -100, 3, 5, 12, 1, -100, 8, 2, 19});
  Tensor<float, Cpu> weights =
      Tensor<float, Cpu>::from_host({12}, {1.0f, 0.5f, 1.0f, 1.0f, 2.0f, 1.0f, 0.25f, 1.0f, 1.0f, 1.5f, 1.0f, 1.0f});
  Tensor<float, Cpu> slopes = Tensor<float, Cpu>::from_host({4}, {0.5f, 0.25f, 0.125f, 0.0625f});
  Tensor<uint8_t, Cpu> padding =
      Tensor<uint8_t, Cpu>::from_host({2, 9}, {0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1});
  TensorD memory = random_tensor({2, 9, 16}, 300);
};

template <class T>
typename Block<T, Cuda>::Inputs device_inputs(const HostInputs& h) {
  return {upload_exact(h.ids),     upload_exact(h.targets),
          upload_exact(h.weights), upload_exact(h.slopes),
          upload_exact(h.padding), autograd::Var<T, Cuda>::leaf(upload<T>(h.memory))};
}

}  // namespace

TEMPLATE_TEST_CASE("Embedding, LayerNorm, attention (masks), FeedForward, Linear and cross-entropy: forward and "
                   "backward equal the CPU in double",
                   "[cuda][layers]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  nn::ParameterStore<T, Cuda> gpu_store(7);
  nn::ParameterStore<double, Cpu> cpu_store(7);
  const Block<T, Cuda> gpu(gpu_store);
  const Block<double, Cpu> cpu(cpu_store);
  copy_parameters(gpu_store, cpu_store);
  const HostInputs host;
  const auto gin = device_inputs<T>(host);
  const typename Block<double, Cpu>::Inputs cin{host.ids,     host.targets, host.weights, host.slopes, host.padding,
                                                VarD::leaf(quantize<T>(host.memory))};
  ag::Tape gpu_tape, cpu_tape;
  std::pair<ag::Var<T, Cuda>, ag::Var<T, Cuda>> g;
  std::pair<VarD, VarD> c;
  {
    ag::Recording on(gpu_tape);
    g = gpu(gin);
    gpu_tape.backward(g.second);
  }
  {
    ag::Recording on(cpu_tape);
    c = cpu(cin);
    cpu_tape.backward(c.second);
  }
  const double tol = layer_tolerance<T>();
  INFO(type_name<T>());
  check_close("logits", download(g.first.value()), c.first.value(), tol);
  check_close("loss", download(g.second.value()), c.second.value(), tol);
  check_close("gradient of the memory", download(gin.memory.grad()), cin.memory.grad(), tol);
  compare_gradients(gpu_store, cpu_store, tol);
}

TEMPLATE_TEST_CASE("autograd ops on CUDA: matmul, softmax with masks, L2 normalisation, dropout, permute, concat, "
                   "select_rows, add_bias, axpby",
                   "[cuda][autograd]", float, double, __half, __nv_bfloat16) {
  using T = TestType;
  auto& gctx = gpu_ctx();
  auto& cctx = cpu_ctx();
  const TensorD a0 = quantize<T>(random_tensor({2, 3, 4}, 310)), w0 = quantize<T>(random_tensor({5, 4}, 311));
  const TensorD bias0 = quantize<T>(random_tensor({5}, 312)), other0 = quantize<T>(random_tensor({2, 2, 5}, 313));
  const TensorD r0 = quantize<T>(random_tensor({2, 5, 5}, 314));
  const auto pad = Tensor<uint8_t, Cpu>::from_host({2, 5}, {0, 0, 0, 1, 0, 0, 1, 0, 0, 0});
  const std::vector<uint8_t> select{1, 0};
  const RngKey key{9, 9};
  auto run = [&](auto& ctx, auto a, auto w, auto bias, auto other, const auto& r, const auto& padding) {
    using V = std::decay_t<decltype(a)>;
    using U = typename V::value_type;
    using CU = compute_t<U>;
    SoftmaxMask mask{true, 1, padding.data(), nullptr};
    auto h = ag::add_bias(ctx, ag::matmul(ctx, a, w, Trans::N, Trans::T), bias);        // [2, 3, 5]
    h = ag::concat1(ctx, h, other);                                                     // [2, 5, 5]
    auto s = ag::softmax(ctx, ag::reshape(h, {2, 1, 5, 5}), SoftmaxDims{2, 1, 5, 5}, CU(1.3), mask);
    auto n = ag::l2_normalize(ctx, ag::reshape(s, {2, 5, 5}), 1e-6);
    auto d = ag::dropout(ctx, n, 0.25f, key);
    auto p = ag::reshape(ag::permute_0213(ctx, ag::reshape(d, {2, 5, 5, 1})), {2, 5, 5});
    auto q = ag::select_rows(ctx, select, ag::scale(ctx, p, CU(2)), p);
    auto z = ag::axpby(ctx, CU(0.5), q, CU(-1), ag::mul(ctx, q, h));
    return ag::sum_product(ctx, z, r);
  };
  auto ga = ag::Var<T, Cuda>::leaf(upload<T>(a0)), gw = ag::Var<T, Cuda>::leaf(upload<T>(w0));
  auto gb = ag::Var<T, Cuda>::leaf(upload<T>(bias0)), go = ag::Var<T, Cuda>::leaf(upload<T>(other0));
  auto ca = VarD::leaf(a0.clone()), cw = VarD::leaf(w0.clone()), cb = VarD::leaf(bias0.clone()),
       co = VarD::leaf(other0.clone());
  const auto gpad = upload_exact(pad);
  ag::Tape gt, ct;
  TensorD gl, cl;
  {
    ag::Recording on(gt);
    auto l = run(gctx, ga, gw, gb, go, upload<T>(r0), gpad);
    gt.backward(l);
    gl = download(l.value());
  }
  {
    ag::Recording on(ct);
    auto l = run(cctx, ca, cw, cb, co, r0, pad);
    ct.backward(l);
    cl = l.value();
  }
  const double tol = layer_tolerance<T>();
  INFO(type_name<T>());
  check_close("value", gl, cl, tol);
  check_close("grad a", download(ga.grad()), ca.grad(), tol);
  check_close("grad w", download(gw.grad()), cw.grad(), tol);
  check_close("grad bias", download(gb.grad()), cb.grad(), tol);
  check_close("grad other", download(go.grad()), co.grad(), tol);
}

TEMPLATE_TEST_CASE("forward and backward are bitwise reproducible", "[cuda][determinism]", float, __nv_bfloat16) {
  using T = TestType;
  nn::ParameterStore<T, Cuda> store(11);
  const Block<T, Cuda> block(store);
  const HostInputs host;
  std::vector<std::vector<unsigned char>> first;
  for (int run = 0; run < 2; ++run) {
    store.zero_grad();
    const auto in = device_inputs<T>(host);
    ag::Tape tape;
    ag::Recording on(tape);
    auto [logits, loss] = block(in);
    tape.backward(loss);
    std::vector<std::vector<unsigned char>> now{bytes_of(logits.value()), bytes_of(loss.value()),
                                                bytes_of(in.memory.grad())};
    for (const auto& p : store) now.push_back(bytes_of(p->grad));
    if (run == 0) {
      first = std::move(now);
    } else {
      REQUIRE(now.size() == first.size());
      for (size_t i = 0; i < now.size(); ++i) {
        INFO("output " << i << " (" << (i >= 3 ? store[i - 3].name : std::string("logits/loss/memory grad")) << ")");
        CHECK(now[i] == first[i]);
      }
    }
  }
}

TEST_CASE("mixed precision: AdamW on bf16 parameters updates an fp32 master copy", "[cuda][adamw][mixed]") {
  using T = __nv_bfloat16;
  nn::ParameterStore<T, Cuda> store(3);
  auto& p = store.add("w", {1000}, nn::Init::normal(1.0));
  train::AdamWConfig cfg{1e-3, 0.9, 0.999, 1e-8, 0.01};
  train::AdamW<T, Cuda> opt(store, cfg);
  // Reference: the fp32 master in double, starting from the bf16 initial values.
  TensorD master = download(p.value), m = TensorD::zeros({1000}), v = TensorD::zeros({1000});
  TensorD unused(master.shape());
  for (int64_t t = 1; t <= 5; ++t) {
    const TensorD g = quantize<T>(random_tensor({1000}, 400 + static_cast<uint64_t>(t)));
    p.grad.copy_from(upload<T>(g));
    opt.step(-1.0, 0.8);
    AdamWStep s{cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, t, 0.8};
    CpuTraits::adamw_update_master<double>(cpu_ctx(), unused.data(), g.data(), master.data(), m.data(), v.data(),
                                           1000, s);
  }
  REQUIRE(p.master.defined());
  check_close("master", download(p.master), master, 1e-5);
  check_close("moment m", download(p.adam_m), m, 1e-5);
  // The bf16 value is the master rounded: updates of ~1e-3 on values ~1 are below bf16's
  // spacing (2^-7), so without the master most values would never have moved.
  CHECK(rel_error(download(p.value), quantize<T>(download(p.master))) == 0.0);
  // A checkpoint holds the bf16 values ("BF16"); loading one drops the master, which the next
  // step takes from the loaded values again.
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("mnemo_cuda_bf16_" + std::to_string(std::random_device{}()) + ".safetensors"))
                               .string();
  io::save_parameters(store, path);
  const auto saved = bytes_of(p.value);
  p.value.zero();
  io::load_parameters(store, path);
  std::filesystem::remove(path);
  CHECK(bytes_of(p.value) == saved);
  CHECK_FALSE(p.master.defined());
  opt.step();
  CHECK(p.master.defined());
}

TEST_CASE("a CUDA graph of an attention forward replays with new inputs like the eager call", "[cuda][graph]") {
  CudaContext ctx;  // a stream of its own
  nn::ParameterStore<float, Cuda> store(5, ctx);
  nn::MultiHeadAttention<float, Cuda> mha(store, "attn", 16, 4, true, 0.3);
  Tensor<float, Cuda> x_in(Shape{2, 5, 16}, ctx.arena()), out(Shape{2, 5, 16}, ctx.arena());
  const auto pad = upload_exact(Tensor<uint8_t, Cpu>::from_host({2, 5}, {0, 0, 0, 0, 1, 0, 1, 0, 0, 0}));
  nn::AttentionMask<Cuda> mask;
  mask.causal = true;
  mask.key_padding = &pad;
  auto load = [&](uint64_t seed) {
    const std::vector<float> v = convert<float>(random_tensor({2, 5, 16}, seed)).to_host();
    CudaTraits::copy_from_host(ctx, x_in.data(), v.data(), v.size() * sizeof(float));
  };
  load(500);
  CudaGraph graph(ctx, [&](CudaContext& c) {
    Tensor<float, Cuda> y = mha.forward(x_in, x_in, mask, nullptr);
    CudaTraits::copy_device(c, out.data(), y.data(), y.bytes());
  });
  CHECK(graph.memory_stats().bytes_reserved > 0);
  for (uint64_t seed : {501, 502, 503}) {
    load(seed);
    graph.replay();
    const TensorD replayed = download(out);
    const TensorD eager = download(mha.forward(x_in, x_in, mask, nullptr));
    INFO("input seed " << seed);
    CHECK(rel_error(replayed, eager) < 1e-6);
    CHECK(count_nonfinite(replayed) == 0);
  }
  SECTION("work that synchronises cannot be captured: CudaError, and the context still works") {
    auto syncing = [&](CudaContext& c) { (void)CudaTraits::sum(c, x_in.data(), x_in.numel()); };
    CHECK_THROWS_AS(CudaGraph(ctx, syncing), CudaError);
    CHECK_THROWS_WITH(CudaGraph(ctx, syncing), Catch::Matchers::Contains("captur", Catch::CaseSensitive::No));
    const TensorD again = download(mha.forward(x_in, x_in, mask, nullptr));
    CHECK(count_nonfinite(again) == 0);
  }
}

TEST_CASE("a steady-state training step never reaches cudaMalloc", "[cuda][memory]") {
  // Warm-up: the first step allocates everything; the second one more block of each size that
  // a value kept across steps (the memory's accumulated gradient, AdamW's moments) still holds.
  // From then on every block comes from the arena's cache.
  CudaContext ctx;
  nn::ParameterStore<float, Cuda> store(13, ctx);
  const Block<float, Cuda> block(store);
  train::AdamW<float, Cuda> opt(store);
  const HostInputs host;
  const auto in = device_inputs<float>(host);
  size_t after_warmup = 0;
  for (int step = 0; step < 5; ++step) {
    store.zero_grad();
    ag::Tape tape;
    {
      ag::Recording on(tape);
      auto [logits, loss] = block(in);
      tape.backward(loss);
    }
    opt.step();
    ctx.synchronize();
    if (step == 1) after_warmup = ctx.arena().stats().system_allocations;
  }
  const MemoryStats stats = ctx.arena().stats();
  INFO("peak " << stats.peak_bytes << " bytes, " << stats.system_allocations << " cudaMalloc calls");
  CHECK(stats.system_allocations == after_warmup);
  CHECK(stats.peak_bytes > 0);
}

TEST_CASE("TF32 is an explicit opt-in of a context", "[cuda][gemm]") {
  const int64_t n = 256;
  const TensorD a = quantize<float>(random_tensor({n, n}, 600)), b = quantize<float>(random_tensor({n, n}, 601));
  TensorD ref({n, n});
  CpuTraits::gemm<double>(cpu_ctx(), Trans::N, Trans::N, n, n, n, 1.0, a.data(), n, 0, b.data(), n, 0, 0.0,
                          ref.data(), n, 0, 1);
  CudaContext ctx;
  CHECK_FALSE(ctx.allow_tf32());
  auto da = upload<float>(a), db = upload<float>(b);
  Tensor<float, Cuda> c(Shape{n, n});
  CudaTraits::gemm<float>(ctx, Trans::N, Trans::N, n, n, n, 1.0f, da.data(), n, 0, db.data(), n, 0, 0.0f, c.data(),
                          n, 0, 1);
  check_close("fp32 gemm", download(c), ref, 1e-5);
  ctx.set_allow_tf32(true);
  CudaTraits::gemm<float>(ctx, Trans::N, Trans::N, n, n, n, 1.0f, da.data(), n, 0, db.data(), n, 0, 0.0f, c.data(),
                          n, 0, 1);
  check_close("TF32 gemm (10-bit mantissa products)", download(c), ref, 5e-3);
}

TEST_CASE("CUDA and cuBLAS failures become CudaError naming the call", "[cuda][errors]") {
  auto& ctx = gpu_ctx();
  float host = 1.0f;
  MNEMO_CHECK_THROWS(MNEMO_CUDA_CHECK(cudaMemcpy(nullptr, &host, sizeof(float), cudaMemcpyHostToDevice)), CudaError,
                     "cudaMemcpy(nullptr");
  MNEMO_CHECK_THROWS(MNEMO_CUDA_CHECK(cudaMemcpy(nullptr, &host, sizeof(float), cudaMemcpyHostToDevice)), CudaError,
                     "cudaErrorInvalidValue");
  auto t = Tensor<float, Cuda>::full({4}, 2.0f);
  MNEMO_CHECK_THROWS(CudaTraits::copy_device(ctx, nullptr, t.data(), 16), CudaError, "cudaMemcpyAsync");
  // cuBLAS rejects lda < k for an untransposed row-major A.
  MNEMO_CHECK_THROWS(CudaTraits::gemm<float>(ctx, Trans::N, Trans::N, 4, 4, 4, 1.0f, t.data(), 1, 0, t.data(), 4, 0,
                                             0.0f, t.data(), 4, 0, 1),
                     CudaError, "CUBLAS_STATUS_INVALID_VALUE");
  // The errors were not sticky: kernels still run and report nothing stale.
  t.fill(3.0f);
  CHECK(t.to_host() == std::vector<float>{3.0f, 3.0f, 3.0f, 3.0f});
  // Asking for more memory than any GPU has: the arena reports it.
  using HugeTensor = Tensor<float, Cuda>;
  MNEMO_CHECK_THROWS(HugeTensor(Shape{int64_t{1} << 50}), Error, "out of memory");
  CHECK(Tensor<float, Cuda>::full({2}, 1.0f).to_host() == std::vector<float>{1.0f, 1.0f});
}

TEST_CASE("layers reject bad input on CUDA with the CPU's errors", "[cuda][errors]") {
  nn::ParameterStore<float, Cuda> store(1);
  nn::Embedding<float, Cuda> emb(store, "emb", 5, 4);
  auto ids = Tensor<int32_t, Cuda>::from_host({3}, {1, 5, 2});
  MNEMO_CHECK_THROWS(emb(ids), ValueError, "outside [0, 5)");
  nn::MultiHeadAttention<float, Cuda> mha(store, "attn", 8, 2);
  auto x = Tensor<float, Cuda>::zeros({2, 3, 8});
  auto wrong = Tensor<float, Cuda>::zeros({2, 3, 6});
  MNEMO_CHECK_THROWS(mha.forward(x, wrong, {}, nullptr), ShapeError,
                     "key_value has shape [2, 3, 6], expected [batch=2, len, d_model=8]");
  auto bad = Tensor<float, Cuda>::from_host({2}, {1.0f, std::numeric_limits<float>::infinity()});
  MNEMO_CHECK_THROWS(ag::check_finite(gpu_ctx(), "input", bad), ValueError, "1 non-finite value(s)");
}
