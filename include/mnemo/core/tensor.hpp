// mnemo/core/tensor.hpp — Tensor<T, Backend>: owning, contiguous, row-major; TensorView: a
// non-owning pointer + shape.
//
// Copying a Tensor is cheap and aliases the same storage (like a shared_ptr); `clone()` makes
// a deep copy. Storage comes from the backend context's arena and returns to it when the last
// alias goes; the shared count's own block comes from a per-thread free list
// (core/control_block_pool.hpp), so a warm step takes no heap block per tensor.
// `slice(start, count)` aliases a range along dimension 0 (still contiguous).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "mnemo/backend/tags.hpp"
#include "mnemo/core/arena.hpp"
#include "mnemo/core/control_block_pool.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/shape.hpp"

namespace mnemo {

/// Non-owning view of contiguous row-major data in `Backend`'s memory.
template <class T, class Backend = Cpu>
struct TensorView {
  T* data = nullptr;
  Shape shape;
  int64_t numel() const { return shape.numel(); }
};

template <class T, class Backend = Cpu>
class Tensor {
  static_assert(std::is_trivially_copyable_v<T>, "Tensor elements must be trivially copyable");
  using Traits = BackendTraits<Backend>;

 public:
  using value_type = T;
  using backend = Backend;

  /// An undefined tensor: `defined()` is false, numel() is 0.
  Tensor() = default;

  /// Uninitialised storage from the default context's arena.
  explicit Tensor(const Shape& shape) : Tensor(shape, Traits::default_context().arena()) {}

  /// Uninitialised storage from `arena`.
  Tensor(const Shape& shape, Arena& arena) : shape_(shape) {
    storage_ = std::allocate_shared<Storage>(detail::PooledAllocator<Storage>{}, arena, checked_bytes(shape));
  }

  /// Bytes of a tensor of `shape`: ShapeError naming the shape when the count (or the byte count)
  /// exceeds Arena::kMaxBytes, so that no size wraps around before it reaches the allocator.
  static size_t checked_bytes(const Shape& shape) {
    const int64_t n = shape.numel();
    if (static_cast<uint64_t>(n) > Arena::kMaxBytes / sizeof(T))
      throw ShapeError(detail::cat("a tensor of shape ", shape.str(), " holds ", n, " elements of ", sizeof(T),
                                   " bytes, more than the largest allocation (", Arena::kMaxBytes, " bytes)"));
    return static_cast<size_t>(n) * sizeof(T);
  }

  static Tensor zeros(const Shape& shape) {
    Tensor t(shape);
    t.zero();
    return t;
  }
  static Tensor full(const Shape& shape, T value) {
    Tensor t(shape);
    t.fill(value);
    return t;
  }
  /// Copies `values` (host memory, numel elements) into a new tensor of `shape`.
  static Tensor from_host(const Shape& shape, std::span<const T> values) {
    if (static_cast<int64_t>(values.size()) != shape.numel())
      throw ShapeError(detail::cat("from_host: shape ", shape.str(), " holds ", shape.numel(),
                                   " elements, ", values.size(), " values given"));
    Tensor t(shape);
    if (!values.empty())
      Traits::copy_from_host(Traits::default_context(), t.data(), values.data(),
                             values.size() * sizeof(T));
    return t;
  }
  static Tensor from_host(const Shape& shape, const std::vector<T>& values) {
    return from_host(shape, std::span<const T>(values.data(), values.size()));
  }
  static Tensor from_host(const Shape& shape, std::initializer_list<T> values) {
    return from_host(shape, std::span<const T>(values.begin(), values.size()));
  }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t size(int dim) const { return shape_[dim]; }
  int64_t numel() const { return defined() ? shape_.numel() : 0; }
  size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(T); }

  T* data() { return defined() ? storage_->ptr + offset_ : nullptr; }
  const T* data() const { return defined() ? storage_->ptr + offset_ : nullptr; }

  TensorView<T, Backend> view() { return {data(), shape_}; }
  TensorView<const T, Backend> view() const { return {data(), shape_}; }

