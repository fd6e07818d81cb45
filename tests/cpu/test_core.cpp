// core: Shape and check_shape messages, Tensor aliasing / bounds, the Arena's accounting, and the
// Philox RNG against the Random123 known-answer vectors and its statistics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;

namespace {
/// The message of the exception `f` throws (empty if none).
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

// ---- Shape --------------------------------------------------------------------------------------

TEST_CASE("Shape: extents, str() and derived counts", "[core][shape]") {
  const Shape s{2, 64, 256};
  CHECK(s.rank() == 3);
  CHECK(s.str() == "[2, 64, 256]");
  CHECK(s.numel() == 2 * 64 * 256);
  CHECK(s.rows() == 128);
  CHECK(s.last() == 256);
  CHECK(s[-1] == 256);
  CHECK(s[-3] == 2);
  CHECK(s.with_last(7) == Shape{2, 64, 7});
  CHECK(s.to_vector() == std::vector<int64_t>{2, 64, 256});
  CHECK(Shape(std::vector<int64_t>{2, 64, 256}) == s);
  CHECK(Shape{2, 64} != s);
  CHECK(Shape{2, 64, 255} != s);

  const Shape scalar;
  CHECK(scalar.rank() == 0);
  CHECK(scalar.str() == "[]");
  CHECK(scalar.numel() == 1);
  CHECK(scalar.rows() == 1);
  CHECK(scalar.last() == 1);
  CHECK(Shape{3, 0, 5}.numel() == 0);
  CHECK(Shape{1, 2, 3, 4, 5, 6, 7, 8}.numel() == 40320);
}

TEST_CASE("Shape: negative extents, rank above 8 and bad indices throw ShapeError", "[core][shape][errors]") {
  MNEMO_CHECK_THROWS(Shape({2, -3}), ShapeError, "negative extent -3 in dimension 1");
  MNEMO_CHECK_THROWS(Shape(std::vector<int64_t>(9, 1)), ShapeError, "rank 9 exceeds the maximum rank 8");
  MNEMO_CHECK_THROWS(Shape({1, 2, 3, 4, 5, 6, 7, 8, 9}), ShapeError, "rank 9 exceeds the maximum rank 8");
  const Shape s{4, 5, 6};
  MNEMO_CHECK_THROWS(s[3], ShapeError, "dimension 3 out of range for a rank-3 shape");
  MNEMO_CHECK_THROWS(s[-4], ShapeError, "dimension -4 out of range for a rank-3 shape");
  MNEMO_CHECK_THROWS(Shape{}[0], ShapeError, "dimension 0 out of range for a rank-0 shape");
  Shape m{4, 5};
  MNEMO_CHECK_THROWS(m[2] = 1, ShapeError, "dimension 2 out of range for a rank-2 shape");
}

TEST_CASE("check_shape: the message names what, the actual shape and the named expectation", "[core][shape][errors]") {
  const Shape memory{2, 64, 256};
  CHECK(message_of([&] {
          check_shape("memory", memory, {{"batch", 2}, {"slots", 64}, {"d_model", 512}});
        }) == "ShapeError: memory has shape [2, 64, 256], expected [batch=2, slots=64, d_model=512]");
  CHECK_THROWS_AS(check_shape("memory", memory, {{"batch", 2}, {"slots", 64}, {"d_model", 512}}), ShapeError);
  // `any` extents accept everything and print as a bare name; a rank mismatch fails too.
  CHECK_NOTHROW(check_shape("memory", memory, {{"batch", Dim::any}, {"slots", 64}, {"d_model", Dim::any}}));
  CHECK(message_of([&] { check_shape("x", memory, {{"batch", Dim::any}, {"d_model", 256}}); }) ==
        "ShapeError: x has shape [2, 64, 256], expected [batch, d_model=256]");
  CHECK(message_of([&] { check_shape("bias", Shape{}, {{"d", 3}}); }) ==
        "ShapeError: bias has shape [], expected [d=3]");
  CHECK(message_of([&] { check_shape("ids", Shape{4}, {{"batch", 4}, {"len", Dim::any}}); }) ==
        "ShapeError: ids has shape [4], expected [batch=4, len]");
}

TEST_CASE("Shape::appended adds one dimension and keeps the rank limit", "[core][shape][errors]") {
  CHECK(Shape{4, 5}.appended(6) == Shape{4, 5, 6});
  CHECK(Shape{}.appended(3) == Shape{3});
  CHECK(Shape{2}.appended(0).numel() == 0);
  MNEMO_CHECK_THROWS(Shape({1, 2, 3, 4, 5, 6, 7, 8}).appended(9), ShapeError, "rank 9 exceeds the maximum rank 8");
  MNEMO_CHECK_THROWS(Shape{2}.appended(-1), ShapeError, "negative extent -1 in dimension 1");
}

TEST_CASE("Label: a two-part name reads as one in every check's message", "[core][shape][errors]") {
  const Label tokens("Memformer::encode: input", " tokens");
  CHECK(detail::cat(tokens, " has ", 3) == "Memformer::encode: input tokens has 3");
  CHECK(detail::cat(Label("plain")) == "plain");
  CHECK(message_of([&] { check_shape(tokens, Shape{2, 5}, {{"batch", 2}, {"segment_length", 4}}); }) ==
        "ShapeError: Memformer::encode: input tokens has shape [2, 5], expected [batch=2, segment_length=4]");
  CHECK_NOTHROW(check_shape(tokens, Shape{2, 4}, {{"batch", 2}, {"segment_length", 4}}));
}

TEST_CASE("detail::cat prints every argument as std::ostream << does with default flags", "[core][errors]") {
  // core/error.hpp builds messages with snprintf instead of <sstream>; the text must not change.
  const auto streamed = [](const auto&... args) {
    std::ostringstream out;
    (out << ... << args);
    return out.str();
  };
  enum Unscoped { kSeven = 7 };
  const std::string text = "name";
  const std::string_view view = "view";
  const char* c_string = "c-string";
  const double values[] = {0.0,  -0.0, 1.0,    0.1,    -2.5,   1e-7,  123456789.0, 1e300, 0.30000000000000004,
                           1e21, 42.0, 1.5e-5, 999999, 1e6,    -1e-300, std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()};
  for (double v : values) {
    CHECK(detail::cat(v) == streamed(v));
    CHECK(detail::cat(static_cast<float>(v)) == streamed(static_cast<float>(v)));
  }
  CHECK(detail::cat(3.25L) == streamed(3.25L));
  CHECK(detail::cat(int64_t{-9223372036854775807LL - 1}) == "-9223372036854775808");
  CHECK(detail::cat(std::numeric_limits<uint64_t>::max()) == streamed(std::numeric_limits<uint64_t>::max()));
  CHECK(detail::cat(int{-3}, short{4}, 5u, size_t{6}, int64_t{-7}) == streamed(int{-3}, short{4}, 5u, size_t{6}, int64_t{-7}));
  CHECK(detail::cat('x', int8_t{65}, uint8_t{66}, true, false) == streamed('x', int8_t{65}, uint8_t{66}, true, false));
  CHECK(detail::cat(kSeven) == streamed(kSeven));
  CHECK(detail::cat("literal ", text, ' ', view, ' ', c_string) == "literal name view c-string");
  CHECK(detail::cat() == "");
  CHECK(message_of([] { require<ValueError>(false, "p is ", 1.5, ", expected [0, ", 1, ")"); }) ==
        "ValueError: p is 1.5, expected [0, 1)");
}

// ---- Tensor -------------------------------------------------------------------------------------

TEST_CASE("Tensor: copies alias, clone() is independent", "[core][tensor]") {
  auto a = Tensor<double, Cpu>::from_host({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(a.unique());
  Tensor<double, Cpu> b = a;  // alias
  CHECK(b.shares_storage_with(a));
  CHECK_FALSE(a.unique());
  b[4] = 50;
  CHECK(a.at({1, 1}) == 50);

  const auto c = a.clone();
  CHECK_FALSE(c.shares_storage_with(a));
  CHECK(c.unique());
  CHECK(c.to_host() == std::vector<double>{1, 2, 3, 4, 50, 6});
  a[0] = -1;
  CHECK(c[0] == 1);
  CHECK(b[0] == -1);

  const Tensor<double, Cpu> undefined;
  CHECK_FALSE(undefined.defined());
  CHECK(undefined.numel() == 0);
  CHECK(undefined.data() == nullptr);
  CHECK_FALSE(undefined.clone().defined());
  CHECK(Tensor<float, Cpu>::zeros({3}).to_host() == std::vector<float>{0, 0, 0});
  CHECK(Tensor<int32_t, Cpu>::full({2}, -7).to_host() == std::vector<int32_t>{-7, -7});
}

TEST_CASE("Tensor: the shared count's block is recycled on the thread that frees it", "[core][tensor]") {
  using Block = detail::BlockFreeList<64, 16>;
  // Drain this thread's list first, so the counts below start from a known state.
  std::vector<void*> drained;
  while (Block::cached() > 0) drained.push_back(Block::take());
  for (void* p : drained) ::operator delete(p, std::align_val_t{16});
  void* a = Block::take();
  void* b = Block::take();
  CHECK(Block::cached() == 0);
  Block::give(a);
  Block::give(b);
  CHECK(Block::cached() == 2);
  void* first = Block::take();
  void* second = Block::take();
  CHECK(first == b);  // last in, first out
  CHECK(second == a);
  CHECK(Block::cached() == 0);
  Block::give(first);  // back to the list, freed with this thread's list at exit
  Block::give(second);
  while (Block::cached() > 0) ::operator delete(Block::take(), std::align_val_t{16});
  // A block freed on another thread joins that thread's list, not this one's; the list is freed
  // when that thread ends.
  void* c = Block::take();
  std::size_t cached_there = 0;
  std::thread([c, &cached_there] {
    Block::give(c);
    cached_there = Block::cached();
  }).join();
  CHECK(cached_there == 1);
  CHECK(Block::cached() == 0);
  // At most kCachedBlocks stay cached; the rest go back to operator delete.
  std::vector<void*> many(Block::kCachedBlocks + 3);
  for (auto& p : many) p = Block::take();
  for (void* p : many) Block::give(p);
  CHECK(Block::cached() == Block::kCachedBlocks);

  // Tensors on pooled control blocks: an alias keeps the storage alive after the original goes
  // (that no heap block is taken per tensor is asserted by the streaming-step test,
  // test_memformer_model.cpp).
  Tensor<float, Cpu> keep;
  {
    Tensor<float, Cpu> t(Shape{3});
    t.fill(2.0f);
    keep = t.reshape(Shape{1, 3});
  }
  CHECK(keep.unique());
  CHECK(keep.at({0, 2}) == 2.0f);
  // Made on a thread that has ended (its list freed with it), released on this one.
  Tensor<float, Cpu> made_elsewhere;
  std::thread([&made_elsewhere] { made_elsewhere = Tensor<float, Cpu>::full(Shape{2}, 5.0f); }).join();
  CHECK(made_elsewhere[1] == 5.0f);
  made_elsewhere = Tensor<float, Cpu>();
  CHECK_FALSE(made_elsewhere.defined());
}

TEST_CASE("Tensor: slice aliases rows and checks its bounds", "[core][tensor][errors]") {
  auto t = Tensor<float, Cpu>::from_host({4, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32});
  const auto s = t.slice(1, 2);
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.shares_storage_with(t));
  CHECK(s.data() == t.data() + 3);
  CHECK(s.to_host() == std::vector<float>{10, 11, 12, 20, 21, 22});
  auto s2 = s.slice(1, 1);  // a slice of a slice: offsets add up
  CHECK(s2.data() == t.data() + 6);
  s2[2] = -22;
  CHECK(t.at({2, 2}) == -22);
  CHECK(t.slice(4, 0).numel() == 0);
  CHECK(t.slice(0, 4).to_host() == t.to_host());

  MNEMO_CHECK_THROWS(t.slice(3, 2), ShapeError, "slice: rows [3, 5) out of range for shape [4, 3]");
  MNEMO_CHECK_THROWS(t.slice(-1, 1), ShapeError, "slice: rows [-1, 0) out of range for shape [4, 3]");
  MNEMO_CHECK_THROWS(t.slice(1, -1), ShapeError, "out of range for shape [4, 3]");
  MNEMO_CHECK_THROWS(s.slice(1, 2), ShapeError, "slice: rows [1, 3) out of range for shape [2, 3]");
  const auto scalar = Tensor<float, Cpu>::full({}, 1.0f);
  MNEMO_CHECK_THROWS(scalar.slice(0, 1), ShapeError, "slice: a rank-0 tensor has no dimension 0");
}

TEST_CASE("Tensor: reshape, from_host, copy_from and at() reject mismatched sizes", "[core][tensor][errors]") {
  auto t = Tensor<double, Cpu>::from_host({4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto r = t.reshape({2, 6});
  CHECK(r.shares_storage_with(t));
  CHECK(r.at({1, 0}) == 6);
  CHECK(t.reshape({12}).rank() == 1);
  MNEMO_CHECK_THROWS(t.reshape({5, 2}), ShapeError, "reshape: cannot view [4, 3] (12 elements) as [5, 2] (10 elements)");

  MNEMO_CHECK_THROWS(TensorD::from_host({2, 2}, {1.0, 2.0, 3.0}), ShapeError,
                     "from_host: shape [2, 2] holds 4 elements, 3 values given");
  MNEMO_CHECK_THROWS(TensorD::from_host({2}, std::vector<double>(5, 0.0)), ShapeError,
                     "from_host: shape [2] holds 2 elements, 5 values given");

  auto dst = Tensor<double, Cpu>::zeros({3, 4});
  dst.copy_from(t);  // same element count: allowed, row-major order kept
  CHECK(dst.at({2, 3}) == 11);
  auto small = Tensor<double, Cpu>::zeros({5});
  MNEMO_CHECK_THROWS(small.copy_from(t), ShapeError, "copy_from: destination [5] and source [4, 3] differ in element count");

  CHECK(t.at({3, 2}) == 11);
  MNEMO_CHECK_THROWS(t.at({4, 0}), ShapeError, "at: index 4 out of range for dimension 0 of shape [4, 3]");
  MNEMO_CHECK_THROWS(t.at({0, -1}), ShapeError, "at: index -1 out of range for dimension 1 of shape [4, 3]");
  MNEMO_CHECK_THROWS(t.at({1}), ShapeError, "at: 1 indices for a rank-2 tensor");
  MNEMO_CHECK_THROWS(t.at({1, 1, 1}), ShapeError, "at: 3 indices for a rank-2 tensor");
}

// ---- Arena --------------------------------------------------------------------------------------

TEST_CASE("Arena: size classes, bytes in use, peak, reuse, reset_peak and release_cached", "[core][arena]") {
  CHECK(Arena::round_size(0) == 512);
  CHECK(Arena::round_size(1) == 512);
  CHECK(Arena::round_size(512) == 512);
  CHECK(Arena::round_size(513) == 1024);
  CHECK(Arena::round_size(size_t{1} << 20) == size_t{1} << 20);
  CHECK(Arena::round_size((size_t{1} << 20) + 1) == (size_t{1} << 20) + (size_t{1} << 17));  // 2 MiB / 16 steps
  CHECK(Arena::round_size(3 << 20) == 3 << 20);
  CHECK(Arena::round_size((3 << 20) + 1) == (3 << 20) + (size_t{1} << 18));  // 4 MiB / 16 steps

  Arena arena("test", &cpu::host_allocate, &cpu::host_free);
  void* a = arena.allocate(1000);  // class 1024
  CHECK(reinterpret_cast<uintptr_t>(a) % 256 == 0);
  auto st = arena.stats();
  CHECK(st.bytes_in_use == 1024);
  CHECK(st.peak_bytes == 1024);
  CHECK(st.bytes_reserved == 1024);
  CHECK(st.allocations == 1);
  CHECK(st.system_allocations == 1);

  void* b = arena.allocate(100);  // class 512
  CHECK(arena.stats().bytes_in_use == 1536);
  CHECK(arena.stats().peak_bytes == 1536);
  arena.deallocate(a, 1000);
  st = arena.stats();
  CHECK(st.bytes_in_use == 512);
  CHECK(st.peak_bytes == 1536);      // the high-water mark stays
  CHECK(st.bytes_reserved == 1536);  // the freed block is cached, not returned

  void* c = arena.allocate(600);  // same class as the freed block: reused, no system call
  CHECK(c == a);
  st = arena.stats();
  CHECK(st.allocations == 3);
  CHECK(st.system_allocations == 2);
  CHECK(st.bytes_in_use == 1536);

  void* d = arena.allocate(2000);  // class 2048: a new block
  CHECK(arena.stats().system_allocations == 3);
  CHECK(arena.stats().peak_bytes == 3584);
  arena.deallocate(d, 2000);
  arena.reset_peak();
  CHECK(arena.stats().peak_bytes == 1536);

  arena.deallocate(b, 100);
  arena.deallocate(c, 600);
  st = arena.stats();
  CHECK(st.bytes_in_use == 0);
  CHECK(st.bytes_reserved == 3584);
  arena.release_cached();
  st = arena.stats();
  CHECK(st.bytes_reserved == 0);
  void* e = arena.allocate(1024);  // the cache is empty: back to the system
  CHECK(arena.stats().system_allocations == 4);
  arena.deallocate(e, 1024);

  // Tensors return their storage to the arena they came from when the last alias goes.
  {
    Tensor<float, Cpu> t(Shape{300}, arena);  // 1200 bytes → class 1536
    CHECK(t.arena() == &arena);
    CHECK(arena.stats().bytes_in_use == 1536);
    Tensor<float, Cpu> alias = t;
    t = Tensor<float, Cpu>();
    CHECK(arena.stats().bytes_in_use == 1536);
  }
  CHECK(arena.stats().bytes_in_use == 0);
}

// ---- RNG ----------------------------------------------------------------------------------------

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[core][rng]") {
  using B = Philox4x32::Block;
  CHECK(Philox4x32::block({0, 0, 0, 0}, {0, 0}) == B{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(Philox4x32::block({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
        B{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(Philox4x32::block({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
        B{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});

  // RngKey: block i of stream (seed, stream) is Philox(counter = (i, stream), key = seed), words
  // in little-endian order; bits(4i + w) is word w of block i.
  const RngKey key{0x299f31d0a4093822ull, 0x03707344'13198a2eull};
  uint32_t out[4];
  key.block(0x85a308d3'243f6a88ull, out);
  CHECK(B{out[0], out[1], out[2], out[3]} == B{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
  CHECK(RngKey{}.bits(3) == 0x9b00dbd8u);
  CHECK(RngKey{}.uniform(0) == static_cast<float>(0x6627e8d5u >> 8) / 16777216.0f);
}

TEST_CASE("RngKey draws have the right mean and variance over 1e6 draws", "[core][rng]") {
  // Each bound is 6 standard errors of the estimate (a false failure has probability ~2e-9).
  constexpr int64_t n = 1'000'000;
  const RngKey key = RngKey{20240607, 0}.derive("statistics");
  double s1 = 0, s2 = 0, d1 = 0, d2 = 0, g1 = 0, g2 = 0, g4 = 0;
  int64_t tail = 0;
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float u = key.uniform(static_cast<uint64_t>(i));
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    s1 += u;
    s2 += static_cast<double>(u) * u;
    const double ud = key.uniform_double(static_cast<uint64_t>(i));
    d1 += ud;
    d2 += ud * ud;
    const double g = key.normal(static_cast<uint64_t>(i));
    g1 += g;
    g2 += g * g;
    g4 += g * g * g * g;
    tail += std::abs(g) > 1.959963984540054 ? 1 : 0;
  }
  const double mean_u = s1 / n, var_u = s2 / n - mean_u * mean_u;
  CHECK(lo >= 0.0f);
  CHECK(hi < 1.0f);
  // U(0,1): mean 1/2 (sd 1/sqrt(12)), variance 1/12 (sd of the estimate sqrt(1/180 / n)).
  CHECK(std::abs(mean_u - 0.5) < 6 * std::sqrt(1.0 / 12 / n));
  CHECK(std::abs(var_u - 1.0 / 12) < 6 * std::sqrt(1.0 / 180 / n));
  const double mean_d = d1 / n, var_d = d2 / n - mean_d * mean_d;
  CHECK(std::abs(mean_d - 0.5) < 6 * std::sqrt(1.0 / 12 / n));
  CHECK(std::abs(var_d - 1.0 / 12) < 6 * std::sqrt(1.0 / 180 / n));
  // N(0,1): mean 0 (sd 1/sqrt(n)), variance 1 (sd sqrt(2/n)), fourth moment 3 (sd sqrt(96/n)),
  // P(|g| > 1.96) = 0.05 (sd sqrt(0.05·0.95/n)).
  const double mean_g = g1 / n, var_g = g2 / n - mean_g * mean_g;
  CHECK(std::abs(mean_g) < 6 / std::sqrt(double(n)));
  CHECK(std::abs(var_g - 1) < 6 * std::sqrt(2.0 / n));
  CHECK(std::abs(g4 / n - 3) < 6 * std::sqrt(96.0 / n));
  CHECK(std::abs(double(tail) / n - 0.05) < 6 * std::sqrt(0.05 * 0.95 / n));
  // uniform() carries exactly 24 random bits.
  for (uint64_t i = 0; i < 100; ++i) {
    const double scaled = double(key.uniform(i)) * 16777216.0;
    CHECK(scaled == std::floor(scaled));
  }
}

TEST_CASE("RngKey::normal(i) is Box-Muller on uniform_double(2i) and uniform_double(2i + 1), bit for bit",
          "[core][rng]") {
  // normal() generates block i once and reads both uniforms from its four words; this is the
  // definition it must keep (parameter initialisation and every test input depend on it).
  const RngKey key = RngKey{7, 0}.derive("box-muller");
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{1000}, uint64_t{1} << 33}) {
    for (uint64_t j = i; j < i + 64; ++j) {
      const double u1 = key.uniform_double(2 * j), u2 = key.uniform_double(2 * j + 1);
      const double expected = std::sqrt(detail::box_muller_radius_squared(u1)) * detail::cos_turns(u2);
      REQUIRE(std::bit_cast<uint64_t>(key.normal(j)) == std::bit_cast<uint64_t>(expected));
    }
  }
}

TEST_CASE("RngKey::normals(first, count) equals normal(first + j) bit for bit, in every lane and tail",
          "[core][rng]") {
  // normals() runs the draws as vectorised loops; box_muller.hpp writes every fusable product as
  // mul_add so that the vector and the scalar code round alike (tested here in whatever build).
  const RngKey key = RngKey{11, 3}.derive("lanes");
  for (uint64_t first : {uint64_t{0}, uint64_t{5}, (uint64_t{1} << 32) - 7, uint64_t{1} << 33}) {
    for (int64_t count : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{17}, int64_t{100}}) {
      std::vector<double> drawn(static_cast<size_t>(count) + 1, 42.0);
      key.normals(first, count, drawn.data());
      INFO("first " << first << ", count " << count);
      for (int64_t j = 0; j < count; ++j)
        REQUIRE(std::bit_cast<uint64_t>(drawn[static_cast<size_t>(j)]) ==
                std::bit_cast<uint64_t>(key.normal(first + static_cast<uint64_t>(j))));
      CHECK(drawn.back() == 42.0);  // nothing written past count
    }
  }
  double untouched = 42.0;
  key.normals(0, 0, nullptr);  // nothing to draw, nothing to write
  CHECK_THROWS_MATCHES(key.normals(0, -1, &untouched), ValueError,
                       Catch::Matchers::Message("ValueError: RngKey::normals: count -1, expected >= 0"));
  CHECK_THROWS_MATCHES(key.normals(0, 3, nullptr), ValueError,
                       Catch::Matchers::Message("ValueError: RngKey::normals: out is null for 3 draws"));
  CHECK(untouched == 42.0);
}

TEST_CASE("Box-Muller's own ln is within 1 ulp and cos(2 pi u) within 2^-52 of long double references",
          "[core][rng]") {
  if (std::numeric_limits<long double>::digits < 64) {
    WARN("not checked: long double has no more precision than double here");
    return;
  }
  const long double two_pi = 6.283185307179586476925286766559005768L;
  const auto ulp = [](long double reference) {
    const double r = std::fabs(static_cast<double>(reference));
    return static_cast<long double>(std::nextafter(r, 2 * r + 1) - r);
  };
  std::vector<double> logs = {1.0, 0.5, 0x1p-53, 1.0 - 0x1p-53, 0.7071067811865476, 0.7071067811865475,
                              0.70710678118654746, 1.4142135623730951 / 2, 0.25 + 0x1p-53, 0x1.fffffffffffffp-2};
  std::vector<double> turns = {0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0 - 0x1p-53,
                               0.125 - 0x1p-53, 0.125 + 0x1p-53, 0.25 - 0x1p-53, 0.25 + 0x1p-53, 0x1p-53};
  const RngKey key{2026, 12};
  for (uint64_t i = 0; i < 200'000; ++i) {
    const double u = 1.0 - key.uniform_double(2 * i);             // (0, 1]
    logs.push_back(i % 5 == 0 ? std::ldexp(u, -static_cast<int>(i % 50)) : u);  // small ones too
    turns.push_back(key.uniform_double(2 * i + 1));               // [0, 1)
  }
  long double worst_log = 0, worst_cos = 0;
  for (double u : logs) {
    const long double reference = std::log(static_cast<long double>(u));
    const long double error = std::fabs(static_cast<long double>(detail::log_unit(u)) - reference);
    worst_log = std::max(worst_log, reference == 0 ? error : error / ulp(reference));
  }
  for (double u : turns)
    worst_cos = std::max(worst_cos, std::fabs(static_cast<long double>(detail::cos_turns(u)) -
                                              std::cos(two_pi * static_cast<long double>(u))));
  INFO("worst ln error " << static_cast<double>(worst_log) << " ulp; worst cos error "
                         << static_cast<double>(worst_cos * 0x1p53L) << " * 2^-53");
  CHECK(worst_log <= 1.0L);
  CHECK(worst_cos <= 0x1p-52L);
  // The reduction to a quarter turn is exact: these are exact.
  CHECK(detail::log_unit(1.0) == 0.0);
  CHECK(detail::cos_turns(0.0) == 1.0);
  CHECK(detail::cos_turns(0.5) == -1.0);
  CHECK(detail::cos_turns(0.25) == 0.0);
  CHECK(detail::cos_turns(0.75) == 0.0);
}

TEST_CASE("RngKey::keep keeps a fraction 1 - p, derive() gives distinct reproducible streams", "[core][rng]") {
  constexpr int64_t n = 1'000'000;
  const RngKey key{7, 0};
  for (float p : {0.1f, 0.5f, 0.9f}) {
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) kept += key.keep(static_cast<uint64_t>(i), p) ? 1 : 0;
    INFO("p = " << p);
    CHECK(std::abs(double(kept) / n - (1 - p)) < 6 * std::sqrt(double(p) * (1 - p) / n));
  }
  int64_t all = 0;
  for (int64_t i = 0; i < 1000; ++i) all += key.keep(static_cast<uint64_t>(i), 0.0f) ? 1 : 0;
  CHECK(all == 1000);  // p = 0 keeps everything

  // derive: deterministic, name = hash of the name, distinct tags → distinct streams.
  CHECK(key.derive(5).stream == key.derive(5).stream);
  CHECK(key.derive(5).seed == key.seed);
  CHECK(key.derive("dropout").stream == key.derive(hash_name("dropout")).stream);
  std::set<uint64_t> streams;
  for (uint64_t tag = 0; tag < 1000; ++tag) streams.insert(key.derive(tag).stream);
  streams.insert(key.stream);
  CHECK(streams.size() == 1001);
  CHECK(key.derive(1).derive(2).stream != key.derive(2).derive(1).stream);

  // Two derived streams are uncorrelated: |sample correlation| < 6/sqrt(m).
  constexpr int64_t m = 200'000;
  const RngKey a = key.derive("a"), b = key.derive("b");
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  int64_t equal = 0;
  for (int64_t i = 0; i < m; ++i) {
    const double x = a.uniform(static_cast<uint64_t>(i)), y = b.uniform(static_cast<uint64_t>(i));
    equal += a.bits(static_cast<uint64_t>(i)) == b.bits(static_cast<uint64_t>(i)) ? 1 : 0;
    sa += x;
    sb += y;
    saa += x * x;
    sbb += y * y;
    sab += x * y;
  }
  const double cov = sab / m - (sa / m) * (sb / m);
  const double corr = cov / std::sqrt((saa / m - (sa / m) * (sa / m)) * (sbb / m - (sb / m) * (sb / m)));
  CHECK(std::abs(corr) < 6 / std::sqrt(double(m)));
  CHECK(equal < 3);  // 32-bit words coincide with probability 2^-32 each
  // Another seed is another stream too.
  CHECK(RngKey{8, 0}.bits(0) != RngKey{7, 0}.bits(0));
}
