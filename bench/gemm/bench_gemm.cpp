// GEMM providers at the shapes the models use (docs/benchmarks.md, "GEMM providers").
//
// One program, built once per provider (CMake option MNEMO_CPU_GEMM = eigen | openblas | blis |
// onednn, each in its own build directory); bench/run_gemm_providers.sh builds and runs them all.
//
//  BM_Gemm/<shape>: fp32 C = op(A)·op(B) through BackendTraits<Cpu>::gemm, i.e. mnemo's threading
//    (blocks of rows or columns, or the batch, on mnemo's pool of 2 threads) around the
//    provider's kernel called with one thread per block.
//  BM_GemmOwnThreads/<shape>: the provider called directly from one thread with its own threading
//    (OpenBLAS and BLIS pthread builds, oneDNN's OpenMP; 2 threads), once per product of the
//    batch: the alternative to mnemo's split. Only in builds of those providers; with a serial
//    build of OpenBLAS or BLIS it measures one thread.
//  BM_GemmBf16/<shape>: bf16 operands, fp32 accumulation and output; measured, not used by mnemo.
//    oneDNN build only: the matmul primitive (the weights' layout left to oneDNN, reordered once
//    outside the loop), as many OpenMP threads as mnemo's pool has, passive waits expected from
//    OMP_WAIT_POLICY. Debian's OpenBLAS 0.3.21 is built without bf16 (its cblas.h declares
//    cblas_sbgemm, the library does not export it).
//  BM_GemmPacked/<shape>: the same matmul primitive in fp32, B packed once outside the loop:
//    whether packing a weight that does not change once would pay over dnnl_sgemm.
//
// Shapes (fp32, row-major; "T" = the operand is used transposed):
//   step_*  streaming Memformer step, B1 L64 d256 h4, FFN 1024, 64 memory slots, vocab 256
//   mha_*   MHA at B16 L512 d512 h8: projections (8192 rows) and per-head scores/values
//   ltm_*   ∞-former long-term memory, B8 seg 512 d512 N512: the basis update (B ← C·B + GᵀX)
//           and the read (keys of the basis, per-head scores and values)
//   ceiling 2048³, the in-run GEMM ceiling every fraction in docs/benchmarks.md refers to
// Counters: GFLOPs = 2·m·n·k·batch per wall-clock second; GFLOP = 2·m·n·k·batch per call. With
// one thread (OMP_NUM_THREADS=1, bench/run_gemm_providers.sh's second table) GFLOP / cpu_time
// is the kernel's rate while it holds a CPU, which other processes on the machine disturb less.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/backend/cpu.hpp"

#if defined(MNEMO_CPU_GEMM_ONEDNN)
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

using namespace mnemo;

namespace {

struct Shape {
  const char* name;
  Trans ta, tb;
  int64_t batch, m, n, k;
};

constexpr Trans N = Trans::N, T = Trans::T;
const Shape kShapes[] = {
    {"step_qkv_64x768x256", N, N, 1, 64, 768, 256},
    {"step_proj_64x256x256", N, N, 1, 64, 256, 256},
    {"step_ffn_up_64x1024x256", N, N, 1, 64, 1024, 256},
    {"step_ffn_down_64x256x1024", N, N, 1, 64, 256, 1024},
    {"step_wgrad_256x256x64_TN", T, N, 1, 256, 256, 64},
    {"step_scores_4x64x128x64_NT", N, T, 4, 64, 128, 64},
    {"step_values_4x64x64x128", N, N, 4, 64, 64, 128},
    {"mha_proj_8192x512x512", N, N, 1, 8192, 512, 512},
    {"mha_scores_128x512x512x64_NT", N, T, 128, 512, 512, 64},
    {"mha_values_128x512x64x512", N, N, 128, 512, 64, 512},
    {"ltm_contract_8x512x512x512", N, N, 8, 512, 512, 512},
    {"ltm_gtx_8x512x512x512_TN", T, N, 8, 512, 512, 512},
    {"ltm_keys_4096x512x512", N, N, 1, 4096, 512, 512},
    {"ltm_scores_64x512x512x64_NT", N, T, 64, 512, 512, 64},
    {"ltm_values_64x512x64x512", N, N, 64, 512, 64, 512},
    {"ceiling_2048x2048x2048", N, N, 1, 2048, 2048, 2048},
};

/// Operands of one shape: packed row-major, batches back to back, values in [-0.5, 0.5).
struct Operands {
  int64_t lda, ldb, ldc, sa, sb, sc;
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s)
      : lda(s.ta == N ? s.k : s.m), ldb(s.tb == N ? s.n : s.k), ldc(s.n), sa(s.m * s.k), sb(s.k * s.n),
        sc(s.m * s.n) {
    a.resize(static_cast<size_t>(sa * s.batch));
    b.resize(static_cast<size_t>(sb * s.batch));
    c.assign(static_cast<size_t>(sc * s.batch), 0.0f);
    const RngKey key{17, 0};
    for (size_t i = 0; i < a.size(); ++i) a[i] = key.uniform(2 * i) - 0.5f;
    for (size_t i = 0; i < b.size(); ++i) b[i] = key.uniform(2 * i + 1) - 0.5f;
  }
};

