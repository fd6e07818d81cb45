// one thread: dnnl_sgemm (B read in place, packed per call) vs matmul primitive with weights prepacked once
#include <dnnl.hpp>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cstring>
using namespace dnnl;
using Clock = std::chrono::steady_clock;
int main(int argc, char** argv) {
  omp_set_num_threads(1);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  struct Case { int m, n, k, ldb; };
  std::vector<Case> cases = {{64,128,256,256},{64,384,256,768},{64,512,256,1024},{64,128,1024,256},{64,256,256,512}};
  for (int cold = 0; cold < 2; ++cold)
  for (auto c : cases) {
    const int copies = cold ? std::max(1, (48 << 20) / (c.k * c.ldb * 4)) : 1;
    std::vector<std::vector<float>> Bs(copies, std::vector<float>(size_t(c.k) * c.ldb));
    for (auto& b : Bs) for (size_t i = 0; i < b.size(); ++i) b[i] = float((i * 7) % 13) * 0.01f;
    std::vector<float> A(size_t(c.m) * c.k, 0.5f), C(size_t(c.m) * c.n);
    // packed: per copy, weights [k, n] sub-view of ldb row stride
    memory::desc a_md({c.m, c.k}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc b_any({c.k, c.n}, memory::data_type::f32, memory::format_tag::any);
    memory::desc c_md({c.m, c.n}, memory::data_type::f32, memory::format_tag::ab);
    auto pd = matmul::primitive_desc(matmul::desc(a_md, b_any, c_md), eng);
    matmul mm(pd);
    memory::desc b_plain({c.k, c.n}, memory::data_type::f32, memory::dims{c.ldb, 1});
    std::vector<memory> packed;
    for (auto& b : Bs) {
      memory src(b_plain, eng, b.data());
      memory dst(pd.weights_desc(), eng);
      reorder(src, dst).execute(s, src, dst);
      packed.push_back(dst);
    }
    memory am(a_md, eng, A.data()), cm(c_md, eng, C.data());
    double flop = 2.0 * c.m * c.n * c.k;
    for (int variant = 0; variant < 2; ++variant) {
      std::vector<double> ts;
      for (int rep = 0; rep < 15; ++rep) {
        const int iters = 200;
        auto t0 = Clock::now();
        for (int i = 0; i < iters; ++i) {
          int j = i % copies;
          if (variant == 0) dnnl_sgemm('N', 'N', c.m, c.n, c.k, 1.f, A.data(), c.k, Bs[j].data(), c.ldb, 0.f, C.data(), c.n);
          else mm.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, packed[j]}, {DNNL_ARG_DST, cm}});
        }
        ts.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / iters);
      }
      std::sort(ts.begin(), ts.end());
      printf("%s m%d n%d k%d ldb%d %-7s %7.2f us  %6.1f GFLOP/s  (p10 %.1f p90 %.1f)\n", cold ? "cold" : "hot ", c.m, c.n, c.k, c.ldb,
             variant ? "packed" : "sgemm", ts[7] * 1e6, flop / ts[7] * 1e-9, flop / ts[13] * 1e-9, flop / ts[1] * 1e-9);
    }
  }
  printf("weights desc example ok\n");
}
