// mnemo/core/error.hpp — the exception hierarchy every public entry point throws.
//
// Every message names the argument, what was expected and what came, e.g.
//   "ShapeError: memory has shape [2, 64, 256], expected [batch=2, slots=64, d_model=512]".
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
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

namespace detail {
/// Streams every argument into one string: cat("expected ", 3, ", got ", 4). MNEMO_COLD: error
/// messages and parameter names, never inside a kernel's loop, so compiled for size.
template <class... Args>
MNEMO_COLD std::string cat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

/// Throws `E` with the concatenation of `args` unless `condition` holds.
template <class E = Error, class... Args>
inline void require(bool condition, Args&&... args) {
  if (!condition) throw E(detail::cat(std::forward<Args>(args)...));
}

}  // namespace mnemo
