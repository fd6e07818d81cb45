// mnemo-bench's command line (bench/mnemo_bench/options.hpp) and the public benchmarking helpers
// (include/mnemo/bench/): parsing, sweeps and every error message; the FLOP formulas against a
// hand count of one shape; the backend and element-type check (bench/mnemo_bench/backends.hpp);
// the sample summary, the repeat timer and the arena peak. No model header is included, so this
// translation unit compiles in seconds; the smoke run of every case is the ctest
// mnemo_bench_smoke (bench/mnemo_bench/smoke.sh; CUDA builds: mnemo_bench_cuda_*).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

// The parser lives with the tool, not in include/ (it is no library API).
#include "../../bench/mnemo_bench/backends.hpp"
#include "../../bench/mnemo_bench/options.hpp"
#include "mnemo/bench/arena_peak.hpp"
#include "mnemo/bench/flops.hpp"
#include "mnemo/bench/repeat_timer.hpp"
#include "mnemo/bench/sample_stats.hpp"

using mnemo::bench_cli::Invocation;
using mnemo::bench_cli::parse;
using mnemo::bench_cli::UsageError;

namespace {

/// The values of parameter `name` in a parsed invocation.
std::vector<std::string> values_of(const Invocation& inv, const std::string& name) {
  for (const auto& [n, v] : inv.values)
    if (n == name) return v;
  FAIL("no parameter " << name);
  return {};
}

/// parse(args) must throw UsageError (exactly) with `text` in its message.
void check_usage_error(const std::vector<std::string>& args, const std::string& text) {
  INFO("arguments: " << Catch::Detail::stringify(args));
  try {
    parse(args);
    FAIL("no exception; expected UsageError containing: " << text);
  } catch (const UsageError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Matchers::StartsWith("UsageError: ") && Catch::Matchers::Contains(text));
  }
}

/// 16-bit stand-ins for bfloat16 and a GPU half type: only Precision<T>::name and the size
/// matter to the check (the real types need Eigen or CUDA headers).
struct FakeBf16 {
  uint16_t bits = 0;
};
struct FakeHalf {
  uint16_t bits = 0;
};

}  // namespace

template <>
struct mnemo::Precision<FakeBf16> {
  static constexpr const char* name = "bfloat16";
};
template <>
struct mnemo::Precision<FakeHalf> {
  static constexpr const char* name = "float16";
};

TEST_CASE("mnemo-bench parses a case with its defaults, given values and canonical dtype names", "[bench_cli]") {
  const auto inv = parse({"memformer-step", "--d", "512", "--heads=8", "--dtype", "double", "--threads", "2"});
  CHECK(inv.action == Invocation::Action::Run);
  CHECK(inv.case_name == "memformer-step");
  CHECK(values_of(inv, "d") == std::vector<std::string>{"512"});
  CHECK(values_of(inv, "heads") == std::vector<std::string>{"8"});
  CHECK(values_of(inv, "slots") == std::vector<std::string>{"64"});  // the default
  CHECK(values_of(inv, "dtype") == std::vector<std::string>{"float64"});
  CHECK(values_of(inv, "threads") == std::vector<std::string>{"2"});
  CHECK(values_of(parse({"attention", "--dtype", "bf16"}), "dtype") == std::vector<std::string>{"bfloat16"});
  CHECK(inv.swept().empty());
  CHECK(inv.points().size() == 1);
  CHECK(inv.settings.repetitions == 5);
  CHECK(inv.settings.progress);
  // The GEMM ceiling's n: the backend's default unless --gemm-n is given.
  CHECK(inv.settings.gemm_n == -1);
  CHECK(mnemo::bench_cli::default_gemm_n("cpu") == 1024);
  CHECK(mnemo::bench_cli::default_gemm_n("cuda") == 4096);
}

TEST_CASE("mnemo-bench parses every spelling of bf16 and a dtype x backend sweep", "[bench_cli][bf16]") {
  for (const char* word : {"bf16", "bfloat16"})
    CHECK(values_of(parse({"ltm", "--dtype", word}), "dtype") == std::vector<std::string>{"bfloat16"});
  const auto inv = parse({"memformer-step", "--dtype", "bf16,float,half", "--backend", "cpu,cuda"});
  CHECK(values_of(inv, "dtype") == std::vector<std::string>{"bfloat16", "float32", "float16"});
  CHECK(values_of(inv, "backend") == std::vector<std::string>{"cpu", "cuda"});
  CHECK(inv.swept() == std::vector<std::string>{"dtype", "backend"});
  const auto points = inv.points();
  REQUIRE(points.size() == 6);
  CHECK(points[0].str("dtype") == "bfloat16");
  CHECK(points[0].str("backend") == "cpu");
  CHECK(points[1].str("backend") == "cuda");
  CHECK(points[5].str("dtype") == "float16");
  check_usage_error({"attention", "--dtype", "bf"}, "--dtype: expected one of float, float32, f32, double, float64, f64, bf16, bfloat16");
}

