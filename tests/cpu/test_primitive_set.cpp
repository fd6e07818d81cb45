// The primitive-set concept (backend/primitive_set.hpp) that both backends must satisfy: Cpu
// satisfies it (the CUDA side is asserted in tests/cuda/test_model_primitives.cu), and a traits
// struct missing one primitive, or with a primitive of the wrong signature, does not.
#include <catch2/catch.hpp>

#include "mnemo/backend/cpu.hpp"
#include "mnemo/backend/primitive_set.hpp"

using namespace mnemo;

namespace {
/// The CPU traits with one primitive hidden (a deleted member of the same name).
struct WithoutSigmoidGateBackward : BackendTraits<Cpu> {
  static void sigmoid_gate_backward() = delete;
};
/// The CPU traits with the writer's forward taking no padding argument.
struct WriterWithoutPadding : BackendTraits<Cpu> {
  template <class T>
  static void memformer_writer_forward(Context&, const T*, const T*, const T*, const T*, const T*, T*, T*,
                                       const MemformerWriterDims&, compute_t<T>) {}
};
}  // namespace

static_assert(BackendPrimitives<BackendTraits<Cpu>, float>);
static_assert(BackendPrimitives<BackendTraits<Cpu>, double>);
static_assert(!BackendPrimitives<WithoutSigmoidGateBackward, float>);
static_assert(!BackendPrimitives<WriterWithoutPadding, double>);

TEST_CASE("the primitive-set concept holds for Cpu and rejects incomplete traits", "[backend][parity]") {
  CHECK(BackendPrimitives<BackendTraits<Cpu>, double>);
  CHECK_FALSE(BackendPrimitives<WithoutSigmoidGateBackward, double>);
  CHECK_FALSE(BackendPrimitives<WriterWithoutPadding, float>);
}
