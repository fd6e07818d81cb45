// tests/fuzz/fuzz_checkpoint.cpp — libFuzzer target: mnemo::fuzz::checkpoint (see loaders.hpp).
#include <cstdlib>

#include "loaders.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MNEMO_FUZZ_WRITE_SEEDS")) mnemo::fuzz::write_seeds("checkpoint", dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::fuzz::checkpoint(data, size);
  return 0;
}
