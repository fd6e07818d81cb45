// mnemo/dist/data_parallel.hpp — data-parallel training over a dist::Communicator: every rank
// runs a trainer's rollout on its own rows, then dist::DataParallel sums the gradients of all
// ranks in fixed (rank) order, so that clipping and AdamW see the global gradient and every rank
// ends the step with the same parameters, bit for bit (docs/distributed.md).
//
//   dist::DataParallel<dist::MpiCommunicator, double, Cpu> dp(world, {&model.parameters()});
//   dp.broadcast_parameters();                                  // rank 0's values everywhere
//   model.parameters().zero_grad();
//   auto w = dist::global_step_weights(world, dist::memformer_step_tokens(my_segments));
//   auto local = mrbp.rollout(my_segments, my_resets, my_state, w);   // any trainer
//   auto global = dp.reduce_gradients(local);                   // Σ over ranks, rank order
//   optimizer.step(lr, train::clip_factor(train::global_grad_norm(model.parameters()), 1.0));
//
// Why the sum is the single-process gradient over the union of the ranks' rows. A trainer's loss
// is L = Σ_t w_t·ℓ_t with ℓ_t a mean over the targets counted at step t. Over the union,
// ℓ_t = (1/N_t)·Σ_r n_{r,t}·ℓ_{r,t} (n_{r,t}: targets of rank r, N_t = Σ_r n_{r,t}), so giving
// rank r the step weights w_t·n_{r,t}/N_t (dist::global_step_weights) makes the union's L the sum
// of the ranks' losses, and its gradient the sum of theirs (no averaging afterwards).
//
// Where the reduction sits. The trainers (train::Mrbp, train::Bptt, train::InfiniteFormerTrainer)
// leave the rollout's gradient in the parameter stores and return; reduce_gradients runs at that
// seam, before clipping and the optimizer, so no trainer code is duplicated. It is not overlapped
// with the backward pass: under BPTT and MRBP every step of the rollout adds to every parameter's
// gradient, so no gradient is final before the replay of step 0 ends.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/dist/communicator.hpp"
#include "mnemo/nn/parameter_store.hpp"
#include "mnemo/train/rollout.hpp"

namespace mnemo::dist {

/// The rank's dropout seed derived from the run's: rows on different ranks draw independent
/// dropout masks (with one seed everywhere, rank r's row i would reuse rank 0's row i masks).
inline uint64_t rank_seed(uint64_t seed, int rank) {
  return RngKey{seed, 0x4461746150617261ull}.derive(static_cast<uint64_t>(rank)).stream;
}

/// Targets that carry loss at each step of a Memformer rollout over `segments` (T+1 of them):
/// step t predicts segment t+1, whose padded positions carry none (models::Memformer::loss).
inline std::vector<int64_t> memformer_step_tokens(const std::vector<train::Segment>& segments) {
  std::vector<int64_t> counts(segments.empty() ? 0 : segments.size() - 1, 0);
  for (size_t t = 0; t < counts.size(); ++t) {
    const train::Segment& target = segments[t + 1];
    const int64_t n = target.tokens.numel();
    counts[t] = n;
    if (target.has_padding())
      for (int64_t i = 0; i < n; ++i) counts[t] -= target.padding[i] != 0 ? 1 : 0;
  }
  return counts;
}

/// Rank r's loss weights for a rollout of T = local_tokens.size() steps: w_t·n_{r,t}/N_t, where
/// n_{r,t} = local_tokens[t], N_t is its sum over the ranks and w_t = weights[t] (empty: 1/T).
/// A step no rank has targets for gets weight 0. Collective: every rank calls it with the same T.
/// ShapeError when weights is neither empty nor T long; ValueError for a negative count.
template <Communicator C>
std::vector<double> global_step_weights(C& comm, const std::vector<int64_t>& local_tokens,
                                        const std::vector<double>& weights = {}) {
  const size_t steps = local_tokens.size();
  require<ShapeError>(weights.empty() || weights.size() == steps, "global_step_weights: ", weights.size(),
                      " weights given, expected T=", steps, " (or none for 1/T)");
  std::vector<double> total(steps);
  for (size_t t = 0; t < steps; ++t) {
    require<ValueError>(local_tokens[t] >= 0, "global_step_weights: local_tokens[", t, "] = ", local_tokens[t],
                        ", expected >= 0");
    total[t] = static_cast<double>(local_tokens[t]);  // exact below 2^53
  }
  all_reduce_sum_host(comm, total.data(), steps);
  std::vector<double> out(steps, 0.0);
  for (size_t t = 0; t < steps; ++t) {
    const double w = weights.empty() ? 1.0 / static_cast<double>(steps) : weights[t];
    if (total[t] > 0) out[t] = w * static_cast<double>(local_tokens[t]) / total[t];
  }
  return out;
}

/// Sums the gradients of the parameter stores across the ranks of a communicator whose memory is
/// the stores' backend (comm's `backend` = B). Every rank must hold the same stores: the same
/// parameters, in the same order, of the same sizes (checked at construction).
template <Communicator C, class T, class B>
class DataParallel {
  static_assert(std::is_same_v<typename C::backend, B>,
                "dist::DataParallel: the communicator's buffers live in another backend's memory than the "
                "parameters (MpiCommunicator: Cpu, NcclCommunicator: Cuda)");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "dist::DataParallel: the communicators reduce float or double parameters");

