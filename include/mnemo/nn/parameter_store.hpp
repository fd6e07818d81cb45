// mnemo/nn/parameter_store.hpp — named parameters, their gradients and optimizer moments.
//
// Names are hierarchical ("encoder.layers.0.self_attn.q_proj.weight"). Initial values are a pure
// function of (store seed, parameter name), so a model initialises identically whatever the
// order its layers are built in, on every backend. The store is what io/ saves and loads and what
// the optimizer walks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mnemo/autograd/tape.hpp"
#include "mnemo/autograd/var.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::nn {

/// How a parameter starts.
struct Init {
  enum class Kind { Normal, Constant };
  Kind kind = Kind::Normal;
  double value = 0.02;  // standard deviation (Normal) or the constant

  static Init normal(double std) { return {Kind::Normal, std}; }
  static Init constant(double v) { return {Kind::Constant, v}; }
  static Init zeros() { return constant(0.0); }
  static Init ones() { return constant(1.0); }
};

template <class T, class B>
struct Parameter {
  std::string name;
  Tensor<T, B> value;
  Tensor<T, B> grad;                   // always allocated, same shape
  Tensor<master_t<T>, B> adam_m, adam_v;  // optimizer moments, allocated by the optimizer
  // Mixed precision (T = __half, __nv_bfloat16): the fp32 master copy the optimizer updates;
  // `value` is the master rounded to T. Allocated by the optimizer from `value` at its first
  // step; undefined when master_t<T> is T. Code that overwrites `value` afterwards resets it
  // (`master = {}`, as io::read_parameters does) so that the next step takes it from `value`.
  Tensor<master_t<T>, B> master;
  std::shared_ptr<autograd::GradSlot<T, B>> slot;  // persistent slot over `grad`

  /// The parameter as a differentiable value whose gradient accumulates into `grad`.
  autograd::Var<T, B> var() const {
    note_use();
    return autograd::Var<T, B>(value, slot);
  }
  /// Tells the recording tape that a node recorded from now on may add to `grad` (layers whose
  /// fused backward writes `grad` directly call it; Tape::final_sweep).
  void note_use() const {
    if (autograd::Tape* tape = autograd::recording_tape()) tape->note_use(slot.get());
  }
  const Shape& shape() const { return value.shape(); }
  int64_t numel() const { return value.numel(); }
};

template <class T, class B>
class ParameterStore {
 public:
  using Param = Parameter<T, B>;

  explicit ParameterStore(uint64_t seed = 0, Context<B>& ctx = BackendTraits<B>::default_context())
      : seed_(seed), ctx_(&ctx) {}
  ParameterStore(const ParameterStore&) = delete;
  ParameterStore& operator=(const ParameterStore&) = delete;
  ParameterStore(ParameterStore&&) = default;
  ParameterStore& operator=(ParameterStore&&) = default;

  /// Registers a parameter and initialises it. Throws ConfigError on a duplicate name.
  Param& add(const std::string& name, const Shape& shape, Init init) {
    if (name.empty()) throw ConfigError("ParameterStore::add: empty parameter name");
    if (index_.count(name))
      throw ConfigError(detail::cat("ParameterStore::add: parameter '", name, "' already exists"));
    auto p = std::make_unique<Param>();
    p->name = name;
    p->value = Tensor<T, B>(shape, ctx_->arena());
    p->grad = Tensor<T, B>(shape, ctx_->arena());
    p->grad.zero();
    p->slot = std::make_shared<autograd::GradSlot<T, B>>(p->grad);
    initialise(*p, init);
    index_.emplace(name, params_.size());
    params_.push_back(std::move(p));
    return *params_.back();
  }

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  Param& get(const std::string& name) {
    auto it = index_.find(name);
    if (it == index_.end())
      throw ConfigError(detail::cat("ParameterStore: no parameter named '", name, "'"));
    return *params_[it->second];
  }
  const Param& get(const std::string& name) const { return const_cast<ParameterStore*>(this)->get(name); }

  size_t size() const { return params_.size(); }
  /// Parameters in registration order.
  Param& operator[](size_t i) { return *params_.at(i); }
  const Param& operator[](size_t i) const { return *params_.at(i); }
  auto begin() { return params_.begin(); }
  auto end() { return params_.end(); }
  auto begin() const { return params_.begin(); }
  auto end() const { return params_.end(); }

  /// Total number of scalar parameters.
  int64_t numel() const {
    int64_t n = 0;
    for (const auto& p : params_) n += p->numel();
    return n;
  }
  void zero_grad() {
    for (auto& p : params_) p->grad.zero();
  }
  uint64_t seed() const { return seed_; }
  Context<B>& context() const { return *ctx_; }

 private:
  void initialise(Param& p, Init init) const {
    const int64_t n = p.value.numel();
    std::vector<T> host(static_cast<size_t>(n));
    if (init.kind == Init::Kind::Constant) {
      for (auto& v : host) v = static_cast<T>(init.value);
    } else {
      // Each value is a pure function of its index: the draws are shared among mnemo's CPU threads,
      // in vectorised passes of RngKey::kNormalLanes (a Philox block, a log and a cos each).
      const RngKey key = RngKey{seed_, 0}.derive(p.name);
      cpu::parallel_for(n, 16, [&](int64_t begin, int64_t end) {
        double draws[RngKey::kNormalLanes];
        for (int64_t i = begin; i < end; i += RngKey::kNormalLanes) {
          const int64_t count = std::min(RngKey::kNormalLanes, end - i);
          key.normals(static_cast<uint64_t>(i), count, draws);
          for (int64_t j = 0; j < count; ++j) host[static_cast<size_t>(i + j)] = static_cast<T>(init.value * draws[j]);
        }
      });
    }
    if (n > 0) BackendTraits<B>::copy_from_host(*ctx_, p.value.data(), host.data(), host.size() * sizeof(T));
  }

  uint64_t seed_;
  Context<B>* ctx_;
  std::vector<std::unique_ptr<Param>> params_;  // unique_ptr: layers keep stable Param pointers
  std::unordered_map<std::string, size_t> index_;
};

/// "prefix.name", or "name" when the prefix is empty.
inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace mnemo::nn