  /// Same storage, new shape with the same element count.
  Tensor reshape(const Shape& shape) const {
    if (shape.numel() != numel())
      throw ShapeError(detail::cat("reshape: cannot view ", shape_.str(), " (", numel(),
                                   " elements) as ", shape.str(), " (", shape.numel(),
                                   " elements)"));
    Tensor t = *this;
    t.shape_ = shape;
    return t;
  }

  /// Rows [start, start + count) of dimension 0, aliasing this tensor's storage.
  Tensor slice(int64_t start, int64_t count) const {
    if (rank() == 0) throw ShapeError("slice: a rank-0 tensor has no dimension 0");
    if (start < 0 || count < 0 || start + count > shape_[0])
      throw ShapeError(detail::cat("slice: rows [", start, ", ", start + count,
                                   ") out of range for shape ", shape_.str()));
    Tensor t = *this;
    t.shape_[0] = count;
    t.offset_ += start * (shape_[0] == 0 ? 0 : shape_.numel() / shape_[0]);
    return t;
  }

  /// A deep copy in fresh storage from the same arena.
  Tensor clone() const {
    if (!defined()) return {};
    Tensor t(shape_, *storage_->arena);
    t.copy_from(*this);
    return t;
  }

  /// Copies the elements of `src` (same element count) into this tensor's storage.
  void copy_from(const Tensor& src) {
    if (src.numel() != numel())
      throw ShapeError(detail::cat("copy_from: destination ", shape_.str(), " and source ",
                                   src.shape().str(), " differ in element count"));
    if (numel() > 0 && data() != src.data())
      Traits::copy_device(Traits::default_context(), data(), src.data(), bytes());
  }

  /// The elements in host memory (synchronises the default stream on a device backend).
  std::vector<T> to_host() const {
    std::vector<T> out(static_cast<size_t>(numel()));
    if (!out.empty())
      Traits::copy_to_host(Traits::default_context(), out.data(), data(), bytes());
    return out;
  }

  void fill(T value) {
    if (numel() > 0) Traits::fill(Traits::default_context(), data(), numel(), value);
  }
  void zero() {
    if (numel() > 0) Traits::fill(Traits::default_context(), data(), numel(), T{});
  }

  /// Host element access (host-memory backends only): flat index.
  T& operator[](int64_t i) {
    static_assert(Traits::host_accessible, "element access needs a host-memory backend");
    return data()[i];
  }
  const T& operator[](int64_t i) const {
    static_assert(Traits::host_accessible, "element access needs a host-memory backend");
    return data()[i];
  }
  /// Host element access by multi-index, bounds-checked.
  T& at(std::initializer_list<int64_t> idx) { return data()[flat_index(idx)]; }
  const T& at(std::initializer_list<int64_t> idx) const { return data()[flat_index(idx)]; }

  /// True when no other Tensor aliases this storage (so it may be taken over in place).
  bool unique() const { return storage_ != nullptr && storage_.use_count() == 1; }
  bool shares_storage_with(const Tensor& other) const {
    return storage_ != nullptr && storage_ == other.storage_;
  }
  /// The arena this tensor's storage came from (nullptr when undefined).
  Arena* arena() const { return defined() ? storage_->arena : nullptr; }

 private:
  struct Storage {
    Storage(Arena& a, size_t n)
        : ptr(static_cast<T*>(a.allocate(n))), bytes(n), arena(&a) {}
    ~Storage() { arena->deallocate(ptr, bytes); }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    T* ptr;
    size_t bytes;
    Arena* arena;
  };

  int64_t flat_index(std::initializer_list<int64_t> idx) const {
    static_assert(Traits::host_accessible, "element access needs a host-memory backend");
    if (static_cast<int>(idx.size()) != rank())
      throw ShapeError(detail::cat("at: ", idx.size(), " indices for a rank-", rank(), " tensor"));
    int64_t flat = 0;
    int d = 0;
    for (int64_t i : idx) {
      if (i < 0 || i >= shape_[d])
        throw ShapeError(detail::cat("at: index ", i, " out of range for dimension ", d,
                                     " of shape ", shape_.str()));
      flat = flat * shape_[d] + i;
      ++d;
    }
    return flat;
  }

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
  Shape shape_;
};

}  // namespace mnemo