 public:
  using Store = nn::ParameterStore<T, B>;

  /// `bucket_elements`: gradients of parameters smaller than this are packed into buckets of
  /// this many elements and reduced together (one collective per bucket, not per parameter).
  /// Collective. ShapeError on every rank when the ranks' parameter layouts differ; ValueError
  /// for an empty store list or bucket_elements < 1.
  DataParallel(C& comm, std::vector<Store*> stores, size_t bucket_elements = size_t{1} << 18)
      : comm_(&comm), stores_(std::move(stores)), bucket_elements_(bucket_elements) {
    require<ValueError>(!stores_.empty(), "DataParallel: no parameter store given, expected at least one");
    require<ValueError>(bucket_elements_ >= 1, "DataParallel: bucket_elements = 0, expected >= 1");
    check_layout();
  }

  C& communicator() { return *comm_; }

  /// Every rank's parameter values (and AdamW moments, where rank `root` has them) become
  /// rank `root`'s. Collective; call once before training (or after loading on one rank).
  void broadcast_parameters(int root = 0) {
    double has_moments = 0;
    for (auto* store : stores_)
      for (auto& p : *store) has_moments += p->adam_m.defined() ? 1 : 0;
    broadcast_host(*comm_, &has_moments, 1, root);
    for (auto* store : stores_)
      for (auto& p : *store) {
        comm_->broadcast(p->value.data(), static_cast<size_t>(p->numel()), root);
        p->master = {};  // a mixed-precision master copy is re-taken from the new value
        if (has_moments == 0) continue;
        if (!p->adam_m.defined()) {
          p->adam_m = Tensor<master_t<T>, B>(p->shape(), store->context().arena());
          p->adam_v = Tensor<master_t<T>, B>(p->shape(), store->context().arena());
        }
        comm_->broadcast(p->adam_m.data(), static_cast<size_t>(p->numel()), root);
        comm_->broadcast(p->adam_v.data(), static_cast<size_t>(p->numel()), root);
      }
  }

  /// After a rollout on this rank (its gradient in the stores, its result `local`): every rank's
  /// gradients become the sum over the ranks, in rank order, and the result is the global one
  /// (losses and tokens summed). If any rank met a non-finite gradient (local.finite false) or
  /// the sum is non-finite, every rank zeroes its gradients and returns finite = false, so
  /// either every rank steps or none does. Collective.
  train::RolloutResult reduce_gradients(const train::RolloutResult& local) {
    double totals[3] = {local.loss, static_cast<double>(local.tokens), local.finite ? 0.0 : 1.0};
    all_reduce_sum_host(*comm_, totals, 3);
    train::RolloutResult global;
    global.loss = totals[0];
    global.tokens = static_cast<int64_t>(totals[1]);
    global.finite = totals[2] == 0 && std::isfinite(global.loss);
    if (global.finite) {
      reduce_all();
      global.finite = count_nonfinite() == 0;  // the same bits on every rank: the same verdict
    }
    if (!global.finite)
      for (auto* store : stores_) store->zero_grad();
    return global;
  }

