// io: safetensors round trips of a ParameterStore (bit-exact, with and without optimizer state),
// the fixtures written by tests/data/make_safetensors_fixtures.py with torch, and every way a file
// can be broken or lie about its contents.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnemo/mnemo.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace fs = std::filesystem;

// A 2-byte element type whose Precision names F16 / BF16: shows that io works for any T whose
// Precision names a dtype (as the CUDA half types will), and lets the test see the raw bits.
struct HalfBits {
  uint16_t bits;
};
struct BFloatBits {
  uint16_t bits;
};
template <>
struct mnemo::Precision<HalfBits> {
  static constexpr const char* name = "half bits";
  static constexpr const char* safetensors_dtype = "F16";
};
template <>
struct mnemo::Precision<BFloatBits> {
  static constexpr const char* name = "bfloat16 bits";
  static constexpr const char* safetensors_dtype = "BF16";
};

namespace {

std::string fixture(const std::string& name) { return std::string(MNEMO_TEST_DATA_DIR) + "/" + name; }

/// A fresh directory under the system temp directory, removed with everything in it.
struct TempDir {
  fs::path dir;
  TempDir() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("mnemo_test_io_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A file with the given header text (not padded) and `buffer_bytes` bytes of 0x5A after it.
std::string raw_file(const TempDir& tmp, const std::string& header, size_t buffer_bytes = 16,
                     const std::string& name = "raw.safetensors") {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xFF);
  bytes += header;
  bytes.append(buffer_bytes, char{0x5A});
  const std::string path = tmp.file(name);
  write_all(path, {bytes.begin(), bytes.end()});
  return path;
}

/// The JSON header of a safetensors file and its length, parsed independently of the reader.
std::pair<nlohmann::json, uint64_t> header_of(const std::string& path) {
  const auto bytes = read_all(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<unsigned char>(bytes[static_cast<size_t>(i)])} << (8 * i);
  return {nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n)), n};
}

template <class T, class U>
bool same_bits(const Tensor<T, Cpu>& a, const Tensor<U, Cpu>& b) {
  return a.shape() == b.shape() && a.bytes() == b.bytes() &&
         (a.bytes() == 0 || std::memcmp(a.data(), b.data(), a.bytes()) == 0);
}

template <class T>
void fill_store(nn::ParameterStore<T, Cpu>& store) {
  store.add("encoder.layers.0.attn.weight", {5, 7}, nn::Init::normal(0.7));
  store.add("encoder.layers.0.attn.bias", {7}, nn::Init::normal(0.1));
  store.add("head.scale", {}, nn::Init::constant(1.0 / 3.0));
  store.add("unused.empty", {0, 4}, nn::Init::zeros());
}

}  // namespace

TEMPLATE_TEST_CASE("save_parameters / load_parameters round-trip a ParameterStore bit-exactly", "[io]", float,
                   double) {
  using T = TestType;
  TempDir tmp;
  nn::ParameterStore<T, Cpu> saved(1);
  fill_store(saved);
  // Values whose bits a lossy path would change: signed zero, infinities, a subnormal, a NaN payload.
  auto& w = saved.get("encoder.layers.0.attn.weight").value;
  w[0] = T(-0.0);
  w[1] = std::numeric_limits<T>::infinity();
  w[2] = -std::numeric_limits<T>::infinity();
  w[3] = std::numeric_limits<T>::denorm_min();
  w[4] = std::numeric_limits<T>::quiet_NaN();
  const std::string path = tmp.file("params.safetensors");
  io::save_parameters(saved, path, {{"model", "test"}, {"step", "42"}});

  nn::ParameterStore<T, Cpu> loaded(2);  // another seed: every value differs before loading
  fill_store(loaded);
  CHECK_FALSE(same_bits(saved.get("encoder.layers.0.attn.bias").value, loaded.get("encoder.layers.0.attn.bias").value));
  io::load_parameters(loaded, path);
  for (const auto& p : saved) {
    INFO(p->name);
    CHECK(same_bits(p->value, loaded.get(p->name).value));
  }

  io::SafetensorsReader reader(path);
  CHECK(reader.metadata() == std::map<std::string, std::string>{{"model", "test"}, {"step", "42"}});
  CHECK(reader.names() == std::vector<std::string>{"encoder.layers.0.attn.bias", "encoder.layers.0.attn.weight",
                                                   "head.scale", "unused.empty"});
  CHECK(reader.dtype("head.scale") == (std::is_same_v<T, float> ? "F32" : "F64"));
  CHECK(reader.shape("head.scale") == Shape{});
  CHECK(reader.shape("unused.empty") == Shape{0, 4});
  CHECK(reader.read<T>("head.scale")[0] == static_cast<T>(1.0 / 3.0));

  // Layout as the reference format: 8 + N is a multiple of 8 (space padding), tensors contiguous
  // in name order from offset 0, and the buffer ends where the last tensor does.
  const auto [header, n] = header_of(path);
  CHECK((8 + n) % 8 == 0);
  uint64_t expected_begin = 0;
  for (const std::string& name : reader.names()) {
    INFO(name);
    const auto offsets = header.at(name).at("data_offsets");
    CHECK(offsets[0].get<uint64_t>() == expected_begin);
    expected_begin = offsets[1].get<uint64_t>();
  }
  CHECK(fs::file_size(path) == 8 + n + expected_begin);
  CHECK(header.at("__metadata__").at("step") == "42");
}

