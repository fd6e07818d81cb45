// mnemo/io/safetensors_format.hpp — the constants of the safetensors file format and its dtype
// table, shared by the writer and the reader.
//
// A file is: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the byte buffer; data_offsets are relative to the buffer's first byte and every tensor is
// stored contiguous, row-major, little-endian. See docs/io.md.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mnemo/core/precision.hpp"

namespace mnemo::io {

static_assert(std::endian::native == std::endian::little,
              "mnemo::io stores tensors byte for byte: safetensors is little-endian");

namespace safetensors {
/// The header key that holds the string-to-string metadata instead of a tensor.
inline constexpr std::string_view kMetadataKey = "__metadata__";
/// The header is padded with spaces so that the buffer starts at a multiple of this.
inline constexpr uint64_t kHeaderAlignment = 8;
/// Larger headers are refused before anything is allocated (the reference implementation's limit).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;
/// Deepest nesting of JSON arrays/objects a header may have (a valid one nests 3 deep:
/// {"name": {"shape": [...]}}); deeper headers are refused before they are parsed.
inline constexpr int kMaxHeaderDepth = 16;
}  // namespace safetensors

/// Bytes per element of a safetensors dtype name; 0 for a name the format does not define.
constexpr size_t dtype_size(std::string_view dtype) {
  struct Known {
    std::string_view name;
    size_t bytes;
  };
  constexpr Known kKnown[] = {{"F64", 8},  {"F32", 4},  {"F16", 2},     {"BF16", 2},   {"I64", 8},
                              {"I32", 4},  {"I16", 2},  {"I8", 1},      {"U64", 8},    {"U32", 4},
                              {"U16", 2},  {"U8", 1},   {"BOOL", 1},    {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (const Known& k : kKnown)
    if (k.name == dtype) return k.bytes;
  return 0;
}

/// The safetensors dtype of element type T (from Precision<T>::safetensors_dtype). Works for every
/// T whose Precision names a dtype of the right size, including the CUDA half types.
template <class T>
constexpr std::string_view dtype_of() {
  constexpr std::string_view dtype = Precision<T>::safetensors_dtype;
  static_assert(dtype_size(dtype) != 0, "Precision<T>::safetensors_dtype is not a safetensors dtype");
  static_assert(dtype_size(dtype) == sizeof(T), "Precision<T>::safetensors_dtype does not match sizeof(T)");
  return dtype;
}

}  // namespace mnemo::io
