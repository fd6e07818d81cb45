// io/model_file.hpp, io/config_json.hpp, io/partial_load.hpp: a model rebuilt from its file alone
// computes bit-identical outputs; every way a model file can lie is a named IoError; partial and
// renamed loads change exactly the listed parameters, and nothing when they fail.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "mnemo/mnemo.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
using MemformerD = models::Memformer<double, Cpu>;
using MemformerF = models::Memformer<float, Cpu>;
using InfiniteFormerD = models::InfiniteFormer<double, Cpu>;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("mnemo_test_model_file_" + name)).string();
}

models::MemformerConfig memformer_config() {
  models::MemformerConfig c;
  c.vocab = 13;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.slots = 3;
  c.encoder_layers = 2;
  c.decoder_layers = 1;
  c.segment_length = 4;
  c.temperature = 0.7;
  c.slot_scale = 1.5;  // set optional: must survive the round trip
  c.init_std = 0.3;
  c.bos_id = 2;
  return c;
}

models::InfiniteFormerConfig infinite_former_config() {
  models::InfiniteFormerConfig c;
  c.vocab = 11;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 16;
  c.layers = 2;
  c.segment_length = 4;
  c.stm_segments = 1;
  c.dropout = 0.0;
  c.tie_embeddings = false;
  c.init_std = 0.3;
  c.ltm.basis = memory::BasisConfig{8, {0.15, 0.3}};
  c.ltm.samples = 6;
  c.ltm.tau = 0.6;
  c.ltm.positions = memory::PositionConvention::CellCentre;
  c.ltm.sticky = true;
  c.ltm.sticky_bins = 8;
  return c;
}

template <class T>
std::vector<std::vector<T>> parameter_bytes(const nn::ParameterStore<T, Cpu>& store) {
  std::vector<std::vector<T>> out;
  for (const auto& p : store) out.push_back(p->value.to_host());
  return out;
}

train::Segment segment(int64_t batch, int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{batch, L}), {}};
  const RngKey key{seed, 5};
  for (int64_t i = 0; i < batch * L; ++i)
    s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}

/// A model file whose metadata is that of `model` with `key` replaced by `value` ("" removes it).
template <class Model>
void write_with_metadata(const Model& model, const std::string& path, const std::string& key, const std::string& value) {
  io::save_model(model, path);
  io::SafetensorsReader original(path);
  io::SafetensorsWriter w;
  io::add_parameters(w, model.parameters());
  for (const auto& [k, v] : original.metadata())
    if (k != key) w.set_metadata(k, v);
  if (!value.empty()) w.set_metadata(key, value);
  w.write(path);
}

}  // namespace

TEST_CASE("a Memformer rebuilt from its file alone has the same configuration, parameters and logits",
          "[io][model_file]") {
  const auto path = temp_path("memformer.safetensors");
  MemformerD model(memformer_config(), 17);
  io::save_model(model, path, {{"note", "kept"}});

  const auto loaded = io::load_model<MemformerD>(path);
  CHECK(io::config_to_json(loaded.config()) == io::config_to_json(model.config()));
  REQUIRE(loaded.config().slot_scale.has_value());
  CHECK(*loaded.config().slot_scale == 1.5);
  CHECK_FALSE(loaded.config().position_scale.has_value());  // unset stays unset (null in the file)
  CHECK(parameter_bytes(loaded.parameters()) == parameter_bytes(model.parameters()));
  CHECK(io::SafetensorsReader(path).metadata().at("note") == "kept");

  const auto in = segment(2, 4, 13, 1), target = segment(2, 4, 13, 2);
  const auto a = model.step(model.initial_state(2), in, &target);
  const auto b = loaded.step(loaded.initial_state(2), in, &target);
  CHECK(a.logits.to_host() == b.logits.to_host());
  CHECK(a.next.slots().to_host() == b.next.slots().to_host());
  std::remove(path.c_str());
}

TEST_CASE("an infinity-former rebuilt from its file alone has the same configuration and logits", "[io][model_file]") {
  const auto path = temp_path("infinite_former.safetensors");
  InfiniteFormerD model(infinite_former_config(), 23);
  io::save_model(model, path);
  const auto loaded = io::load_model<InfiniteFormerD>(path);
  CHECK(io::config_to_json(loaded.config()) == io::config_to_json(model.config()));
  CHECK(loaded.config().ltm.positions == memory::PositionConvention::CellCentre);
  CHECK(loaded.config().ltm.basis.widths == std::vector<double>{0.15, 0.3});
  CHECK(parameter_bytes(loaded.parameters()) == parameter_bytes(model.parameters()));

  auto s1 = model.initial_state(2, 9), s2 = loaded.initial_state(2, 9);
  for (uint64_t t = 0; t < 3; ++t) {  // three segments: the LTM is written and read
    const auto tokens = segment(2, 4, 11, 40 + t).tokens;
    const auto a = model.step(tokens, nullptr, s1), b = loaded.step(tokens, nullptr, s2);
    CHECK(a.logits.value().to_host() == b.logits.value().to_host());
  }
  std::remove(path.c_str());
}

