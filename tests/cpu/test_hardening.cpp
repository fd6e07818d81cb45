// Hostile input (issue 9): crafted files, absurd sizes, a failing call in the middle of a stream,
// loads racing saves, values that would poison training, and several threads on one model. Each
// case asserts the exact error and, where a call fails, that the bytes of every object it was
// given are unchanged (the strong exception guarantee, docs/hardening.md).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "mnemo/io/infinite_former_state_io.hpp"
#include "mnemo/io/safetensors.hpp"
#include "mnemo/io/slot_state_io.hpp"
#include "mnemo/mnemo.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace fs = std::filesystem;
using InfModel = models::InfiniteFormer<double, Cpu>;
using InfState = models::InfiniteFormerState<double, Cpu>;

namespace {

/// A fresh directory under the system temp directory, removed with everything in it.
struct ScratchDir {
  fs::path dir;
  ScratchDir() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("mnemo_test_hardening_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

/// Writes a safetensors file byte by byte: u64 little-endian header length, header, buffer.
void write_raw(const std::string& path, const std::string& header, const std::string& buffer = {}) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << buffer;
}

/// Copies every tensor and the metadata of `src` into `w`, except the names in `skip`.
void copy_tensors(const io::SafetensorsReader& r, io::SafetensorsWriter& w, const std::set<std::string>& skip = {}) {
  for (const auto& [k, v] : r.metadata()) w.set_metadata(k, v);
  for (const std::string& name : r.names()) {
    if (skip.count(name)) continue;
    const std::string dtype = r.dtype(name);
    if (dtype == "F64") w.add(name, r.read<double>(name));
    else if (dtype == "F32") w.add(name, r.read<float>(name));
    else if (dtype == "I64") w.add(name, r.read<int64_t>(name));
    else if (dtype == "U8") w.add(name, r.read<uint8_t>(name));
    else FAIL("unexpected dtype " << dtype);
  }
}

template <class T>
bool same_bytes(const Tensor<T, Cpu>& a, const Tensor<T, Cpu>& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

bool same_state(const memory::ContinuousState<double, Cpu>& a, const memory::ContinuousState<double, Cpu>& b) {
  return same_bytes(a.coefficients, b.coefficients) && a.has_memory == b.has_memory &&
         a.tokens_written == b.tokens_written && a.has_densities == b.has_densities &&
         same_bytes(a.sticky_mu, b.sticky_mu) && same_bytes(a.sticky_sigma2, b.sticky_sigma2) &&
         a.key.seed == b.key.seed && a.key.stream == b.key.stream && a.draws == b.draws;
}

bool same_state(const InfState& a, const InfState& b) {
  if (a.batch != b.batch || a.steps != b.steps || a.ltm.size() != b.ltm.size() || a.cache.size() != b.cache.size())
    return false;
  for (size_t i = 0; i < a.ltm.size(); ++i)
    if (!same_state(a.ltm[i], b.ltm[i])) return false;
  for (size_t k = 0; k < a.cache.size(); ++k) {
    if (!same_bytes(a.cache[k].padding, b.cache[k].padding) || a.cache[k].inputs.size() != b.cache[k].inputs.size())
      return false;
    for (size_t i = 0; i < a.cache[k].inputs.size(); ++i)
      if (!same_bytes(a.cache[k].inputs[i], b.cache[k].inputs[i])) return false;
  }
  return true;
}

/// Every parameter value and moment of a store, as bytes (what a failed call must not change).
template <class T>
std::vector<std::vector<unsigned char>> store_bytes(const nn::ParameterStore<T, Cpu>& s) {
  std::vector<std::vector<unsigned char>> out;
  for (const auto& p : s)
    for (const Tensor<T, Cpu>* t : {&p->value, &p->adam_m, &p->adam_v}) {
      std::vector<unsigned char> b(t->bytes() + 1, t->defined() ? 1 : 0);
      if (t->defined() && t->bytes()) std::memcpy(b.data() + 1, t->data(), t->bytes());
      out.push_back(std::move(b));
    }
  return out;
}

/// vocab 11, d 8, 2 heads, 2 layers, L 4, N 8, M 6 (the ∞-former model tests' tiny model).
models::InfiniteFormerConfig tiny_inf(bool sticky = false, int64_t stm = 1, int64_t segment_length = 4) {
  models::InfiniteFormerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.layers = 2;
  c.segment_length = segment_length;
  c.stm_segments = stm;
  c.dropout = 0.0;
  c.init_std = 0.3;
  c.ltm.basis = memory::BasisConfig{8, {0.15, 0.3}};
  c.ltm.samples = 6;
  c.ltm.tau = 0.6;
  c.ltm.ridge_lambda = 0.3;
  c.ltm.sticky = sticky;
  c.ltm.sticky_bins = 8;
  return c;
}

models::MemformerConfig tiny_memformer() {
  models::MemformerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.slots = 3;
  c.encoder_layers = 2;
  c.decoder_layers = 1;
  c.segment_length = 4;
  c.init_std = 0.3;
  c.bias_init_norm = 0.8;
  return c;
}

Tensor<int32_t, Cpu> tokens(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  Tensor<int32_t, Cpu> t(Shape{batch, len});
  const RngKey key{seed, 9};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return t;
}

/// A state after `steps` segments (with the sticky sampler, densities are stored from step 2 on).
InfState run_steps(const InfModel& model, int64_t batch, int steps, uint64_t seed) {
  autograd::NoGrad off;
  auto state = model.initial_state(batch, seed);
  for (int k = 0; k < steps; ++k) model.step(tokens(batch, model.config().segment_length, 11, seed * 100 + k), nullptr, state);
  return state;
}

}  // namespace

// ---- 1. nesting depth of a safetensors header ---------------------------------------------------

TEST_CASE("a deeply nested safetensors header is refused before parsing, never overflowing the stack",
          "[hardening][io]") {
  ScratchDir tmp;
  const std::string path = tmp.file("nested.safetensors");
  // 100k nested arrays in a shape (175 KB with the rest): used to crash the error path's dump.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  write_raw(path, R"({"t":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})");
  MNEMO_CHECK_THROWS(io::SafetensorsReader{path}, IoError, "header nests arrays/objects deeper than 16 levels");
  write_raw(path, R"({"t":{"dtype":"F32","shape":[],"data_offsets":)" + deep + "}}");
  MNEMO_CHECK_THROWS(io::SafetensorsReader{path}, IoError, "deeper than 16 levels");
  // Brackets inside strings do not count; 16 levels pass the depth check and the bad shape is
  // described by its size, not serialised.
  const std::string sixteen = std::string(14, '[') + std::string(14, ']');
  write_raw(path, R"({"t[[[[[[[[[[[[[[[[[[":{"dtype":"F32","shape":)" + sixteen + R"(,"data_offsets":[0,0]}})");
  MNEMO_CHECK_THROWS(io::SafetensorsReader{path}, IoError, "shape[0] is a JSON array of 1 elements");
  // Every loader goes through the reader.
  nn::ParameterStore<float, Cpu> store;
  write_raw(path, R"({"t":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})");
  CHECK_THROWS_AS(io::load_parameters(store, path), IoError);
  CHECK_THROWS_AS((io::load_state<float, Cpu>(path)), IoError);
}

// ---- 2. checked size arithmetic -------------------------------------------------------------

TEST_CASE("element and byte counts that overflow are ShapeErrors naming the shape", "[hardening][core]") {
  const int64_t two32 = int64_t{1} << 32;
  MNEMO_CHECK_THROWS((Shape{two32, two32}.numel()), ShapeError,
                     "the element count of shape [4294967296, 4294967296] overflows a 64-bit integer");
  MNEMO_CHECK_THROWS((Shape{two32, two32, 2}.rows()), ShapeError, "overflows");
  CHECK((Shape{two32, two32, 0}.numel()) == 0);  // a zero extent: empty, whatever the others
  MNEMO_CHECK_THROWS((Tensor<float, Cpu>(Shape{int64_t{1} << 62})), ShapeError,
                     "a tensor of shape [4611686018427387904] holds 4611686018427387904 elements of 4 bytes");
  MNEMO_CHECK_THROWS((Tensor<float, Cpu>(Shape{(int64_t{1} << 61) + 1})), ShapeError, "more than the largest allocation");
  MNEMO_CHECK_THROWS((Tensor<double, Cpu>(Shape{two32, two32})), ShapeError, "overflows");
  // Arena rounding terminates for every size and the arena refuses what no system could serve.
  CHECK(Arena::round_size(std::numeric_limits<size_t>::max()) == Arena::kMaxBytes);
  CHECK(Arena::round_size((size_t{1} << 61) + 1) == (size_t{1} << 61) + (size_t{1} << 58));
  Arena arena("test", [](size_t) -> void* { return nullptr; }, [](void*) {});
  MNEMO_CHECK_THROWS(arena.allocate((size_t{1} << 62) + 1), Error, "cannot allocate 4611686018427387905 bytes");
}

TEST_CASE("configs bound every size so that no parameter matrix overflows", "[hardening][config]") {
  auto m = tiny_memformer();
  m.vocab = int64_t{1} << 61;
  MNEMO_CHECK_THROWS(m.validate(), ConfigError, "MemformerConfig: vocab = 2305843009213693952, expected <= 2147483647");
  CHECK_THROWS_AS((models::Memformer<float, Cpu>(m)), ConfigError);
  m = tiny_memformer();
  m.vocab = int64_t{1} << 30;
  m.d_model = 2048;
  m.heads = 8;
  MNEMO_CHECK_THROWS(m.validate(), ConfigError, "vocab · d_model = 1073741824 · 2048 = 2199023255552 elements");
  m = tiny_memformer();
  m.init_std = std::numeric_limits<double>::infinity();
  MNEMO_CHECK_THROWS(m.validate(), ConfigError, "MemformerConfig: init_std = inf, expected a finite value");
  m = tiny_memformer();
  m.layer_norm_eps = std::numeric_limits<double>::infinity();
  MNEMO_CHECK_THROWS(m.validate(), ConfigError, "layer_norm_eps = inf");

  auto c = tiny_inf();
  c.vocab = int64_t{1} << 61;
  MNEMO_CHECK_THROWS(c.validate(), ConfigError, "InfiniteFormerConfig: vocab = 2305843009213693952, expected <= 2147483647");
  CHECK_THROWS_AS((InfModel(c)), ConfigError);
  c = tiny_inf();
  c.segment_length = int64_t{1} << 40;
  MNEMO_CHECK_THROWS(c.validate(), ConfigError, "segment_length = 1099511627776");
  c = tiny_inf();
  c.ltm.samples = int64_t{1} << 33;
  MNEMO_CHECK_THROWS(c.validate(), ConfigError, "samples = 8589934592");
}

// ---- 4. a failing ∞-former step leaves the stream as it was -------------------------------------

TEST_CASE("a failing infinite-former step changes nothing and the stream continues as if it never ran",
          "[hardening][infformer]") {
  for (bool sticky : {false, true}) {
    INFO("sticky " << sticky);
    InfModel model(tiny_inf(sticky, 1), 5);
    autograd::NoGrad off;
    auto state = run_steps(model, 2, 3, 7);  // the cache is full: the next step writes the LTM
    REQUIRE(state.cache.size() == 2);
    const InfState before = state.clone();
    const auto parameters_before = store_bytes(model.parameters());
    auto bad = tokens(2, 4, 11, 77);
    bad[5] = 11;  // == vocab
    MNEMO_CHECK_THROWS(model.step(bad, nullptr, state), ValueError,
                       "InfiniteFormer::step: token id 11 at position 5 is outside [0, 11)");
    CHECK(same_state(state, before));
    CHECK(store_bytes(model.parameters()) == parameters_before);
    auto reference = before.clone();
    const auto good = tokens(2, 4, 11, 78);
    CHECK(model.step(good, nullptr, state).logits.value().to_host() ==
          model.step(good, nullptr, reference).logits.value().to_host());
    CHECK(same_state(state, reference));
  }
}

// ---- 5. loads racing saves see one whole checkpoint ------------------------------------------

TEST_CASE("loads racing saves of two checkpoints always see one whole file", "[hardening][io][race]") {
  ScratchDir tmp;
  const std::string path = tmp.file("ckpt.safetensors");
  auto fill = [](nn::ParameterStore<float, Cpu>& s, double v) {
    for (int i = 0; i < 6; ++i) s.add("layer." + std::to_string(i), Shape{64, 64}, nn::Init::constant(v));
  };
  nn::ParameterStore<float, Cpu> a, b, target;
  fill(a, 1.0);
  fill(b, 2.0);
  fill(target, 0.0);
  io::save_parameters(a, path);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> saves{0};
  std::thread writer([&] {
    while (!stop) {
      io::save_parameters(saves % 2 ? b : a, path);
      ++saves;
    }
  });
  int64_t loads = 0, mixed = 0, failed = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    try {
      io::load_parameters(target, path);
    } catch (const Error&) {
      ++failed;
      continue;
    }
    ++loads;
    const float first = target[0].value[0];
    bool whole = first == 1.0f || first == 2.0f;
    for (const auto& p : target)
      for (int64_t i = 0; i < p->numel(); ++i) whole = whole && p->value[i] == first;
    mixed += whole ? 0 : 1;
  }
  stop = true;
  writer.join();
  INFO(loads << " loads, " << saves.load() << " saves, " << failed << " failed loads");
  CHECK(loads > 10);
  CHECK(saves > 10);
  CHECK(mixed == 0);
  CHECK(failed == 0);
}

// ---- 6. loaders validate counts; read_state is all or nothing --------------------------------

TEST_CASE("an infinite-former state file with bad counts is refused, and read_state is all or nothing",
          "[hardening][io][infformer]") {
  ScratchDir tmp;
  InfModel model(tiny_inf(true, 1), 3);
  const auto state = run_steps(model, 2, 3, 11);
  const std::string good = tmp.file("good.safetensors"), bad = tmp.file("bad.safetensors");
  io::save_state(model, state, good);
  const io::SafetensorsReader r(good);
  auto rewrite = [&](const std::set<std::string>& skip, auto&& add) {
    io::SafetensorsWriter w;
    copy_tensors(r, w, skip);
    add(w);
    w.write(bad);
  };
  rewrite({"steps"}, [](io::SafetensorsWriter& w) { w.add("steps", Tensor<int64_t, Cpu>(Shape{0})); });
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ShapeError, "steps has shape [0], expected [one=1]");
  rewrite({"steps"}, [](io::SafetensorsWriter& w) { w.add("steps", Tensor<int64_t, Cpu>::full(Shape{1}, -3)); });
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ValueError, "steps = -3, expected >= 0");
  rewrite({"cache_segments"}, [](io::SafetensorsWriter& w) { w.add("cache_segments", Tensor<int64_t, Cpu>(Shape{2, 0})); });
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ShapeError, "cache_segments has shape [2, 0]");
  rewrite({"ltm.1.tokens_written"}, [](io::SafetensorsWriter& w) {
    w.add("ltm.1.tokens_written", Tensor<int64_t, Cpu>::from_host(Shape{2}, {4, -1}));
  });
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ValueError, "ltm.1.tokens_written[1] = -1, expected >= 0");
  rewrite({"ltm.0.sticky_mu", "ltm.0.sticky_sigma2"}, [](io::SafetensorsWriter&) {});
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ValueError, "has_densities[0] = 1 but the file holds no ltm.0.sticky_mu");
  rewrite({"ltm.0.sticky_sigma2"}, [&](io::SafetensorsWriter& w) {
    auto s2 = r.read<double>("ltm.0.sticky_sigma2");
    s2[3] = -0.5;
    w.add("ltm.0.sticky_sigma2", s2);
  });
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ValueError, "sticky_sigma2 holds -0.5 at element 3");
  rewrite({"ltm.1.coefficients"}, [&](io::SafetensorsWriter& w) {
    auto c = r.read<double>("ltm.1.coefficients");
    c[7] = std::numeric_limits<double>::quiet_NaN();
    w.add("ltm.1.coefficients", c);
  });
  MNEMO_CHECK_THROWS(io::load_state(model, 2, bad), ValueError, "ltm.1.coefficients holds 1 non-finite value");

  // read_state into an existing state: a failure at the last tensor leaves every byte as it was.
  rewrite({"ltm.0.rng"}, [](io::SafetensorsWriter& w) { w.add("ltm.0.rng", Tensor<int64_t, Cpu>::zeros(Shape{2})); });
  auto target = run_steps(model, 2, 2, 99).ltm[0];
  const auto before = target.clone();
  REQUIRE_FALSE(same_state(target, state.ltm[0]));
  MNEMO_CHECK_THROWS(io::read_state(io::SafetensorsReader(bad), "ltm.0.", target), ShapeError, "ltm.0.rng has shape [2]");
  CHECK(same_state(target, before));
  rewrite({"ltm.0.has_densities"}, [](io::SafetensorsWriter& w) { w.add("ltm.0.has_densities", Tensor<uint8_t, Cpu>::zeros(Shape{3})); });
  MNEMO_CHECK_THROWS(io::read_state(io::SafetensorsReader(bad), "ltm.0.", target), ShapeError, "has_densities");
  CHECK(same_state(target, before));
  // ... and a good file replaces all of it.
  io::read_state(r, "ltm.0.", target);
  CHECK(same_state(target, state.ltm[0]));

  // Embedded in a file that holds other tensors (checkpoints: add_state_file): the bytes of a
  // state file (SafetensorsWriter::bytes() is what write() writes), read back whole with the same
  // checks; a damaged embedded file is refused, naming '<path>:infinite_former@state'.
  const auto file_bytes = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  io::SafetensorsWriter inner;
  io::add_state(inner, model, state);
  CHECK(inner.bytes() == file_bytes(good));
  const std::string outer = tmp.file("outer.safetensors");
  io::SafetensorsWriter with_parameters;
  with_parameters.add("w", Tensor<double, Cpu>::full(Shape{2}, 1.5));
  io::add_state_file(with_parameters, model, state);
  with_parameters.write(outer);
  const auto back = io::read_state_file(io::SafetensorsReader(outer), model, 2);
  CHECK(back.steps == state.steps);
  REQUIRE(back.ltm.size() == state.ltm.size());
  for (size_t i = 0; i < state.ltm.size(); ++i) CHECK(same_state(back.ltm[i], state.ltm[i]));
  REQUIRE(back.cache.size() == state.cache.size());
  for (size_t k = 0; k < state.cache.size(); ++k) {
    CHECK(back.cache[k].padding.to_host() == state.cache[k].padding.to_host());
    for (size_t i = 0; i < state.cache[k].inputs.size(); ++i)
      CHECK(back.cache[k].inputs[i].to_host() == state.cache[k].inputs[i].to_host());
  }
  const auto embed = [&](std::vector<char> bytes) {
    io::SafetensorsWriter w;
    w.add(io::kInfiniteFormerStateName, Tensor<uint8_t, Cpu>::from_host(Shape{static_cast<int64_t>(bytes.size())},
                                                                        std::vector<uint8_t>(bytes.begin(), bytes.end())));
    w.write(outer);
  };
  auto truncated = file_bytes(good);
  truncated.resize(truncated.size() - 4);
  embed(truncated);
  MNEMO_CHECK_THROWS(io::read_state_file(io::SafetensorsReader(outer), model, 2), IoError,
                     "outer.safetensors:infinite_former@state");
  embed(file_bytes(bad));  // has_densities of 3 rows
  MNEMO_CHECK_THROWS(io::read_state_file(io::SafetensorsReader(outer), model, 2), ShapeError, "has_densities");
}

// ---- 7. values and settings that would poison a resumed run ---------------------------------

TEST_CASE("negative or non-finite AdamW moments are refused at load and the store is unchanged",
          "[hardening][io][train]") {
  ScratchDir tmp;
  auto make = [](uint64_t seed) {
    nn::ParameterStore<double, Cpu> s(seed);
    s.add("a", Shape{3, 4}, nn::Init::normal(1.0));
    s.add("b", Shape{5}, nn::Init::normal(1.0));
    for (auto& p : s) {
      p->adam_m = random_tensor<double>(p->shape(), seed + 1);
      p->adam_v = random_tensor<double>(p->shape(), seed + 2);
      for (int64_t i = 0; i < p->numel(); ++i) p->adam_v[i] = p->adam_v[i] * p->adam_v[i];
    }
    return s;
  };
  auto source = make(1);
  auto target = make(2);
  const auto before = store_bytes(target);
  const std::string path = tmp.file("ckpt.safetensors");
  auto save = [&] {
    io::SafetensorsWriter w;
    io::add_parameters(w, source, true);
    w.write(path);
  };
  source.get("b").adam_v[2] = -1e-3;
  save();
  MNEMO_CHECK_THROWS(io::read_parameters(io::SafetensorsReader(path), target, true), ValueError,
                     "b@adam_v holds -0.001 at element 2, expected second moments >= 0");
  CHECK(store_bytes(target) == before);  // "a" was fine and comes first: still untouched
  source.get("b").adam_v[2] = std::numeric_limits<double>::quiet_NaN();
  save();
  MNEMO_CHECK_THROWS(io::read_parameters(io::SafetensorsReader(path), target, true), ValueError, "b@adam_v holds 1 non-finite");
  source.get("b").adam_v[2] = 0.5;
  source.get("a").adam_m[0] = -std::numeric_limits<double>::infinity();
  save();
  MNEMO_CHECK_THROWS(io::read_parameters(io::SafetensorsReader(path), target, true), ValueError, "a@adam_m holds 1 non-finite");
  CHECK(store_bytes(target) == before);
  // Without the optimizer state the moments in the file are not read, so they do not matter.
  io::read_parameters(io::SafetensorsReader(path), target, false);
  CHECK(same_bytes(target.get("a").value, source.get("a").value));

  train::AdamW<double, Cpu> opt(target);
  MNEMO_CHECK_THROWS(opt.set_steps(-1), ValueError, "AdamW::set_steps: n = -1, expected >= 0");
  CHECK(opt.steps() == 0);
}

TEST_CASE("a stream state is refused by a model with another segment length or sticky setting",
          "[hardening][io][infformer]") {
  ScratchDir tmp;
  const std::string path = tmp.file("state.safetensors");
  InfModel sticky(tiny_inf(true, 1), 3), plain(tiny_inf(false, 1), 3), longer(tiny_inf(true, 1, 8), 3);
  const auto state = run_steps(sticky, 2, 3, 5);
  io::save_state(sticky, state, path);
  MNEMO_CHECK_THROWS(io::load_state(plain, 2, path), IoError, "saved by a model with mnemo.sticky = 1, expected this model's 0");
  MNEMO_CHECK_THROWS(io::load_state(longer, 2, path), IoError,
                     "saved by a model with mnemo.segment_length = 4, expected this model's 8");
  CHECK(same_state(io::load_state(sticky, 2, path), state));
  // Without the recorded settings (save_state without the model) the tensors still tell.
  io::save_state(state, path);
  MNEMO_CHECK_THROWS(io::load_state(plain, 2, path), IoError, "holds ltm.0.sticky_mu, but this model has no sticky memories");
  const auto plain_state = run_steps(plain, 2, 3, 5);
  io::save_state(plain_state, path);
  InfModel plain_short(tiny_inf(false, 1, 2), 3);
  MNEMO_CHECK_THROWS(io::load_state(plain_short, 2, path), ShapeError,
                     "cache.0.padding has length 4, expected 1 <= length <= segment_length = 2");
}

TEST_CASE("a slot state of batch 0 is refused like initial_state(0)", "[hardening][io][memformer]") {
  ScratchDir tmp;
  models::Memformer<double, Cpu> model(tiny_memformer(), 1);
  CHECK_THROWS_AS(model.initial_state(0), ShapeError);
  const memory::SlotState<double, Cpu> empty(Tensor<double, Cpu>(Shape{0, 3, 8}));
  const std::string path = tmp.file("slots.safetensors");
  io::save_state(empty, path);
  MNEMO_CHECK_THROWS((io::load_state<double, Cpu>(path)), ShapeError, "expected batch >= 1");
  const train::Segment segment{Tensor<int32_t, Cpu>(Shape{0, 4}), {}};
  MNEMO_CHECK_THROWS(model.step(empty, segment), ShapeError, "Memformer::step: memory state has shape [0, 3, 8], expected batch >= 1");
}

TEST_CASE("non-finite layer inputs propagate to exactly the rows they touch (not scanned, documented)",
          "[hardening][nn]") {
  // error.hpp: NaN/Inf inside a layer is not a ValueError; it must reach the output (where the
  // trainers' non-finite rule sees it) and must not leak into other rows.
  nn::ParameterStore<double, Cpu> store(4);
  nn::LayerNorm<double, Cpu> ln(store, "ln", 8);
  autograd::NoGrad off;
  auto x = random_tensor<double>(Shape{3, 8}, 12);
  const auto clean = ln(autograd::Var<double, Cpu>(x.clone())).value();
  x[8 + 3] = std::numeric_limits<double>::quiet_NaN();
  const auto y = ln(autograd::Var<double, Cpu>(x)).value();
  for (int64_t i = 0; i < 24; ++i) {
    INFO("element " << i);
    if (i / 8 == 1) CHECK(std::isnan(y[i]));
    else CHECK(y[i] == clean[i]);
  }
}

// ---- 3. several threads, one model ------------------------------------------------------------

TEST_CASE("threads stepping their own streams through one model match a serial run", "[hardening][threads]") {
  InfModel model(tiny_inf(true, 1), 8);
  models::Memformer<double, Cpu> memformer(tiny_memformer(), 8);
  constexpr int kThreads = 4, kSteps = 4;
  // logits of every step of every stream, and the Memformer's next state after every step
  auto run = [&](int stream, std::vector<std::vector<double>>& out) {
    autograd::NoGrad off;  // thread-local, like the tape
    auto state = model.initial_state(2, static_cast<uint64_t>(stream));
    auto slots = memformer.initial_state(2);
    for (int k = 0; k < kSteps; ++k) {
      const auto t = tokens(2, 4, 11, static_cast<uint64_t>(1000 * stream + k));
      out.push_back(model.step(t, nullptr, state).logits.value().to_host());
      auto step = memformer.step(slots, train::Segment{t, {}});
      slots = step.next;
      out.push_back(slots.slots().to_host());
    }
  };
  std::vector<std::vector<std::vector<double>>> serial(kThreads), threaded(kThreads);
  for (int s = 0; s < kThreads; ++s) run(s, serial[s]);
  std::vector<std::thread> pool;
  for (int s = 0; s < kThreads; ++s) pool.emplace_back([&, s] { run(s, threaded[s]); });
  for (auto& t : pool) t.join();
  for (int s = 0; s < kThreads; ++s) {
    INFO("stream " << s);
    CHECK(threaded[s] == serial[s]);
  }
}
