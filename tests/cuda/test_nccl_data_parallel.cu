// dist::NcclCommunicator and dist::DataParallel on the Cuda backend, one rank (one GPU): the
// rank-order sum kernel on three gathered copies, the one-rank collectives, the non-finite rule
// and the replica check (docs/distributed.md). Built when NCCL is found (MNEMO_TEST_NCCL); runs
// on a GPU machine. Several ranks need one GPU each (NCCL rejects two ranks on one device).
#include "support/cuda_testing.cuh"

#if defined(MNEMO_TEST_NCCL)
#include <cmath>
#include <vector>

#include "mnemo/dist/data_parallel.hpp"
#include "mnemo/dist/nccl_communicator.cuh"

using namespace mnemo;
using namespace mnemo::test;

TEST_CASE("NCCL rank-order sum kernel adds gathered copies in rank order", "[cuda][dist]") {
  // Three "ranks" of two elements: 1, -1, 1e-20 cancel in rank order and keep the small value.
  const std::vector<double> gathered = {1.0, 2.0, -1.0, 3.0, 1e-20, 4.0};
  Tensor<double, Cuda> g(Shape{6}), out(Shape{2});
  CudaTraits::copy_from_host(gpu_ctx(), g.data(), gathered.data(), gathered.size() * sizeof(double));
  dist::nccl_detail::rank_order_sum<double><<<1, 32, 0, gpu_ctx().stream()>>>(g.data(), out.data(), 2, 3);
  MNEMO_CUDA_CHECK(cudaGetLastError());
  const auto host = out.to_host();
  CHECK(host[0] == 1e-20);
  CHECK(host[1] == 9.0);
}

TEST_CASE("DataParallel over a one-rank NCCL communicator", "[cuda][dist]") {
  dist::NcclCommunicator comm(dist::NcclCommunicator::new_id(), 0, 1, gpu_ctx().stream());
  nn::ParameterStore<float, Cuda> store(3, gpu_ctx());
  store.add("w", {5}, nn::Init::normal(1.0));
  store.add("b", {3}, nn::Init::zeros());
  dist::DataParallel<dist::NcclCommunicator, float, Cuda> dp(comm, {&store}, 4);
  const auto before = store[0].value.to_host();
  dp.broadcast_parameters();
  CHECK(store[0].value.to_host() == before);
  CHECK_NOTHROW(dp.check_replicas());
  store[0].grad.fill(0.5f);
  auto r = dp.reduce_gradients(train::RolloutResult{1.5, 7, true});
  CHECK(r.finite);
  CHECK(r.tokens == 7);
  CHECK(r.loss == 1.5);
  CHECK(store[0].grad.to_host() == std::vector<float>(5, 0.5f));
  store[1].grad.fill(NAN);
  r = dp.reduce_gradients(train::RolloutResult{});
  CHECK(!r.finite);
  CHECK(store[0].grad.to_host() == std::vector<float>(5, 0.0f));
  // The overlapped entry point without non-blocking sums: each bucket reduced when it starts.
  r = dp.reduce_overlapped([&] {
    store[0].grad.fill(0.25f);
    store[1].grad.fill(2.0f);
    return train::RolloutResult{0.5, 3, true};
  });
  CHECK(r.finite);
  CHECK(r.tokens == 3);
  CHECK(store[0].grad.to_host() == std::vector<float>(5, 0.25f));
  CHECK(store[1].grad.to_host() == std::vector<float>(3, 2.0f));
  CHECK_THROWS_AS(comm.broadcast(store[0].value.data(), 5, 1), ValueError);
}
#endif  // MNEMO_TEST_NCCL