TEST_CASE("config JSON is strict about missing, unknown and mistyped fields", "[io][model_file]") {
  const auto json = io::config_to_json(memformer_config());
  CHECK(io::config_to_json(io::config_from_json<models::MemformerConfig>(json)) == json);

  auto edited = [&](const std::string& from, const std::string& to) {
    auto s = json;
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  MNEMO_CHECK_THROWS(io::config_from_json<models::MemformerConfig>(edited("\"vocab\":13", "\"vocab_gone\":13")), IoError,
                     "field 'vocab' is missing");
  MNEMO_CHECK_THROWS(io::config_from_json<models::MemformerConfig>(edited("\"vocab\":13", "\"vocab\":13,\"colour\":1")),
                     IoError, "unknown field 'colour'");
  MNEMO_CHECK_THROWS(io::config_from_json<models::MemformerConfig>(edited("\"vocab\":13", "\"vocab\":\"13\"")), IoError,
                     "field 'vocab' is a JSON string, expected an integer");
  MNEMO_CHECK_THROWS(io::config_from_json<models::MemformerConfig>(edited("\"bos_id\":2", "\"bos_id\":4294967296")),
                     IoError, "field 'bos_id' = 4294967296");
  MNEMO_CHECK_THROWS(io::config_from_json<models::MemformerConfig>("{\"vocab\":"), IoError, "not valid JSON");

  const auto inf = io::config_to_json(infinite_former_config());
  auto nested = inf;
  nested.replace(nested.find("\"widths\":[0.15,0.3]"), 19, "\"widths\":[0.15,true]");
  MNEMO_CHECK_THROWS(io::config_from_json<models::InfiniteFormerConfig>(nested), IoError,
                     "field 'ltm.basis.widths[1]' is a JSON boolean, expected a number");
  // Deep nesting is refused while parsing, not walked recursively.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  MNEMO_CHECK_THROWS(io::config_from_json<models::InfiniteFormerConfig>(deep), IoError, "nested deeper than");
}

TEST_CASE("a model file that lies about itself is a named IoError", "[io][model_file]") {
  const auto path = temp_path("lying.safetensors");
  MemformerD model(memformer_config(), 3);

  io::save_parameters(model.parameters(), path);  // a plain parameter file: no model metadata
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "has no metadata 'mnemo.format_version'");

  io::save_model(model, path);
  MNEMO_CHECK_THROWS(io::load_model<InfiniteFormerD>(path), IoError, "holds a memformer model, expected a infinite_former");
  MNEMO_CHECK_THROWS(io::load_model<MemformerF>(path), IoError, "has F64 parameters, expected F32");

  write_with_metadata(model, path, io::model_key::format_version, "2");
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "has format version '2', expected 1");

  auto wrong = memformer_config();
  wrong.d_ff = 20;  // a valid configuration that builds other shapes than the file's tensors
  write_with_metadata(model, path, io::model_key::config, io::config_to_json(wrong));
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError,
                     "its configuration builds 3268 parameter elements, its tensors hold 2860");

  {  // as many elements as the configuration builds, but one tensor under another name
    io::save_model(model, path);
    const auto meta = io::SafetensorsReader(path).metadata();
    io::SafetensorsWriter w;
    for (const auto& p : model.parameters())
      w.add(p->name == "decoder.norm.bias" ? std::string("decoder.norm.bias_renamed") : p->name, p->value);
    for (const auto& [k, v] : meta) w.set_metadata(k, v);
    w.write(path);
    MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError,
                       "its tensors do not match its configuration: IoError: safetensors file");
    MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "has no tensor 'decoder.norm.bias'");
  }

  wrong = memformer_config();
  wrong.heads = 3;  // d_model 8 is not divisible: the file's configuration is invalid
  write_with_metadata(model, path, io::model_key::config, io::config_to_json(wrong));
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "is not divisible by heads = 3");

  wrong = memformer_config();
  wrong.encoder_layers = 3;  // a layer the file lacks
  write_with_metadata(model, path, io::model_key::config, io::config_to_json(wrong));
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "its configuration builds 3696 parameter elements");

  wrong = memformer_config();
  wrong.decoder_layers = 1000000;  // refused before a single layer is built
  write_with_metadata(model, path, io::model_key::config, io::config_to_json(wrong));
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "parameter elements, its tensors hold");

  wrong = memformer_config();
  wrong.segment_length = 1 << 20;  // a buffer no tensor accounts for
  write_with_metadata(model, path, io::model_key::config, io::config_to_json(wrong));
  MNEMO_CHECK_THROWS(io::load_model<MemformerD>(path), IoError, "segment_length = 1048576, expected <= 16384");

  MNEMO_CHECK_THROWS(io::save_model(model, path, {{"mnemo.model", "x"}}), IoError, "reserve for their own keys");
  std::remove(path.c_str());
}

