// tests/fuzz/fuzz_infinite_former_state.cpp — libFuzzer target: mnemo::fuzz::infinite_former_state (see loaders.hpp).
#include <cstdlib>

#include "loaders.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MNEMO_FUZZ_WRITE_SEEDS")) mnemo::fuzz::write_seeds("infinite_former_state", dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::fuzz::infinite_former_state(data, size);
  return 0;
}