void set_rate(benchmark::State& state, const Shape& s) {
  const double gflop = 2e-9 * static_cast<double>(s.batch * s.m * s.n * s.k);
  state.counters["GFLOPs"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = gflop;  // per call: with one thread, GFLOP / cpu_time is the rate while on a CPU
  state.SetLabel(cpu::gemm_provider_name());
}

void BM_Gemm(benchmark::State& state, Shape s) {
  Operands x(s);
  auto& ctx = BackendTraits<Cpu>::default_context();
  auto call = [&] {
    BackendTraits<Cpu>::gemm<float>(ctx, s.ta, s.tb, s.m, s.n, s.k, 1.0f, x.a.data(), x.lda, x.sa, x.b.data(), x.ldb,
                                    x.sb, 0.0f, x.c.data(), x.ldc, x.sc, s.batch);
  };
  call();  // warm-up: a provider's one-time setup (oneDNN generates its kernels on the first call)
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(x.c.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, s);
}

#if defined(MNEMO_CPU_GEMM_OPENBLAS) || defined(MNEMO_CPU_GEMM_BLIS) || defined(MNEMO_CPU_GEMM_ONEDNN)
/// The provider with its own threading (2 threads) for the duration of one benchmark.
class OwnThreads {
 public:
  OwnThreads() {
    (void)cpu::provider::gemm(N, N, 1, 1, 1, 1.0f, &one_, 1, &one_, 1, 0.0f, &out_, 1);  // its one-time setup
#if defined(MNEMO_CPU_GEMM_OPENBLAS)
    openblas_set_num_threads(2);
#elif defined(MNEMO_CPU_GEMM_BLIS)
    bli_thread_set_num_threads(2);
#endif
  }
  ~OwnThreads() {
#if defined(MNEMO_CPU_GEMM_OPENBLAS)
    openblas_set_num_threads(1);
#elif defined(MNEMO_CPU_GEMM_BLIS)
    bli_thread_set_num_threads(1);
#endif
  }
  OwnThreads(const OwnThreads&) = delete;
  OwnThreads& operator=(const OwnThreads&) = delete;

  /// One product on the provider's threads.
  static void gemm(const Shape& s, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
#if defined(MNEMO_CPU_GEMM_OPENBLAS)
    cblas_sgemm(CblasRowMajor, s.ta == N ? CblasNoTrans : CblasTrans, s.tb == N ? CblasNoTrans : CblasTrans,
                static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.0f, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), 0.0f, c, static_cast<int>(ldc));
#elif defined(MNEMO_CPU_GEMM_BLIS)
    float one = 1.0f, zero = 0.0f;
    bli_sgemm(s.ta == N ? BLIS_NO_TRANSPOSE : BLIS_TRANSPOSE, s.tb == N ? BLIS_NO_TRANSPOSE : BLIS_TRANSPOSE, s.m, s.n,
              s.k, &one, const_cast<float*>(a), lda, 1, const_cast<float*>(b), ldb, 1, &zero, c, ldc, 1);
#else
    omp_set_num_threads(2);
    dnnl_sgemm(s.ta == N ? 'N' : 'T', s.tb == N ? 'N' : 'T', s.m, s.n, s.k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
#endif
  }

 private:
  float one_ = 1.0f, out_ = 0.0f;
};

void BM_GemmOwnThreads(benchmark::State& state, Shape s) {
  Operands x(s);
  OwnThreads threads;
  auto call = [&] {
    for (int64_t p = 0; p < s.batch; ++p)
      OwnThreads::gemm(s, x.a.data() + p * x.sa, x.lda, x.b.data() + p * x.sb, x.ldb, x.c.data() + p * x.sc, x.ldc);
  };
  call();  // warm-up
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(x.c.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, s);
}
#endif

#if defined(MNEMO_CPU_GEMM_ONEDNN)
/// Src × weights → fp32 on oneDNN's matmul primitive, [batch, m, k] · [batch, k, n], the weights
/// (B) reordered once into the layout oneDNN picks: Src = bf16 (BM_GemmBf16), or f32
/// (BM_GemmPacked: what packing a constant B once would give over dnnl_sgemm).
template <dnnl::memory::data_type Src>
void matmul_packed(benchmark::State& state, const Shape& s) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  omp_set_num_threads(cpu::num_threads());  // mnemo's thread count (OMP_NUM_THREADS)
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::dims a_dims{s.batch, s.m, s.k}, b_dims{s.batch, s.k, s.n}, c_dims{s.batch, s.m, s.n};
  // Transposed operands are strided views: op(A) of a stored k×m is [m, k] with strides (1, m).
  const dnnl::memory::desc a_md(a_dims, Src, s.ta == N ? tag::abc : tag::acb);
  const dnnl::memory::desc b_any(b_dims, Src, tag::any);
  const dnnl::memory::desc b_plain(b_dims, Src, s.tb == N ? tag::abc : tag::acb);
  const dnnl::memory::desc c_md(c_dims, dt::f32, tag::abc);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), engine);
  Operands x(s);
  dnnl::memory a32({a_dims, dt::f32, s.ta == N ? tag::abc : tag::acb}, engine, x.a.data());
  dnnl::memory b32({b_dims, dt::f32, s.tb == N ? tag::abc : tag::acb}, engine, x.b.data());
  dnnl::memory a16(a_md, engine), b16(b_plain, engine), bw(pd.weights_desc(), engine), c(c_md, engine, x.c.data());
  dnnl::reorder(a32, a16).execute(stream, a32, a16);
  dnnl::reorder(b32, b16).execute(stream, b32, b16);
  dnnl::reorder(b16, bw).execute(stream, b16, bw);  // the weights' packing, once
  dnnl::matmul mm(pd);
  mm.execute(stream, {{DNNL_ARG_SRC, a16}, {DNNL_ARG_WEIGHTS, bw}, {DNNL_ARG_DST, c}});  // warm-up
  stream.wait();
  for (auto _ : state) {
    mm.execute(stream, {{DNNL_ARG_SRC, a16}, {DNNL_ARG_WEIGHTS, bw}, {DNNL_ARG_DST, c}});
    stream.wait();
    benchmark::DoNotOptimize(x.c.data());
  }
  set_rate(state, s);
}