TEST_CASE("mnemo-bench refuses a backend or element type the build does not run, before any case", "[bench_cli][bf16]") {
  using mnemo::bench_cli::BackendSupport;
  using mnemo::bench_cli::DtypeList;
  const BackendSupport cpu = mnemo::bench_cli::backend_support("cpu", "CPU", DtypeList<float, double, FakeBf16>{});
  CHECK(cpu.dtype_names() == "float32, float64, bfloat16");
  CHECK(cpu.element_bytes("bfloat16") == 2);
  CHECK(cpu.element_bytes("float64") == 8);
  CHECK(cpu.element_bytes("float16") == 0);
  // The element type named on the command line is the one the case runs in.
  CHECK(mnemo::bench_cli::with_dtype<size_t>("bfloat16", [](auto t) { return sizeof(t); }, DtypeList<float, double, FakeBf16>{}) == 2);
  CHECK(mnemo::bench_cli::with_dtype<size_t>("float64", [](auto t) { return sizeof(t); }, DtypeList<float, double, FakeBf16>{}) == 8);
  CHECK_THROWS_AS(mnemo::bench_cli::with_dtype<size_t>("float16", [](auto t) { return sizeof(t); }, DtypeList<float>{}),
                  UsageError);

  const std::vector<BackendSupport> cpu_only{cpu};
  const auto refused = [](const std::vector<std::string>& args, const std::vector<BackendSupport>& built, const std::string& text) {
    INFO("arguments: " << Catch::Detail::stringify(args));
    try {
      mnemo::bench_cli::check_supported(parse(args), built);
      FAIL("no exception; expected UsageError containing: " << text);
    } catch (const UsageError& e) {
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(text));
    }
  };
  CHECK_NOTHROW(mnemo::bench_cli::check_supported(parse({"attention", "--dtype", "bf16,double"}), cpu_only));
  refused({"attention", "--dtype", "half"}, cpu_only,
          "--dtype float16: this build has no CPU float16 element type, expected one of: float32, float64, bfloat16");
  refused({"attention", "--backend", "cuda"}, cpu_only, "--backend cuda: this build of mnemo-bench has no cuda backend");
  refused({"attention", "--backend", "cuda"}, cpu_only, "expected one of: cpu");
  // A CUDA build: half runs on the GPU only; a sweep over both backends is refused for the CPU's point.
  const std::vector<BackendSupport> both{
      cpu, mnemo::bench_cli::backend_support("cuda", "CUDA", DtypeList<float, double, FakeHalf, FakeBf16>{})};
  CHECK(both[1].dtype_names() == "float32, float64, float16, bfloat16");
  CHECK_NOTHROW(mnemo::bench_cli::check_supported(parse({"attention", "--backend", "cuda", "--dtype", "half,bf16"}), both));
  CHECK_NOTHROW(mnemo::bench_cli::check_supported(parse({"attention", "--backend", "cpu,cuda", "--dtype", "bf16"}), both));
  refused({"attention", "--backend", "cuda,cpu", "--dtype", "half"}, both,
          "--dtype float16: this build has no CPU float16 element type, expected one of: float32, float64, bfloat16");
}

TEST_CASE("mnemo-bench runs every combination of listed values, the first parameter slowest", "[bench_cli]") {
  const auto inv = parse({"memformer-read", "--segment", "64,128,256", "--d", "128,256", "--json", "out.json",
                          "--repetitions", "3", "--min-time", "0.5", "--gemm-n", "0", "--quiet"});
  CHECK(inv.swept() == std::vector<std::string>{"d", "segment"});
  const auto points = inv.points();
  REQUIRE(points.size() == 6);
  CHECK(points[0].integer("d") == 128);
  CHECK(points[0].integer("segment") == 64);
  CHECK(points[2].integer("segment") == 256);
  CHECK(points[3].integer("d") == 256);
  CHECK(points[3].integer("segment") == 64);
  CHECK(inv.settings.json == "out.json");
  CHECK(inv.settings.repetitions == 3);
  CHECK(inv.settings.min_time == 0.5);
  CHECK(inv.settings.gemm_n == 0);
  CHECK_FALSE(inv.settings.progress);
}

