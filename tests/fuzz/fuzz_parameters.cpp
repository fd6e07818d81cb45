// tests/fuzz/fuzz_parameters.cpp — libFuzzer target: mnemo::fuzz::parameters (see loaders.hpp).
#include <cstdlib>

#include "loaders.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MNEMO_FUZZ_WRITE_SEEDS")) mnemo::fuzz::write_seeds("parameters", dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::fuzz::parameters(data, size);
  return 0;
}
