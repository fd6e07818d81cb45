// mnemo/core/size_limits.hpp — the bounds a configuration's sizes must respect, checked when the
// config is validated, so that no product of two sizes (a weight matrix, an embedding table, an
// activation [segment, d_model]) can overflow int64 before it reaches Shape::numel's check.
#pragma once

#include <cstdint>
#include <limits>

#include "mnemo/core/error.hpp"

namespace mnemo {

/// Largest extent of one configured dimension (vocab, d_model, d_ff, heads, slots, layers,
/// segment length, basis size ...): token ids are int32, and every extent fits in 31 bits.
inline constexpr int64_t kMaxConfigExtent = std::numeric_limits<int32_t>::max();
/// Largest element count of one parameter matrix built from a config (vocab·d_model, d_model·d_ff,
/// ...): 2^40 elements (4 TiB in fp32), far beyond any machine, and far below int64's range.
inline constexpr int64_t kMaxConfigElements = int64_t{1} << 40;

/// ConfigError "<who>: <field> = <value>, expected <= <limit> (...)" unless value <= kMaxConfigExtent.
inline void require_extent(const char* who, const char* field, int64_t value) {
  require<ConfigError>(value <= kMaxConfigExtent, who, ": ", field, " = ", value, ", expected <= ", kMaxConfigExtent,
                       " (2^31 - 1; token ids and extents are 31-bit)");
}

/// ConfigError unless a·b (two fields already bounded by require_extent) is at most kMaxConfigElements.
inline void require_elements(const char* who, const char* a_field, int64_t a, const char* b_field, int64_t b) {
  require<ConfigError>(a * b <= kMaxConfigElements, who, ": ", a_field, " · ", b_field, " = ", a, " · ", b, " = ",
                       a * b, " elements, expected <= ", kMaxConfigElements, " (2^40)");
}

}  // namespace mnemo
