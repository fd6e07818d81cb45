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
//   // or, overlapped with the backward pass: dp.reduce_overlapped([&] { return mrbp.rollout(...); })
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
// seam, before clipping and the optimizer, so no trainer code is duplicated. reduce_overlapped
// wraps the rollout instead and starts each bucket's sum during the rollout's last reverse sweep,
// as soon as its gradients are final (autograd::Tape::final_sweep): under BPTT and MRBP every
// step adds to every gradient, so the overlap is with that one step's backward pass. Both give
// the same bits: every element is summed in rank order whatever the bucket or the timing.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mnemo/autograd/tape.hpp"
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

namespace dp_detail {
/// `C::PendingSum<T>` for a NonBlockingSum communicator, an empty type otherwise.
template <class C, class T, bool NonBlocking = NonBlockingSum<C, T>>
struct Pending {
  struct type {};
};
template <class C, class T>
struct Pending<C, T, true> {
  using type = typename C::template PendingSum<T>;
};
}  // namespace dp_detail

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
    build_buckets();
  }

  /// One reduction unit: parameters whose gradients are summed by one collective.
  struct Bucket {
    std::vector<nn::Parameter<T, B>*> params;  ///< in bucket order (reverse registration order)
    size_t elements = 0;                       ///< Σ numel
  };
  /// The fixed bucket layout, in reduction order: walking the parameters from the last store's
  /// last to the first store's first, consecutive parameters are packed into one bucket while it
  /// holds at most bucket_elements; a parameter of bucket_elements or more is a bucket alone
  /// (reduced in place by reduce_gradients). The same on every rank, independent of timing.
  const std::vector<Bucket>& buckets() const { return buckets_; }

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

  /// Runs `rollout()` (a trainer's rollout on this rank's rows, returning its RolloutResult) and
  /// reduces its gradients like reduce_gradients, overlapping the reduction with the rollout's
  /// last reverse sweep: the trainers report each parameter's gradient as soon as it is final
  /// (autograd::Tape::final_sweep), and a bucket's sum starts once all its gradients are final
  /// and the buckets before it have started (non-blocking on a NonBlockingSum communicator,
  /// MpiCommunicator; otherwise the blocking all_reduce_sum at that point). The result has the
  /// same bits as rollout() followed by reduce_gradients. Collective: every rank calls it in the
  /// same place. If `rollout` throws after a bucket started, the transfers are left pending:
  /// stop the job (MpiSession::abort), as for any error on one rank.
  template <class Rollout>
  train::RolloutResult reduce_overlapped(Rollout&& rollout) {
    begin_overlap();
    Observer observer(this);
    train::RolloutResult local;
    {
      autograd::ObserveGradients on(observer);
      local = rollout();
    }
    return finish_overlap(local);
  }

  /// Buckets of the last reduce_overlapped whose sum had started before the last gradient of
  /// the rollout became final, i.e. while the backward pass still had work to do (the rest start
  /// at its end or after the rollout).
  size_t overlapped_buckets() const { return overlapped_; }

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

  // Bucket layout (buckets()): parameters from the last store's last to the first store's
  // first; consecutive ones are packed while the bucket holds at most bucket_elements; a
  // parameter of bucket_elements or more is a bucket of its own. Reverse registration order
  // because the reverse sweep finalises the last-used parameters first.
  void build_buckets() {
    size_t index = 0;
    for (auto* store : stores_) index += store->size();
    for (size_t s = stores_.size(); s-- > 0;)
      for (size_t i = stores_[s]->size(); i-- > 0;) {
        nn::Parameter<T, B>* p = &(*stores_[s])[i];
        const size_t n = static_cast<size_t>(p->numel());
        const bool alone = n >= bucket_elements_;
        if (buckets_.empty() || alone || buckets_.back().elements + n > bucket_elements_ ||
            buckets_.back().elements >= bucket_elements_)
          buckets_.push_back(Bucket{});
        buckets_.back().params.push_back(p);
        buckets_.back().elements += n;
        --index;
        slot_index_.emplace(p->slot.get(), std::make_pair(buckets_.size() - 1, index));
      }
    parameter_count_ = slot_index_.size();
  }

  Tensor<T, B>& context_buffer(Tensor<T, B>& buffer, size_t n) {
    if (!buffer.defined() || static_cast<size_t>(buffer.numel()) < n)
      buffer = Tensor<T, B>(Shape{static_cast<int64_t>(n)}, stores_.front()->context().arena());
    return buffer;
  }
  // Copies the bucket's gradients into `buffer` (to_buffer) or back out of it.
  void copy_bucket(const Bucket& bucket, T* buffer, bool to_buffer) {
    auto& ctx = stores_.front()->context();
    size_t at = 0;
    for (auto* p : bucket.params) {
      const size_t bytes = static_cast<size_t>(p->numel()) * sizeof(T);
      if (to_buffer) BackendTraits<B>::copy_device(ctx, buffer + at, p->grad.data(), bytes);
      else BackendTraits<B>::copy_device(ctx, p->grad.data(), buffer + at, bytes);
      at += static_cast<size_t>(p->numel());
    }
  }
  // Blocking: a lone parameter in place, a packed bucket through the shared scratch.
  void reduce_bucket(const Bucket& bucket) {
    if (bucket.params.size() == 1) {
      comm_->all_reduce_sum(bucket.params.front()->grad.data(), bucket.elements);
      return;
    }
    T* scratch = context_buffer(bucket_, bucket_elements_).data();
    copy_bucket(bucket, scratch, true);
    comm_->all_reduce_sum(scratch, bucket.elements);
    copy_bucket(bucket, scratch, false);
  }
  void reduce_all() {
    for (const Bucket& bucket : buckets_) reduce_bucket(bucket);
  }

  // Overlapped path (reduce_overlapped). Buckets start strictly in bucket order: bucket k once
  // all its gradients are final and buckets 0..k-1 have started, so every rank issues the same
  // collectives in the same order whatever the timing.
  static constexpr bool kNonBlocking = NonBlockingSum<C, T>;
  using Pending = typename dp_detail::Pending<C, T>::type;

  void begin_overlap() {
    remaining_.assign(buckets_.size(), 0);
    for (size_t k = 0; k < buckets_.size(); ++k) remaining_[k] = buckets_[k].params.size();
    reported_.assign(parameter_count_, 0);
    started_ = 0;
    overlapped_ = 0;
    pending_.assign(buckets_.size(), Pending{});
    if constexpr (kNonBlocking) send_.resize(buckets_.size());
  }
  void final_sweep_begins(const std::unordered_set<const autograd::GradSlotBase*>& used) {
    for (const auto& [slot, where] : slot_index_)  // ascending bucket order below, whatever the map's order
      if (used.count(slot) == 0) mark_final(where.first, where.second);
    start_ready();
  }
  void mark_final(size_t bucket, size_t index) {
    if (reported_[index] != 0) return;
    reported_[index] = 1;
    --remaining_[bucket];
  }
  void start_ready() {
    while (started_ < buckets_.size() && remaining_[started_] == 0) start_bucket(started_++);
  }
  void gradient_final(const autograd::GradSlotBase& slot) {
    auto it = slot_index_.find(&slot);
    if (it == slot_index_.end()) return;  // not a parameter of these stores
    overlapped_ = started_;  // started before this report; the last report leaves the figure
    mark_final(it->second.first, it->second.second);
    start_ready();
    if constexpr (kNonBlocking)
      for (size_t k = 0; k < started_; ++k) comm_->progress(pending_[k]);
  }
  void start_bucket(size_t k) {
    if constexpr (kNonBlocking) {
      T* buffer = context_buffer(send_[k], buckets_[k].elements).data();
      copy_bucket(buckets_[k], buffer, true);
      pending_[k] = comm_->start_all_reduce_sum(buffer, buckets_[k].elements);
    } else {
      reduce_bucket(buckets_[k]);  // the transport's own ordering (NCCL: enqueued on its stream)
    }
  }
  train::RolloutResult finish_overlap(const train::RolloutResult& local) {
    while (started_ < buckets_.size()) start_bucket(started_++);
    double totals[3] = {local.loss, static_cast<double>(local.tokens), local.finite ? 0.0 : 1.0};
    all_reduce_sum_host(*comm_, totals, 3);
    if constexpr (kNonBlocking)
      for (size_t k = 0; k < buckets_.size(); ++k) {
        comm_->finish_all_reduce_sum(pending_[k]);
        copy_bucket(buckets_[k], send_[k].data(), false);
      }
    train::RolloutResult global;
    global.loss = totals[0];
    global.tokens = static_cast<int64_t>(totals[1]);
    global.finite = totals[2] == 0 && std::isfinite(global.loss) && count_nonfinite() == 0;
    if (!global.finite)
      for (auto* store : stores_) store->zero_grad();
    return global;
  }

  struct Observer final : autograd::GradientObserver {
    DataParallel* self;
    explicit Observer(DataParallel* s) : self(s) {}
    void final_sweep_begins(const std::unordered_set<const autograd::GradSlotBase*>& used) override {
      self->final_sweep_begins(used);
    }
    void gradient_final(const autograd::GradSlotBase& slot) override { self->gradient_final(slot); }
  };

  int64_t count_nonfinite() {
    int64_t bad = 0;
    for (auto* store : stores_)
      for (auto& p : *store) bad += BackendTraits<B>::count_nonfinite(store->context(), p->grad.data(), p->numel());
    return bad;
  }

  C* comm_;
  std::vector<Store*> stores_;
  size_t bucket_elements_;
  Tensor<T, B> bucket_;  // scratch of the blocking path
  std::vector<Bucket> buckets_;
  // parameter slot -> (its bucket, its index in store order)
  std::unordered_map<const autograd::GradSlotBase*, std::pair<size_t, size_t>> slot_index_;
  size_t parameter_count_ = 0;
  // Overlap state of the rollout in progress.
  std::vector<size_t> remaining_;  // per bucket: gradients not yet final
  std::vector<uint8_t> reported_;  // per parameter
  size_t started_ = 0;             // buckets 0..started_-1 have started
  size_t overlapped_ = 0;
  std::vector<Pending> pending_;
  std::vector<Tensor<T, B>> send_;  // per bucket: the packed gradients in flight
};

}  // namespace mnemo::dist