TEST_CASE("mnemo-bench aliases, switches, --compare, --help and --list", "[bench_cli]") {
  const auto mrbp = parse({"mrbp", "--rollout", "2,4"});
  CHECK(mrbp.case_name == "rollout");
  CHECK(values_of(mrbp, "method") == std::vector<std::string>{"mrbp"});
  CHECK(values_of(parse({"bptt"}), "method") == std::vector<std::string>{"bptt"});
  CHECK(parse({"attention", "--causal"}).points()[0].flag("causal"));
  CHECK_FALSE(parse({"attention"}).points()[0].flag("causal"));
  const auto cmp = parse({"--compare", "a.json", "b.json"});
  CHECK(cmp.action == Invocation::Action::Compare);
  CHECK(cmp.compare_files == std::vector<std::string>{"a.json", "b.json"});
  CHECK(parse({"--help"}).action == Invocation::Action::Help);
  const auto case_help = parse({"ltm", "--help"});
  CHECK(case_help.action == Invocation::Action::Help);
  CHECK(case_help.case_name == "ltm");
  CHECK(parse({"--list"}).action == Invocation::Action::List);
  CHECK_THAT(mnemo::bench_cli::help_text(mnemo::bench_cli::find_case("ltm")), Catch::Matchers::Contains("--basis"));
}

TEST_CASE("mnemo-bench rejects bad arguments naming what it expected and what came", "[bench_cli]") {
  check_usage_error({}, "expected a case (attention, memformer-step");
  check_usage_error({"nope"}, "unknown case 'nope', expected one of: attention, memformer-step, memformer-read");
  check_usage_error({"ltm", "--slots", "4"}, "ltm: unknown option '--slots', expected one of: --batch, --d");
  check_usage_error({"ltm", "segment"}, "ltm: expected an option (--name value), got 'segment'");
  check_usage_error({"memformer-step", "--segment"}, "--segment: expected a value after it, got the end of the arguments");
  check_usage_error({"memformer-step", "--segment", "--d", "4"}, "--segment: expected a value after it, got the option '--d'");
  check_usage_error({"memformer-step", "--segment", "abc"},
                    "--segment: expected an integer (or a comma-separated list) in [1, 16777216], got 'abc'");
  check_usage_error({"memformer-step", "--segment", "12x"}, "got '12x' (not an integer)");
  check_usage_error({"memformer-step", "--segment", "0"}, "in [1, 16777216], got '0' (out of range)");
  check_usage_error({"memformer-step", "--segment", "-5"}, "got '-5' (out of range)");
  check_usage_error({"memformer-step", "--segment", "99999999999999999999"}, "(out of range)");
  check_usage_error({"memformer-step", "--segment", "64,,128"}, "--segment: expected a value or a comma-separated list of values, got '64,,128' (an empty item)");
  check_usage_error({"memformer-step", "--segment", "64,"}, "(an empty item)");
  check_usage_error({"attention", "--dtype", "int8"}, "--dtype: expected one of float, float32, f32, double");
  check_usage_error({"attention", "--dtype", "int8"}, "got 'int8'");
  check_usage_error({"attention", "--backend", "tpu"}, "--backend: expected one of cpu, cuda, got 'tpu'");
  check_usage_error({"attention", "--d", "64", "--d", "128"}, "--d: given twice, expected it once (a sweep is one comma-separated list: --d 64,128)");
  check_usage_error({"mrbp", "--method", "bptt"}, "--method: 'mrbp' fixes it to mrbp; use the case 'rollout' to choose it");
  check_usage_error({"attention", "--causal=1"}, "--causal: a switch takes no value, got '1'");
  check_usage_error({"attention", "--repetitions", "0"}, "--repetitions: expected an integer in [1, 100000], got '0'");
  check_usage_error({"attention", "--min-time", "-1"}, "--min-time: expected a number of seconds in [0, 3600], got '-1'");
  check_usage_error({"attention", "--min-time", "fast"}, "got 'fast'");
  check_usage_error({"attention", "--plot", "x.png"}, "--plot: expected a sweep (a parameter given as a list, e.g. --segment 64,128), got none");
  check_usage_error({"attention", "--len", "8,16", "--plot", "x.svg"}, "--plot: expected a file name ending in .png, got 'x.svg'");
  check_usage_error({"attention", "--json", ""}, "--json: expected a file name, got an empty string");
  check_usage_error({"--compare", "a.json"}, "--compare: expected two JSON files (A.json B.json), got 1");
  check_usage_error({"--compare", "a.json", "b.json", "c.json"}, "got 3");
}