TEST_CASE("Parameters round-trip with AdamW state and training resumes bit for bit", "[io]") {
  TempDir tmp;
  auto make = [](uint64_t seed) {
    nn::ParameterStore<double, Cpu> s(seed);
    fill_store(s);
    return s;
  };
  auto set_grads = [](nn::ParameterStore<double, Cpu>& s, uint64_t seed) {
    for (auto& p : s) p->grad.copy_from(random_tensor(p->shape(), seed + p->numel()));
  };
  nn::ParameterStore<double, Cpu> store = make(3);
  train::AdamW<double, Cpu> opt(store, {1e-2, 0.9, 0.99, 1e-8, 0.1});
  set_grads(store, 10);
  opt.step();
  set_grads(store, 20);
  opt.step();

  const std::string path = tmp.file("checkpoint.safetensors");
  io::SafetensorsWriter writer;
  io::add_parameters(writer, store, true);
  writer.set_metadata("adamw.steps", std::to_string(opt.steps()));
  writer.write(path);

  io::SafetensorsReader reader(path);
  CHECK(reader.contains("encoder.layers.0.attn.weight@adam_m"));
  CHECK(reader.contains(io::adam_v_name("head.scale")));
  CHECK(reader.names().size() == 3 * store.size());

  nn::ParameterStore<double, Cpu> resumed = make(4);
  io::read_parameters(reader, resumed, false);  // without state: moments stay unallocated
  for (const auto& p : resumed) CHECK_FALSE(p->adam_m.defined());
  io::read_parameters(reader, resumed, true);
  for (const auto& p : store) {
    INFO(p->name);
    const auto& q = resumed.get(p->name);
    CHECK(same_bits(p->value, q.value));
    REQUIRE(q.adam_m.defined());
    CHECK(same_bits(p->adam_m, q.adam_m));
    CHECK(same_bits(p->adam_v, q.adam_v));
  }

  // One more step on each from identical state and gradients gives identical parameters.
  train::AdamW<double, Cpu> opt2(resumed, opt.config());
  opt2.set_steps(std::stoll(reader.metadata().at("adamw.steps")));
  set_grads(store, 30);
  set_grads(resumed, 30);
  opt.step();
  opt2.step();
  for (const auto& p : store) CHECK(same_bits(p->value, resumed.get(p->name).value));

  // A file without moments, read with optimizer state, leaves the moments unallocated again.
  const std::string plain = tmp.file("plain.safetensors");
  io::save_parameters(store, plain);
  io::read_parameters(io::SafetensorsReader(plain), resumed, true);
  for (const auto& p : resumed) CHECK_FALSE(p->adam_m.defined());
}