void BM_GemmBf16(benchmark::State& state, Shape s) { matmul_packed<dnnl::memory::data_type::bf16>(state, s); }
void BM_GemmPacked(benchmark::State& state, Shape s) { matmul_packed<dnnl::memory::data_type::f32>(state, s); }
#endif

const bool registered = [] {
  for (const Shape& s : kShapes) {
    const double seconds = s.batch * s.m * s.n * s.k > (int64_t{1} << 30) ? 1.0 : 0.3;
    benchmark::RegisterBenchmark((std::string("BM_Gemm/") + s.name).c_str(), BM_Gemm, s)
        ->UseRealTime()
        ->MinTime(seconds)
        ->Unit(benchmark::kMicrosecond);
#if defined(MNEMO_CPU_GEMM_OPENBLAS) || defined(MNEMO_CPU_GEMM_BLIS) || defined(MNEMO_CPU_GEMM_ONEDNN)
    benchmark::RegisterBenchmark((std::string("BM_GemmOwnThreads/") + s.name).c_str(), BM_GemmOwnThreads, s)
        ->UseRealTime()
        ->MinTime(seconds)
        ->Unit(benchmark::kMicrosecond);
#endif
#if defined(MNEMO_CPU_GEMM_ONEDNN)
    benchmark::RegisterBenchmark((std::string("BM_GemmBf16/") + s.name).c_str(), BM_GemmBf16, s)
        ->UseRealTime()
        ->MinTime(seconds)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("BM_GemmPacked/") + s.name).c_str(), BM_GemmPacked, s)
        ->UseRealTime()
        ->MinTime(seconds)
        ->Unit(benchmark::kMicrosecond);
#endif
  }
  return true;
}();

}  // namespace