TEST_CASE("mnemo-bench --config reads options from a file, one per line", "[bench_cli]") {
  const auto path = std::filesystem::temp_directory_path() / "mnemo_bench_test_config.txt";
  {
    std::ofstream f(path);
    f << "# a sweep over slots\n--slots 16,32\nd=128\n\nheads 2   # trailing comment\nquiet\n";
  }
  const auto inv = parse({"memformer-step", "--config", path.string(), "--segment", "32"});
  CHECK(values_of(inv, "slots") == std::vector<std::string>{"16", "32"});
  CHECK(values_of(inv, "d") == std::vector<std::string>{"128"});
  CHECK(values_of(inv, "heads") == std::vector<std::string>{"2"});
  CHECK(values_of(inv, "segment") == std::vector<std::string>{"32"});
  CHECK_FALSE(inv.settings.progress);
  // The file's options count as given: the command line may not repeat them.
  check_usage_error({"memformer-step", "--config", path.string(), "--d", "64"}, "--d: given twice");
  {
    std::ofstream f(path);
    f << "slots 16 32\n";
  }
  check_usage_error({"memformer-step", "--config", path.string()}, "line 1: expected 'name value', got 'slots 16 32'");
  std::filesystem::remove(path);
  check_usage_error({"memformer-step", "--config", path.string()}, "--config: expected a readable file, got '");
  check_usage_error({"memformer-step", "--config"}, "--config: expected a file name after it, got the end of the arguments");
}

TEST_CASE("FLOP formulas match a hand count of one small shape", "[bench_cli][flops]") {
  using namespace mnemo::bench;
  // Attention, B = 2, Lq = 3, Lk = 5, d = 4: Q, O 2·(2·3)·4·4 = 192 each; K, V 2·(2·5)·4·4 = 320
  // each; S and A·V 2·2·3·5·4 = 240 each.
  CHECK(attention_flops(2, 3, 5, 4) == 192 + 192 + 320 + 320 + 240 + 240);
  CHECK(feed_forward_flops(3, 4, 8) == 2 * 3 * 4 * 8 * 2);

  mnemo::models::MemformerConfig c;
  c.d_model = 4;
  c.heads = 2;
  c.d_ff = 8;
  c.slots = 2;
  c.segment_length = 3;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.vocab = 5;
  // Encoder layer: self-attention 4·96 + 2·(2·3·3·4) = 528; reader (3 queries, 2 slots): Q, O
  // 2·96, K, V 2·(2·2·4·4), S and A·V 2·(2·3·2·4) = 416; FFN 2·(2·3·4·8) = 384.
  const double encoder = 528 + 416 + 384;
  // Writer (2 slot queries over 3 outputs): Q, O 2·(2·2·4·4) = 128, K, V 2·96, S and A·V 96.
  const double writer = 128 + 192 + 96;
  // Decoder layer: self 528 + cross 528 + FFN 384; head 2·3·4·5 = 120.
  const double decoder = 528 + 528 + 384, head = 120;
  CHECK(memformer_step_flops(c, 1, false) == encoder + writer);
  CHECK(memformer_step_flops(c, 1, true) == encoder + writer + decoder + head);
  CHECK(memformer_step_flops(c, 3, true) == 3 * (encoder + writer + decoder + head));
  CHECK(memformer_rollout_flops(c, 1, 4) == 3 * 4 * (encoder + writer + decoder + head));
  // Generation: token i's self-attention sees i + 1 keys: S and A·V Σ_i 2·2·(i+1)·4 = 96 in place
  // of the dense 144.
  CHECK(memformer_generate_flops(c, 1) == encoder + writer + (decoder - 144 + 96) + head);

  // LTM, B = 1, L = 3 written, 2 queries, e = 4, N = 4, M = 5: conv 6·3·16 = 288, Ψ_s·B
  // 2·5·4·4 = 160, refit 2·4·8·4 = 256, K and V 4·4·16 = 256, scores and r·V 4·2·4·4 = 128,
  // output 2·2·16 = 64.
  CHECK(ltm_read_update_flops(1, 3, 2, 4, 4, 5) == 288 + 160 + 256 + 256 + 128 + 64);

  mnemo::models::InfiniteFormerConfig f;
  f.d_model = 4;
  f.heads = 2;
  f.d_ff = 8;
  f.layers = 2;
  f.segment_length = 3;
  f.stm_segments = 1;
  f.vocab = 5;
  f.ltm.basis.count = 4;
  f.ltm.samples = 5;
  // Per layer: attention of 3 queries over 6 keys: Q, O 2·96, K, V 2·(2·6·4·4), S and A·V
  // 2·(2·3·6·4) = 192 + 384 + 288; LTM with 3 queries (the segment's): 288 + 160 + 256 + 256 +
  // scores and r·V 4·3·4·4 = 192 + output 2·3·16 = 96; FFN 384. Head 120.
  CHECK(infinite_former_step_flops(f, 1) == 2 * (192 + 384 + 288 + (288 + 160 + 256 + 256 + 192 + 96) + 384) + 120);
  f.use_ltm = false;
  CHECK(infinite_former_step_flops(f, 1) == 2 * (192 + 384 + 288 + 384) + 120);
}