TEST_CASE("Reads the torch-written fixture with every dtype, a 0-d tensor and metadata", "[io][fixtures]") {
  io::SafetensorsReader r(fixture("mixed.safetensors"));
  CHECK(r.names() == std::vector<std::string>{"alpha", "bf", "bytes", "empty", "half", "ids", "mid.count", "scalar",
                                              "zeta"});
  CHECK(r.metadata() == std::map<std::string, std::string>{{"format", "pt"},
                                                           {"note", "\xC3\xBCn\xC3\xAF" "code \xE2\x9C\x93"},
                                                           {"producer", "make_safetensors_fixtures.py"}});
  // The generator's formulas, recomputed.
  CHECK(r.dtype("zeta") == "F32");
  const auto zeta = r.read<float>("zeta");
  REQUIRE(zeta.shape() == Shape{2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) CHECK(zeta[i] == static_cast<float>(i * 37 % 101 - 50) / 16.0f);

  const auto alpha = r.read<double>("alpha");
  REQUIRE(alpha.shape() == Shape{3, 5});
  for (int64_t i = 0; i < 15; ++i) CHECK(alpha[i] == static_cast<double>(i) / 7.0 - 1.0);

  const auto count = r.read<int32_t>("mid.count");
  CHECK(count.to_host() == std::vector<int32_t>{std::numeric_limits<int32_t>::min(), -1, 7,
                                                std::numeric_limits<int32_t>::max()});
  const auto scalar = r.read<double>("scalar");
  CHECK(scalar.rank() == 0);
  CHECK(scalar[0] == 0.1);
  const auto empty = r.read<float>("empty");
  CHECK(empty.shape() == Shape{0, 3});
  CHECK(empty.numel() == 0);
  CHECK(r.read<int64_t>("ids").to_host() == std::vector<int64_t>{-(int64_t{1} << 40), 0, (int64_t{1} << 53) + 1});
  CHECK(r.read<uint8_t>("bytes").to_host() == std::vector<uint8_t>{0, 1, 127, 128, 255});

  CHECK(r.dtype("half") == "F16");
  const auto half = r.read<HalfBits>("half");  // 1.5, -2, 65504
  REQUIRE(half.shape() == Shape{3});
  CHECK(half[0].bits == 0x3E00);
  CHECK(half[1].bits == 0xC000);
  CHECK(half[2].bits == 0x7BFF);
  const auto bf = r.read<BFloatBits>("bf");  // 1, -0.5
  CHECK(bf[0].bits == 0x3F80);
  CHECK(bf[1].bits == 0xBF00);

  // Wrong element type or name, wrong destination shape.
  MNEMO_CHECK_THROWS(r.read<float>("alpha"), IoError, "tensor 'alpha' has dtype F64, expected F32");
  MNEMO_CHECK_THROWS(r.read<int64_t>("mid.count"), IoError, "has dtype I32, expected I64");
  MNEMO_CHECK_THROWS(r.read<float>("beta"), IoError, "no tensor named 'beta'");
  MNEMO_CHECK_THROWS(r.shape("beta"), IoError, "mixed.safetensors': no tensor named 'beta'");
  auto wrong = Tensor<double, Cpu>::zeros({5, 3});
  MNEMO_CHECK_THROWS(r.read_into("alpha", wrong), ShapeError, "tensor 'alpha' has shape [3, 5], expected [5, 3]");
  auto right = Tensor<double, Cpu>::zeros({3, 5});
  r.read_into("alpha", right);
  CHECK(same_bits(right, alpha));
}

TEST_CASE("F16 / BF16 element types round-trip through the writer", "[io]") {
  TempDir tmp;
  auto h = Tensor<HalfBits, Cpu>::from_host({2}, {HalfBits{0x3C00}, HalfBits{0xFC00}});
  auto b = Tensor<BFloatBits, Cpu>::from_host({1, 1}, {BFloatBits{0x7FC1}});
  io::SafetensorsWriter w;
  w.add("h", h);
  w.add("b", b);
  w.write(tmp.file("half.safetensors"));
  io::SafetensorsReader r(tmp.file("half.safetensors"));
  CHECK(r.dtype("h") == "F16");
  CHECK(r.dtype("b") == "BF16");
  CHECK(same_bits(r.read<HalfBits>("h"), h));
  CHECK(same_bits(r.read<BFloatBits>("b"), b));
}

TEST_CASE("Loads the torch-written parameter fixture with AdamW moments, ignoring non-parameters",
          "[io][fixtures]") {
  nn::ParameterStore<float, Cpu> store(5);
  store.add("proj.weight", {3, 2}, nn::Init::normal(1.0));
  store.add("proj.bias", {2}, nn::Init::normal(1.0));
  io::SafetensorsReader r(fixture("params.safetensors"));
  CHECK(r.metadata().at("step") == "7");
  io::read_parameters(r, store, true);
  const auto& w = store.get("proj.weight");
  const auto& b = store.get("proj.bias");
  for (int64_t i = 0; i < 6; ++i) {
    CHECK(w.value[i] == (static_cast<float>(i) - 2.5f) / 4.0f);
    CHECK(w.adam_m[i] == static_cast<float>(static_cast<double>(i) / 1024.0));
    CHECK(w.adam_v[i] == static_cast<float>(static_cast<double>(i) / 3.0));
  }
  CHECK(b.value.to_host() == std::vector<float>{0.125f, -0.375f});
  CHECK(b.adam_m.to_host() == std::vector<float>{static_cast<float>(1.0 / 3.0), static_cast<float>(2.0 / 3.0)});
  CHECK(b.adam_v.to_host() == std::vector<float>{0.25f, 0.5f});

  nn::ParameterStore<float, Cpu> plain(6);
  plain.add("proj.weight", {3, 2}, nn::Init::zeros());
  plain.add("proj.bias", {2}, nn::Init::zeros());
  io::load_parameters(plain, fixture("params.safetensors"));
  CHECK(same_bits(plain.get("proj.weight").value, w.value));
  CHECK_FALSE(plain.get("proj.weight").adam_m.defined());
}

TEST_CASE("Broken fixture files throw IoError naming the file, the tensor and the problem", "[io][fixtures]") {
  using R = io::SafetensorsReader;
  MNEMO_CHECK_THROWS(R(fixture("truncated.safetensors")), IoError,
                     "truncated.safetensors': tensor 'x': data_offsets [0, 16] point past the end of the 10-byte "
                     "data buffer");
  MNEMO_CHECK_THROWS(R(fixture("offsets_past_end.safetensors")), IoError,
                     "tensor 'x': data_offsets [0, 32] point past the end of the 16-byte data buffer");
  MNEMO_CHECK_THROWS(R(fixture("overlapping.safetensors")), IoError, "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
  MNEMO_CHECK_THROWS(R(fixture("bad_json.safetensors")), IoError, "bad_json.safetensors': header is not valid JSON");
  MNEMO_CHECK_THROWS(R(fixture("wrong_size.safetensors")), IoError,
                     "tensor 'x': data_offsets [0, 12] span 12 bytes, expected 16 (shape [2, 2] in F32)");
  MNEMO_CHECK_THROWS(R(fixture("header_too_long.safetensors")), IoError,
                     "header length is 4096 bytes, but only 88 bytes follow the length field");
}

TEST_CASE("Every malformed header is rejected with an IoError that names the problem", "[io][errors]") {
  TempDir tmp;
  using R = io::SafetensorsReader;
  auto bad = [&](const std::string& header, size_t buffer = 16) { return raw_file(tmp, header, buffer); };
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"x\": {\"dtype\": " + dtype + ", \"shape\": " + shape + ", \"data_offsets\": " + offsets + "}}";
  };

  // The file itself.
  MNEMO_CHECK_THROWS(R(tmp.file("missing.safetensors")), IoError, "missing.safetensors': cannot open");
  MNEMO_CHECK_THROWS(R(tmp.dir.string()), IoError, "cannot open: not a regular file");
  write_all(tmp.file("short.safetensors"), {'\x10', 0, 0, 0, 0});
  MNEMO_CHECK_THROWS(R(tmp.file("short.safetensors")), IoError, "the file is 5 bytes long, expected at least 8");

  // The header as a whole.
  MNEMO_CHECK_THROWS(R(bad("[1, 2]")), IoError, "header is a JSON array, expected an object");
  MNEMO_CHECK_THROWS(R(bad("{\"x\": 1,, }")), IoError, "header is not valid JSON");
  MNEMO_CHECK_THROWS(R(bad(std::string("{\"\xff\": 1}"))), IoError, "header is not valid JSON");
  MNEMO_CHECK_THROWS(R(bad("")), IoError, "header is not valid JSON");
  MNEMO_CHECK_THROWS(R(bad("{\"x\": {}, \"x\": {}}")), IoError, "header repeats the key 'x'");
  MNEMO_CHECK_THROWS(R(bad("{\"x\": {\"dtype\": \"F32\", \"dtype\": \"F64\"}}")), IoError,
                     "header repeats the key 'dtype'");
  MNEMO_CHECK_THROWS(R(bad("{\"__metadata__\": [\"a\"]}")), IoError, "__metadata__ is a JSON array");
  MNEMO_CHECK_THROWS(R(bad("{\"__metadata__\": {\"step\": 7}}")), IoError,
                     "__metadata__ entry 'step' is a JSON number, expected a string");

  // An entry's fields and their JSON types.
  MNEMO_CHECK_THROWS(R(bad("{\"x\": 3}")), IoError, "tensor 'x': entry is a JSON number, expected an object");
  MNEMO_CHECK_THROWS(R(bad("{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}")), IoError,
                     "tensor 'x': entry has no 'dtype'");
  MNEMO_CHECK_THROWS(R(bad("{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}")), IoError,
                     "tensor 'x': entry has no 'shape'");
  MNEMO_CHECK_THROWS(R(bad("{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}")), IoError,
                     "tensor 'x': entry has no 'data_offsets'");
  // One entry {dtype, shape, data_offsets} with a bad value, and the message part it must get.
  struct BadEntry {
    const char *dtype, *shape, *offsets, *message;
  };
  for (const BadEntry& b : std::initializer_list<BadEntry>{
           // wrong JSON types
           {"32", "[1]", "[0, 4]", "dtype is a JSON number, expected a string"},
           {"\"F31\"", "[1]", "[0, 4]", "tensor 'x': unknown dtype 'F31'"},
           {"\"F32\"", "\"[1]\"", "[0, 4]", "shape is a JSON string, expected an array"},
           {"\"F32\"", "[1.5]", "[0, 6]", "shape[0] is 1.5, expected a non-negative integer"},
           {"\"F32\"", "[1, \"2\"]", "[0, 8]", "shape[1] is \"2\""},
           {"\"F32\"", "[4]", "[0]", "data_offsets is [0], expected [begin, end] (two non-negative integers)"},
           {"\"F32\"", "[4]", "[0, \"16\"]", "expected [begin, end]"},
           {"\"F32\"", "[4]", "{\"begin\": 0}", "expected [begin, end]"},
           {"\"F32\"", "[4]", "[-4, 12]", "expected [begin, end]"},
           // values that cannot be right
           {"\"F32\"", "[2, -1]", "[0, 0]", "tensor 'x': shape[1] is -1, expected a non-negative integer"},
           {"\"F32\"", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[0, 4]", "shape has rank 9, expected at most 8"},
           {"\"U8\"", "[4294967296, 4294967296]", "[0, 16]", "the element count of shape [4294967296,4294967296] overflows"},
           {"\"U8\"", "[9223372036854775808]", "[0, 16]", "expected a non-negative integer below 2^63"},
           {"\"F64\"", "[2305843009213693952, 2]", "[0, 16]", "the byte size of shape [2305843009213693952,2] in F64 overflows"},
           {"\"F32\"", "[1]", "[8, 4]", "data_offsets [8, 4] end before begin"},
           {"\"F32\"", "[2, 2]", "[0, 12]", "span 12 bytes, expected 16"},
           {"\"F32\"", "[4]", "[4, 20]", "data_offsets [4, 20] point past the end of the 16-byte data buffer"},
       }) {
    INFO("dtype " << b.dtype << ", shape " << b.shape << ", data_offsets " << b.offsets);
    MNEMO_CHECK_THROWS(R(bad(entry(b.dtype, b.shape, b.offsets))), IoError, b.message);
  }
  // A lying header that claims 4 GiB: refused from the file size, nothing is allocated.
  MNEMO_CHECK_THROWS(R(bad(entry("\"F32\"", "[1073741824]", "[0, 4294967296]"))), IoError,
                     "point past the end of the 16-byte data buffer");
  MNEMO_CHECK_THROWS(R(bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}, "
                           "\"b\": {\"dtype\": \"I32\", \"shape\": [3], \"data_offsets\": [0, 12]}}")),
                     IoError, "tensors 'b' [0, 12) and 'a' [8, 16) overlap");

  // Allowed: uncovered bytes, empty tensors anywhere inside the buffer, a header of only metadata.
  R gap(bad("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}, "
            "\"e\": {\"dtype\": \"F64\", \"shape\": [0, 5], \"data_offsets\": [13, 13]}}"));
  CHECK(gap.names() == std::vector<std::string>{"a", "e"});
  const float a = gap.read<float>("a")[0];
  uint32_t a_bits = 0;
  std::memcpy(&a_bits, &a, 4);
  CHECK(a_bits == 0x5A5A5A5Au);
  R only_metadata(bad("{\"__metadata__\": {\"k\": \"v\"}}", 0));
  CHECK(only_metadata.names().empty());
  CHECK(only_metadata.metadata().at("k") == "v");
}

