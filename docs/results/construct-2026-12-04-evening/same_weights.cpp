// Writes every parameter of the streaming Memformer (float, then bfloat16) as raw bytes, to compare
// the weights drawn by two include trees (before and after mnemo's own ln and cos):
//   g++ -std=c++20 -O2 [-march=native] -DNDEBUG -I<tree>/include -I<tree>/bench -I/usr/include/eigen3 \
//       same_weights.cpp -o dump_<v> -lpthread && ./dump_<v> <v>      # writes <v>_f32.bin, <v>_bf16.bin
//   cmp before_f32.bin after_f32.bin && cmp before_bf16.bin after_bf16.bin
#include <cstdio>
#include "cpu/memformer_stream_shape.hpp"
#include "mnemo/mnemo.hpp"
using namespace mnemo;
template <class T> void dump(const char* path) {
  models::Memformer<T, Cpu> model(bench::memformer_stream_config(), 2);
  std::FILE* f = std::fopen(path, "wb");
  for (auto& p : model.parameters()) std::fwrite(p->value.data(), sizeof(T), static_cast<size_t>(p->value.numel()), f);
  std::fclose(f);
}
int main(int, char** argv) {
  std::string base = argv[1];
  dump<float>((base + "_f32.bin").c_str());
  dump<bfloat16>((base + "_bf16.bin").c_str());
}