TEST_CASE("bench::summarize: median, extremes and spread", "[bench_cli]") {
  const auto s = mnemo::bench::summarize({4.0, 1.0, 3.0, 2.0});
  CHECK(s.count == 4);
  CHECK(s.median == 2.5);
  CHECK(s.min == 1.0);
  CHECK(s.max == 4.0);
  CHECK(s.mean == 2.5);
  CHECK(s.spread() == Approx(3.0 / 2.5));
  CHECK(mnemo::bench::summarize({5.0, 1.0, 3.0}).median == 3.0);
  CHECK_THROWS_AS(mnemo::bench::summarize({}), mnemo::ValueError);
}

TEST_CASE("bench::time_repetitions: warm-up, repetitions, calls per repetition", "[bench_cli]") {
  int calls = 0;
  mnemo::bench::RepeatOptions options;
  options.warmup = 2;
  options.repetitions = 3;
  int reported = 0;
  options.on_repetition = [&](int, double) { ++reported; };
  const auto t = mnemo::bench::time_repetitions([&] { ++calls; }, options);
  CHECK(calls == 5);
  CHECK(t.seconds_per_call.size() == 3);
  CHECK(t.calls_per_repetition == 1);
  CHECK(t.calls_made == 3);
  CHECK(reported == 3);
  // A call far shorter than min_seconds is repeated within each later repetition.
  options.min_seconds = 1e-3;
  options.on_repetition = nullptr;
  calls = 0;
  const auto r = mnemo::bench::time_repetitions([&] { ++calls; }, options);
  CHECK(r.calls_per_repetition > 1);
  CHECK(calls == 2 + 1 + 3 * r.calls_per_repetition);  // warm-up, the sizing call, 3 repetitions
  CHECK(r.calls_made == 1 + 3 * r.calls_per_repetition);
  CHECK(r.seconds_per_call.size() == 3);
  options.repetitions = 0;
  CHECK_THROWS_AS(mnemo::bench::time_repetitions([] {}, options), mnemo::ValueError);
}

TEST_CASE("bench::time_repetitions: asynchronous work is waited for inside the repetition that queued it",
          "[bench_cli]") {
  // A stand-in for a GPU stream: a call only queues work (returns at once); synchronize() does
  // the queued work, 2 ms per call.
  int queued = 0, syncs = 0, done = 0;
  mnemo::bench::RepeatOptions options;
  options.warmup = 3;
  options.repetitions = 4;
  options.synchronize = [&] {
    ++syncs;
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * queued));
    done += queued;
    queued = 0;
  };
  const auto t = mnemo::bench::time_repetitions([&] { ++queued; }, options);
  CHECK(syncs == 2 * 4);     // before each clock start and stop
  CHECK(done == 3 + 4);      // the warm-up's work is waited for before the first clock start
  REQUIRE(t.seconds_per_call.size() == 4);
  for (double s : t.seconds_per_call) CHECK(s >= 2e-3);  // each sample holds its call's work
  // The sizing call is synchronised the same way: with min_seconds, 2 more waits.
  options.min_seconds = 1e-4;
  syncs = 0;
  const auto r = mnemo::bench::time_repetitions([&] { ++queued; }, options);
  CHECK(syncs == 2 * (4 + 1));
  CHECK(r.calls_per_repetition == 1);  // the sizing call took >= 2 ms > min_seconds
}

TEST_CASE("bench::ArenaPeak: the high-water mark above the bytes in use at its start", "[bench_cli]") {
  mnemo::Arena arena("test", [](size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); });
  void* held = arena.allocate(4096);  // in use before the scope: not counted
  mnemo::bench::ArenaPeak peak(arena);
  CHECK(peak.start() == 4096);
  void* a = arena.allocate(1000);  // rounded to 1024
  void* b = arena.allocate(2048);
  arena.deallocate(a, 1000);
  arena.deallocate(b, 2048);
  void* c = arena.allocate(512);
  CHECK(peak.peak() == 4096 + 1024 + 2048);
  CHECK(peak.above_start() == 1024 + 2048);
  peak.restart();
  CHECK(peak.start() == 4096 + 512);
  CHECK(peak.above_start() == 0);
  arena.deallocate(c, 512);
  arena.deallocate(held, 4096);
}