TEST_CASE("Truncated copies of a valid file fail at every cut point", "[io][errors]") {
  TempDir tmp;
  io::SafetensorsWriter w;
  w.add("a", random_tensor<float>({3, 4}, 1));
  w.add("b", random_tensor<double>({5}, 2));
  const std::string full = tmp.file("full.safetensors");
  w.write(full);
  const auto bytes = read_all(full);
  const auto [header, n] = header_of(full);
  REQUIRE(bytes.size() == 8 + n + 48 + 40);
  io::SafetensorsReader intact(full);
  CHECK(intact.names().size() == 2);

  struct Cut {
    size_t at;
    const char* message;
  };
  const size_t h = 8 + static_cast<size_t>(n);
  for (const Cut cut : {Cut{0, "the file is 0 bytes long, expected at least 8"},
                        Cut{7, "the file is 7 bytes long, expected at least 8"},
                        Cut{8, "only 0 bytes follow the length field (truncated file?)"},
                        Cut{8 + static_cast<size_t>(n) / 2, "bytes follow the length field (truncated file?)"},
                        Cut{h - 1, "bytes follow the length field (truncated file?)"},
                        Cut{h, "tensor 'a': data_offsets [0, 48] point past the end of the 0-byte data buffer"},
                        Cut{h + 47, "tensor 'a': data_offsets [0, 48] point past the end of the 47-byte"},
                        Cut{h + 48, "tensor 'b': data_offsets [48, 88] point past the end of the 48-byte"},
                        Cut{bytes.size() - 1, "tensor 'b': data_offsets [48, 88] point past the end of the 87-byte"}}) {
    INFO("cut at byte " << cut.at << " of " << bytes.size());
    const std::string path = tmp.file("cut_" + std::to_string(cut.at) + ".safetensors");
    write_all(path, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut.at)));
    MNEMO_CHECK_THROWS(io::SafetensorsReader{path}, IoError, cut.message);
    MNEMO_CHECK_THROWS(io::SafetensorsReader{path}, IoError, path);
  }

  // The reader holds the whole file from the moment it was opened: a file that shrinks (or is
  // replaced) afterwards changes nothing the reader returns.
  const std::string shrinking = tmp.file("shrinking.safetensors");
  w.write(shrinking);
  io::SafetensorsReader r(shrinking);
  write_all(shrinking, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(h + 10)));
  CHECK(r.read<double>("b").to_host() == random_tensor<double>({5}, 2).to_host());
}