  /// FNV-1a over the bytes of every parameter value, in store order.
  uint64_t parameter_hash() const {
    uint64_t h = 0xcbf29ce484222325ull;
    for (auto* store : stores_)
      for (auto& p : *store)
        for (const T& x : p->value.to_host()) {
          unsigned char bytes[sizeof(T)];
          std::memcpy(bytes, &x, sizeof(T));
          for (unsigned char b : bytes) h = (h ^ b) * 0x100000001b3ull;
        }
    return h;
  }

  /// StateError on every rank unless every rank's parameters equal rank 0's bit for bit
  /// (compared by parameter_hash). Collective.
  void check_replicas() {
    const uint64_t mine = parameter_hash();
    double root[2] = {static_cast<double>(mine >> 32), static_cast<double>(mine & 0xffffffffu)};  // exact halves
    broadcast_host(*comm_, root, 2, 0);
    double differ = (root[0] == static_cast<double>(mine >> 32) && root[1] == static_cast<double>(mine & 0xffffffffu)) ? 0 : 1;
    all_reduce_sum_host(*comm_, &differ, 1);
    require<StateError>(differ == 0, "DataParallel::check_replicas: ", differ, " of ", comm_->size(),
                        " ranks hold parameters that differ from rank 0's (expected bit-identical replicas)");
  }

 private:
  void check_layout() {
    // Σ over ranks of (count − rank 0's count)² is 0 exactly when every rank agrees.
    std::vector<double> layout;
    for (auto* store : stores_) {
      layout.push_back(static_cast<double>(store->size()));
      for (auto& p : *store) layout.push_back(static_cast<double>(p->numel()));
    }
    double count = static_cast<double>(layout.size());
    broadcast_host(*comm_, &count, 1, 0);
    double mismatch = count == static_cast<double>(layout.size()) ? 0.0 : 1.0;
    all_reduce_sum_host(*comm_, &mismatch, 1);
    if (mismatch == 0) {
      std::vector<double> root = layout;
      broadcast_host(*comm_, root.data(), root.size(), 0);
      for (size_t i = 0; i < layout.size(); ++i) mismatch += root[i] == layout[i] ? 0.0 : 1.0;
      all_reduce_sum_host(*comm_, &mismatch, 1);
    }
    require<ShapeError>(mismatch == 0, "DataParallel: the ranks' parameter stores differ (", mismatch,
                        " mismatching counts; expected the same parameters, in the same order and sizes, on every rank)");
  }

  // Large gradients are reduced in place; small ones packed into a bucket, reduced, unpacked.
  void reduce_all() {
    using Traits = BackendTraits<B>;
    std::vector<std::pair<Store*, nn::Parameter<T, B>*>> pending;
    size_t filled = 0;
    auto flush = [&] {
      if (pending.empty()) return;
      auto& ctx = pending.front().first->context();
      if (!bucket_.defined()) bucket_ = Tensor<T, B>(Shape{static_cast<int64_t>(bucket_elements_)}, ctx.arena());
      size_t at = 0;
      for (auto& [store, p] : pending) {
        Traits::copy_device(ctx, bucket_.data() + at, p->grad.data(), static_cast<size_t>(p->numel()) * sizeof(T));
        at += static_cast<size_t>(p->numel());
      }
      comm_->all_reduce_sum(bucket_.data(), at);
      at = 0;
      for (auto& [store, p] : pending) {
        Traits::copy_device(ctx, p->grad.data(), bucket_.data() + at, static_cast<size_t>(p->numel()) * sizeof(T));
        at += static_cast<size_t>(p->numel());
      }
      pending.clear();
      filled = 0;
    };
    for (auto* store : stores_)
      for (auto& p : *store) {
        const size_t n = static_cast<size_t>(p->numel());
        if (n >= bucket_elements_) {
          comm_->all_reduce_sum(p->grad.data(), n);
          continue;
        }
        if (filled + n > bucket_elements_) flush();
        pending.emplace_back(store, p.get());
        filled += n;
      }
    flush();
  }

  int64_t count_nonfinite() {
    int64_t bad = 0;
    for (auto* store : stores_)
      for (auto& p : *store) bad += BackendTraits<B>::count_nonfinite(store->context(), p->grad.data(), p->numel());
    return bad;
  }

  C* comm_;
  std::vector<Store*> stores_;
  size_t bucket_elements_;
  Tensor<T, B> bucket_;
};

}  // namespace mnemo::dist