TEST_CASE("a partial load changes exactly the listed parameters", "[io][partial_load]") {
  const auto path = temp_path("pretrained.safetensors");
  MemformerD pretrained(memformer_config(), 100);
  io::save_model(pretrained, path);

  MemformerD fresh(memformer_config(), 200);
  const auto before = parameter_bytes(fresh.parameters());
  io::load_parameters_partial(fresh.parameters(), path, io::prefix_mapping(fresh.parameters(), "encoder."));
  size_t loaded = 0, kept = 0;
  for (size_t i = 0; i < fresh.parameters().size(); ++i) {
    const auto& p = fresh.parameters()[i];
    if (p.name.starts_with("encoder.")) {
      CHECK(p.value.to_host() == pretrained.parameters().get(p.name).value.to_host());
      ++loaded;
    } else {
      CHECK(p.value.to_host() == before[i]);
      ++kept;
    }
  }
  CHECK(loaded > 0);
  CHECK(kept > 0);

  // Renamed: the file's layer 0 feed-forward into layer 1.
  const std::string from = "encoder.layers.0.ffn.fc1.weight", to = "encoder.layers.1.ffn.fc1.weight";
  REQUIRE(fresh.parameters().contains(to));
  io::load_parameters_partial(fresh.parameters(), path, {{from, to}});
  CHECK(fresh.parameters().get(to).value.to_host() == pretrained.parameters().get(from).value.to_host());
  std::remove(path.c_str());
}

TEST_CASE("a failed partial load leaves every parameter as it was", "[io][partial_load]") {
  const auto path = temp_path("partial_bad.safetensors");
  MemformerD pretrained(memformer_config(), 100);
  io::save_model(pretrained, path);
  MemformerD fresh(memformer_config(), 200);
  const auto before = parameter_bytes(fresh.parameters());
  const std::string fc1 = "encoder.layers.0.ffn.fc1.weight", fc2 = "encoder.layers.0.ffn.fc2.weight";
  REQUIRE(fresh.parameters().contains(fc1));
  REQUIRE(fresh.parameters().contains(fc2));

  // The first entry is valid; the second fails: the first must not have been applied.
  MNEMO_CHECK_THROWS(io::load_parameters_partial(fresh.parameters(), path, {{fc1, fc1}, {"nope", fc2}}), IoError,
                     "has no tensor 'nope' for parameter '" + fc2 + "'");
  MNEMO_CHECK_THROWS(io::load_parameters_partial(fresh.parameters(), path, {{fc1, fc1}, {fc1, "missing.weight"}}),
                     IoError, "the store has no parameter 'missing.weight'");
  MNEMO_CHECK_THROWS(io::load_parameters_partial(fresh.parameters(), path, {{fc1, fc1}, {fc2, fc1}}), IoError,
                     "is named twice");
  MNEMO_CHECK_THROWS(io::load_parameters_partial(fresh.parameters(), path, {{fc1, fc1}, {fc1, fc2}}), ShapeError,
                     "for parameter '" + fc2 + "'");  // fc1 is [d, ffn], fc2 is [ffn, d]
  MNEMO_CHECK_THROWS(io::load_parameters_partial(fresh.parameters(), path, {}), IoError, "the mapping is empty");
  MNEMO_CHECK_THROWS(io::prefix_mapping(fresh.parameters(), "decoderz."), IoError, "starts with 'decoderz.'");
  CHECK(parameter_bytes(fresh.parameters()) == before);
  std::remove(path.c_str());
}

TEST_CASE("the parameter count a configuration implies equals the built store's", "[io][model_file]") {
  for (bool tie : {true, false})
    for (int64_t decoder_layers : {0, 2}) {
      auto c = memformer_config();
      c.tie_embeddings = tie;
      c.decoder_layers = decoder_layers;
      CHECK(static_cast<int64_t>(io::detail::parameter_count(c)) == MemformerD(c).parameters().numel());
    }
  for (bool tie : {true, false})
    for (bool use_ltm : {true, false})
      for (bool gate : {true, false}) {
        auto c = infinite_former_config();
        c.tie_embeddings = tie;
        c.use_ltm = use_ltm;
        c.ltm.gate = gate;
        CHECK(static_cast<int64_t>(io::detail::parameter_count(c)) == InfiniteFormerD(c).parameters().numel());
      }
}