TEST_CASE("Loading into a store that does not match fails, naming the parameter, and changes nothing",
          "[io][errors]") {
  TempDir tmp;
  nn::ParameterStore<float, Cpu> saved(1);
  saved.add("w", {2, 3}, nn::Init::normal(1.0));
  saved.add("b", {3}, nn::Init::normal(1.0));
  const std::string path = tmp.file("wb.safetensors");
  io::save_parameters(saved, path);

  nn::ParameterStore<float, Cpu> transposed(2);
  transposed.add("b", {3}, nn::Init::zeros());
  transposed.add("w", {3, 2}, nn::Init::zeros());
  MNEMO_CHECK_THROWS(io::load_parameters(transposed, path), ShapeError,
                     "wb.safetensors': parameter 'w' has shape [2, 3], expected [3, 2]");
  CHECK(transposed.get("b").value.to_host() == std::vector<float>{0, 0, 0});  // nothing loaded

  nn::ParameterStore<float, Cpu> bigger(2);
  bigger.add("w", {2, 3}, nn::Init::zeros());
  bigger.add("b", {3}, nn::Init::zeros());
  bigger.add("extra.weight", {4}, nn::Init::zeros());
  MNEMO_CHECK_THROWS(io::load_parameters(bigger, path), IoError,
                     "has no tensor 'extra.weight' for parameter (expected dtype F32, shape [4])");

  nn::ParameterStore<float, Cpu> smaller(2);
  smaller.add("w", {2, 3}, nn::Init::zeros());
  MNEMO_CHECK_THROWS(io::load_parameters(smaller, path), IoError,
                     "holds parameter 'b' (shape [3]), which the store does not have");
  CHECK(smaller.get("w").value.to_host() == std::vector<float>(6, 0.0f));

  nn::ParameterStore<double, Cpu> wider(2);
  wider.add("w", {2, 3}, nn::Init::zeros());
  wider.add("b", {3}, nn::Init::zeros());
  MNEMO_CHECK_THROWS(io::load_parameters(wider, path), IoError, "parameter 'w' has dtype F32, expected F64");

  // Optimizer moments: one without the other, or of the wrong shape.
  io::SafetensorsWriter half_state;
  io::add_parameters(half_state, saved);
  half_state.add(io::adam_m_name("w"), Tensor<float, Cpu>::zeros({2, 3}));
  half_state.write(tmp.file("half_state.safetensors"));
  io::SafetensorsReader hs(tmp.file("half_state.safetensors"));
  nn::ParameterStore<float, Cpu> target(2);
  target.add("w", {2, 3}, nn::Init::zeros());
  target.add("b", {3}, nn::Init::zeros());
  MNEMO_CHECK_THROWS(io::read_parameters(hs, target, true), IoError,
                     "parameter 'w' has w@adam_m but not w@adam_v, expected both or neither");
  io::read_parameters(hs, target, false);  // moments are not parameters: ignored
  CHECK(same_bits(target.get("w").value, saved.get("w").value));
  io::SafetensorsWriter bad_moment;
  io::add_parameters(bad_moment, saved);
  bad_moment.add(io::adam_m_name("b"), Tensor<float, Cpu>::zeros({4}));
  bad_moment.add(io::adam_v_name("b"), Tensor<float, Cpu>::zeros({4}));
  bad_moment.write(tmp.file("bad_moment.safetensors"));
  MNEMO_CHECK_THROWS(io::read_parameters(io::SafetensorsReader(tmp.file("bad_moment.safetensors")), target, true),
                     ShapeError, "optimizer moment 'b@adam_m' has shape [4], expected [3]");

  // '@' is reserved: such a parameter can be neither saved nor loaded.
  nn::ParameterStore<float, Cpu> odd(2);
  odd.add("w@adam_m", {2, 3}, nn::Init::zeros());
  MNEMO_CHECK_THROWS(io::save_parameters(odd, tmp.file("odd.safetensors")), IoError,
                     "add_parameters: parameter name 'w@adam_m' contains '@'");
  MNEMO_CHECK_THROWS(io::load_parameters(odd, path), IoError, "read_parameters: parameter name 'w@adam_m'");
}

