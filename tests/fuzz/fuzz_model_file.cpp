// tests/fuzz/fuzz_model_file.cpp — libFuzzer target: mnemo::fuzz::model_file (see loaders.hpp).
#include <cstdlib>

#include "loaders.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MNEMO_FUZZ_WRITE_SEEDS")) mnemo::fuzz::write_seeds("model_file", dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::fuzz::model_file(data, size);
  return 0;
}
