// mnemo/core/shape.hpp — the extents of a row-major tensor, and shape checks with named dimensions.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "mnemo/core/error.hpp"

namespace mnemo {

/// Extents of a contiguous row-major tensor, rank 0..kMaxRank. A rank-0 shape has one element.
class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.size()); }
  explicit Shape(std::span<const int64_t> dims) { assign(dims.data(), dims.size()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.data(), dims.size()); }

  int rank() const { return rank_; }
  /// Extent of dimension i; negative i counts from the back (-1 = last).
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(index(i))]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(index(i))]; }

  /// The element count. ShapeError naming the shape when it does not fit in int64 (checked, so
  /// that {2^32, 2^32} can never wrap to a small count and size a too-small allocation).
  int64_t numel() const { return product(rank_); }
  /// Product of all extents but the last: the number of rows of the 2-D view [rows, last].
  int64_t rows() const { return product(rank_ > 0 ? rank_ - 1 : 0); }
  int64_t last() const { return rank_ == 0 ? 1 : dims_[static_cast<size_t>(rank_ - 1)]; }

  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }
  std::vector<int64_t> to_vector() const { return {begin(), end()}; }

  /// This shape with the last dimension replaced by `n`.
  Shape with_last(int64_t n) const {
    Shape s = *this;
    s[-1] = n;
    return s;
  }

  /// This shape with one more dimension of extent `n` at the back (ShapeError past kMaxRank).
  Shape appended(int64_t n) const {
    std::array<int64_t, kMaxRank + 1> dims{};
    for (int i = 0; i < rank_; ++i) dims[static_cast<size_t>(i)] = dims_[static_cast<size_t>(i)];
    dims[static_cast<size_t>(rank_)] = n;
    Shape s;
    s.assign(dims.data(), static_cast<size_t>(rank_) + 1);
    return s;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[static_cast<size_t>(i)] != b.dims_[static_cast<size_t>(i)]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  /// "[2, 64, 256]" (for messages: MNEMO_COLD, core/config.hpp).
  MNEMO_COLD std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[static_cast<size_t>(i)]);
    }
    return s + "]";
  }

 private:
  void assign(const int64_t* d, size_t n) {
    if (n > static_cast<size_t>(kMaxRank))
      throw ShapeError(detail::cat("rank ", n, " exceeds the maximum rank ", kMaxRank));
    rank_ = static_cast<int>(n);
    for (size_t i = 0; i < n; ++i) {
      if (d[i] < 0) throw ShapeError(detail::cat("negative extent ", d[i], " in dimension ", i));
      dims_[i] = d[i];
    }
  }
  /// Product of the first `count` extents, overflow-checked. A zero extent makes the product 0
  /// whatever the other extents are.
  int64_t product(int count) const {
    int64_t n = 1;
    bool overflow = false;
    for (int i = 0; i < count; ++i) {
      const int64_t d = dims_[static_cast<size_t>(i)];
      if (d == 0) return 0;
      overflow = overflow || __builtin_mul_overflow(n, d, &n);
    }
    if (overflow) throw ShapeError(detail::cat("the element count of shape ", str(), " overflows a 64-bit integer"));
    return n;
  }
  int index(int i) const {
    const int j = i < 0 ? i + rank_ : i;
    if (j < 0 || j >= rank_)
      throw ShapeError(detail::cat("dimension ", i, " out of range for a rank-", rank_, " shape"));
    return j;
  }

  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

/// One expected extent with its name; `any` (-1) accepts every extent.
struct Dim {
  static constexpr int64_t any = -1;
  const char* name;
  int64_t extent;
};

namespace detail {
/// check_shape's error path: builds the message and throws ShapeError.
[[noreturn]] MNEMO_COLD inline void throw_shape_mismatch(Label what, const Shape& actual,
                                                         std::initializer_list<Dim> expected) {
  std::string want = "[";
  int i = 0;
  for (const Dim& d : expected) {
    if (i++) want += ", ";
    want += d.name;
    if (d.extent != Dim::any) want += "=" + std::to_string(d.extent);
  }
  want += "]";
  throw ShapeError(cat(what, " has shape ", actual.str(), ", expected ", want));
}
}  // namespace detail

/// Checks `actual` against named expected extents; on mismatch throws
/// "ShapeError: <what> has shape [2, 64, 256], expected [batch=2, slots=64, d_model=512]".
inline void check_shape(Label what, const Shape& actual, std::initializer_list<Dim> expected) {
  bool ok = actual.rank() == static_cast<int>(expected.size());
  int i = 0;
  for (const Dim& d : expected) {
    if (ok && d.extent != Dim::any && actual[i] != d.extent) ok = false;
    ++i;
  }
  if (!ok) detail::throw_shape_mismatch(what, actual, expected);
}

}  // namespace mnemo