TEST_CASE("SafetensorsWriter rejects bad names and unwritable paths and writes atomically", "[io][errors]") {
  TempDir tmp;
  io::SafetensorsWriter w;
  const auto t = Tensor<float, Cpu>::zeros({2});
  w.add("t", t);
  MNEMO_CHECK_THROWS(w.add("t", Tensor<double, Cpu>::zeros({3})), IoError,
                     "duplicate tensor name 't' (already added with shape [2])");
  MNEMO_CHECK_THROWS(w.add("", t), IoError, "empty tensor name");
  MNEMO_CHECK_THROWS(w.add("__metadata__", t), IoError, "'__metadata__' is reserved for the metadata");
  MNEMO_CHECK_THROWS(w.add("bad\xff", t), IoError, "is not valid UTF-8");
  MNEMO_CHECK_THROWS(w.add("undefined", Tensor<float, Cpu>()), IoError, "tensor 'undefined' is undefined");
  MNEMO_CHECK_THROWS(w.set_metadata("k", "\xc3"), IoError, "key 'k' or its value is not valid UTF-8");
  CHECK(w.size() == 1);

  const std::string nowhere = tmp.file("no_such_dir/out.safetensors");
  MNEMO_CHECK_THROWS(w.write(nowhere), IoError, "cannot write safetensors file '" + nowhere + "'");

  // Overwriting replaces the file whole, and no temporary file stays behind.
  const std::string path = tmp.file("out.safetensors");
  write_all(path, std::vector<char>(1000, 'x'));
  w.set_metadata("k", "v1");
  w.set_metadata("k", "v2");
  w.write(path);
  io::SafetensorsReader r(path);
  CHECK(r.metadata().at("k") == "v2");
  CHECK(same_bits(r.read<float>("t"), t));
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(tmp.dir)) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);
}
