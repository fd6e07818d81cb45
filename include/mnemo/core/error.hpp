// mnemo/core/error.hpp — the exception hierarchy every public entry point throws.
//
// Every message names the argument, what was expected and what came, e.g.
//   "ShapeError: memory has shape [2, 64, 256], expected [batch=2, slots=64, d_model=512]".
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mnemo/core/config.hpp"

namespace mnemo {

/// Base of every exception mnemo throws. `what()` starts with the subclass name.
class Error : public std::runtime_error {
 public:
  // MNEMO_COLD (core/config.hpp): only a throw constructs one.
  MNEMO_COLD explicit Error(const std::string& message) : std::runtime_error("Error: " + message) {}

 protected:
  MNEMO_COLD Error(const char* kind, const std::string& message)
      : std::runtime_error(std::string(kind) + ": " + message) {}
};

/// A tensor argument has the wrong rank, extent or element count.
class ShapeError : public Error {
 public:
  explicit ShapeError(const std::string& m) : Error("ShapeError", m) {}
};

/// A configuration struct holds an invalid value (checked at construction).
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& m) : Error("ConfigError", m) {}
};

/// A value is out of its domain: a token id outside the vocabulary, p outside [0,1), NaN/Inf
/// where values enter from outside (loaded parameters, optimizer moments and stream states, a
/// stream state handed to a model step, loss weights). Layer inputs (attention, layer norm, ...)
/// are not scanned: NaN/Inf there propagates to the outputs by IEEE arithmetic, which is what the
/// trainers' non-finite-gradient rule detects (docs/hardening.md, "Non-finite values").
class ValueError : public Error {
 public:
  explicit ValueError(const std::string& m) : Error("ValueError", m) {}
};

/// A file is missing, truncated, or lies about its contents.
class IoError : public Error {
 public:
  explicit IoError(const std::string& m) : Error("IoError", m) {}
};

/// A CUDA runtime or cuBLAS call failed; the message names the call and the CUDA error string.
class CudaError : public Error {
 public:
  explicit CudaError(const std::string& m) : Error("CudaError", m) {}
};

/// An API is used out of order (backward without a tape, gradient of a non-leaf, ...).
class StateError : public Error {
 public:
  explicit StateError(const std::string& m) : Error("StateError", m) {}
};

/// What a check names in its error message, in up to two parts joined only when a message is
/// built ("Memformer::encode: input" + " tokens"): checks on the success path of a streaming step
/// then build no string. A plain `const char*` converts to a one-part label.
struct Label {
  Label(const char* head) : head(head) {}  // NOLINT: implicit, so every check takes a C string as before
  Label(const char* head, const char* tail) : head(head), tail(tail) {}
  const char* head;
  const char* tail = "";
};

namespace detail {
/// Appends one message argument to `out`, printed as `std::ostream << value` with default flags
/// prints it (so messages read as before, without parsing <sstream> in every TU): text as is, a
/// char (also `int8_t`/`uint8_t`) as that character, a Label as its two parts, bool as 1/0, integers in decimal, floating
/// point as printf's "%g" (6 significant digits), an unscoped enum as its integer.
template <class V>
MNEMO_COLD void append_arg(std::string& out, const V& value) {
  using U = std::remove_cv_t<V>;
  if constexpr (std::is_same_v<U, Label>) {
    out.append(value.head);
    out.append(value.tail);
  } else if constexpr (std::is_convertible_v<const U&, std::string_view>) {
    out.append(std::string_view(value));
  } else if constexpr (std::is_same_v<U, char> || std::is_same_v<U, signed char> || std::is_same_v<U, unsigned char>) {
    out.push_back(static_cast<char>(value));
  } else if constexpr (std::is_same_v<U, bool>) {
    out.push_back(value ? '1' : '0');
  } else if constexpr (std::is_enum_v<U>) {
    append_arg(out, static_cast<std::underlying_type_t<U>>(value));
  } else if constexpr (std::is_integral_v<U>) {
    char buf[24];
    const int n = std::is_signed_v<U> ? std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(value))
                                      : std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(value));
    out.append(buf, static_cast<size_t>(n));
  } else if constexpr (std::is_floating_point_v<U>) {
    char buf[64];
    const int n = std::is_same_v<U, long double> ? std::snprintf(buf, sizeof buf, "%Lg", static_cast<long double>(value))
                                                 : std::snprintf(buf, sizeof buf, "%g", static_cast<double>(value));
    out.append(buf, static_cast<size_t>(n));
  } else {
    static_assert(std::is_arithmetic_v<U>, "mnemo::detail::cat: text, characters, numbers and enums only");
  }
}

/// Concatenates every argument into one string: cat("expected ", 3, ", got ", 4). MNEMO_COLD:
/// error messages and parameter names, never inside a kernel's loop, so compiled for size.
template <class... Args>
MNEMO_COLD std::string cat(const Args&... args) {
  std::string out;
  (append_arg(out, args), ...);
  return out;
}
}  // namespace detail

/// Throws `E` with the concatenation of `args` unless `condition` holds.
template <class E = Error, class... Args>
inline void require(bool condition, Args&&... args) {
  if (!condition) throw E(detail::cat(std::forward<Args>(args)...));
}

}  // namespace mnemo
