// tests/fuzz/loaders.hpp — the loaders of untrusted bytes that the libFuzzer targets drive, and
// the real saved objects that seed them (docs/hardening.md, "Fuzzing"). Compiled once in
// loaders.cpp; every fuzz_<target>.cpp is a two-line libFuzzer entry point over one of these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mnemo::fuzz {

/// Each runs one input through a loader and then uses what it loaded (reads every tensor, takes
/// an optimizer step, steps the model with the loaded state). A mnemo::Error is the expected
/// answer to bad bytes and is swallowed; anything else (a crash, a sanitizer report, another
/// exception type, a hang) is a finding.
void safetensors(const uint8_t* data, size_t size);
void parameters(const uint8_t* data, size_t size);
void optimizer_state(const uint8_t* data, size_t size);
void slot_state(const uint8_t* data, size_t size);
void infinite_former_state(const uint8_t* data, size_t size);
void checkpoint(const uint8_t* data, size_t size);
void model_file(const uint8_t* data, size_t size);

/// Writes real saved objects for `target` (one of the names above) into `dir`: the seeds.
void write_seeds(const std::string& target, const std::string& dir);

}  // namespace mnemo::fuzz
