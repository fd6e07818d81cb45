// tests/fuzz/fuzz_safetensors.cpp — libFuzzer target: mnemo::fuzz::safetensors (see loaders.hpp).
#include <cstdlib>

#include "loaders.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MNEMO_FUZZ_WRITE_SEEDS")) mnemo::fuzz::write_seeds("safetensors", dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::fuzz::safetensors(data, size);
  return 0;
}
