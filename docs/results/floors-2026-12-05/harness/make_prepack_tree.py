#!/usr/bin/env python3
"""Copies include/ to DEST and adds two switches. PACK=1: a prototype (not kept) to the oneDNN provider: weights packed
once. A product C = A·B (alpha 1, beta 0, A and B not transposed, 16..256 rows) whose B lies in a
registered weight range runs oneDNN's matmul primitive on a copy of that B (column block) reordered
once into the layout the primitive asks for (format any), cached by (B, ldb, m, n, k, lda, ldc);
user scratchpad, one OpenMP thread, as the provider's sgemm; PACK_MAX_N=n: only products of at
most n columns (wider ones as before). NOBIAS=1: see the end.
Usage: make_prepack_tree.py REPO DEST; build step_floor.cpp with -DPREPACK against DEST/include."""
import shutil, sys
repo, dest = sys.argv[1], sys.argv[2]
shutil.copytree(f"{repo}/include", f"{dest}/include")
p = f"{dest}/include/mnemo/backend/cpu/gemm_onednn.hpp"
s = open(p).read()
s = s.replace("#include <dnnl.h>\n", "#include <dnnl.h>\n#include <dnnl.hpp>\n#include <cstdlib>\n#include <map>\n"
              "#include <mutex>\n#include <tuple>\n#include <vector>\n", 1)
prepack = '''
namespace prepack {
inline std::vector<std::pair<const float*, const float*>> weight_ranges;
inline const bool enabled = [] { const char* e = std::getenv("PACK"); return e && e[0] == '1'; }();
struct Entry { dnnl::matmul primitive; dnnl::memory packed; dnnl::memory::desc scratch; };
inline std::mutex mutex;
inline std::map<std::tuple<const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, Entry*> cache;
inline dnnl::engine& engine() { static dnnl::engine e(dnnl::engine::kind::cpu, 0); return e; }
inline bool is_weight(const float* p) {
  for (auto& r : weight_ranges) if (p >= r.first && p < r.second) return true;
  return false;
}
inline Entry* entry(int64_t m, int64_t n, int64_t k, const float* B, int64_t ldb, int64_t lda, int64_t ldc) {
  using namespace dnnl;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(B, ldb, m, n, k, lda, ldc);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const dnnl::memory::desc a({m, k}, dnnl::memory::data_type::f32, dnnl::memory::dims{lda, 1});
  const dnnl::memory::desc b_any({k, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
  const dnnl::memory::desc c({m, n}, dnnl::memory::data_type::f32, dnnl::memory::dims{ldc, 1});
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  const auto pd = matmul::primitive_desc(matmul::desc(a, b_any, c), attr, engine());
  dnnl::memory plain(dnnl::memory::desc({k, n}, dnnl::memory::data_type::f32, dnnl::memory::dims{ldb, 1}), engine(), const_cast<float*>(B));
  dnnl::memory packed(pd.weights_desc(), engine());
  stream s(engine());
  reorder(plain, packed).execute(s, plain, packed);
  s.wait();
  return cache[key] = new Entry{matmul(pd), packed, pd.scratchpad_desc()};
}
inline bool run(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc) {
  using namespace dnnl;
  static const int64_t max_n = [] { const char* e = std::getenv("PACK_MAX_N"); return e ? std::atoll(e) : int64_t{1} << 40; }();
  if (!enabled || m < 16 || m > 256 || n > max_n || !is_weight(B)) return false;
  const int caller_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Entry* e = entry(m, n, k, B, ldb, lda, ldc);
  thread_local std::vector<char> scratch;
  if (scratch.size() < e->scratch.get_size()) scratch.resize(e->scratch.get_size());
  dnnl::memory a(dnnl::memory::desc({m, k}, dnnl::memory::data_type::f32, dnnl::memory::dims{lda, 1}), engine(), const_cast<float*>(A));
  dnnl::memory c(dnnl::memory::desc({m, n}, dnnl::memory::data_type::f32, dnnl::memory::dims{ldc, 1}), engine(), C);
  dnnl::memory sp(e->scratch, engine(), scratch.data());
  thread_local stream s(engine());
  e->primitive.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, e->packed}, {DNNL_ARG_DST, c}, {DNNL_ARG_SCRATCHPAD, sp}});
  omp_set_num_threads(caller_threads);
  return true;
}
}  // namespace prepack
'''
s = s.replace("namespace detail {\n/// dnnl_sgemm on one", prepack + "namespace detail {\n/// dnnl_sgemm on one", 1)
old = "  const char ta_char = ta == Trans::N ? 'N' : 'T';\n"
assert old in s
s = s.replace(old, old + "  if (ta == Trans::N && tb == Trans::N && alpha == 1.f && beta == 0.f &&\n"
              "      prepack::run(m, n, k, A, lda, B, ldb, C, ldc))\n    return true;\n", 1)
open(p, "w").write(s)
# NOBIAS=1: Linear's and the attention's output projection skip their bias pass (wrong results; an
# upper bound on what adding the bias inside the GEMM's parallel tasks could save).
for p, old in [(f"{dest}/include/mnemo/autograd/ops/matmul.hpp",
                "  if (bias) BT::add_row_broadcast(ctx, y.data(), bias->data(), y.data(), rows, out_f);"),
               (f"{dest}/include/mnemo/nn/attention.hpp",
                "    if (b_[i]) BT::add_row_broadcast(*ctx_, y.data(), b_[i]->value.data(), y.data(), rows, d_);")]:
    s = open(p).read()
    assert old in s
    s = s.replace(old, old.replace("if (", "if (!std::getenv(\"NOBIAS\") && ", 1))
    open(p, "w").write(s)
