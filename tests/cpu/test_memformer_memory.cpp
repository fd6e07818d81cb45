// Memformer's slot memory: the spec's test vectors (memformer.md §8.1–8.3), the properties of
// §9 (1–6), gradients of reader, writer, BMN and the reset path against finite differences.
#include <catch2/catch.hpp>

#include <cmath>

#include "mnemo/memory/slot_memory.hpp"
#include "mnemo/memory/slot_writer.hpp"
#include "support/testing.hpp"

using namespace mnemo;
using namespace mnemo::test;
namespace ag = mnemo::autograd;
using MemoryD = memory::SlotMemory<double, Cpu>;

namespace {

void require_all_below(const std::vector<GradCheck>& checks, double tol = 1e-6) {
  for (const auto& c : checks) {
    INFO(c.name << ": max relative error " << c.max_rel_error);
    CHECK(c.max_rel_error < tol);
  }
}

void check_values(const TensorD& t, std::initializer_list<double> expected, int64_t offset = 0, double tol = 1e-9) {
  int64_t i = offset;
  for (double e : expected) {
    INFO("element " << i);
    CHECK(std::abs(t[i] - e) < tol);
    ++i;
  }
}

memory::SlotMemoryOptions options(int64_t d, int64_t heads, int64_t slots, double gamma, int64_t readers = 0) {
  memory::SlotMemoryOptions o;
  o.d_model = d;
  o.heads = heads;
  o.slots = slots;
  o.slot_scale = gamma;
  o.temperature = 0.5;
  o.readers = readers;
  o.bias_init_norm = 0.5;
  o.init_std = 0.4;
  return o;
}

/// The setting of memformer.md §8.3 (γ = 1, τ = 0.5, d = 4, h = 2, K = 2, L = 3).
struct SpecCase {
  nn::ParameterStore<double, Cpu> store{0};
  MemoryD mem{store, options(4, 2, 2, 1.0)};
  TensorD slots = TensorD::from_host({1, 2, 4}, {0.4, 0.8, -0.4, 0.2, -0.2, 0.4, 0.4, -0.8});
  TensorD hidden{Shape{1, 3, 4}};
  TensorD r{Shape{1, 2, 4}};

  SpecCase() {
    for (int64_t row = 0; row < 4; ++row)
      for (int64_t c = 0; c < 4; ++c) {
        store.get("writer.q_proj.weight").value.at({row, c}) = static_cast<double>((4 * row + c) % 7 - 3) / 2;
        store.get("writer.k_proj.weight").value.at({row, c}) = static_cast<double>((3 * row + 2 * c) % 5 - 2) / 2;
        store.get("writer.v_proj.weight").value.at({row, c}) = (static_cast<double>((2 * row + c) % 6) - 2.5) / 10;
      }
    const double v[8] = {0.3, -0.2, 0.1, 0.4, -0.1, 0.2, 0.5, -0.3};
    for (int i = 0; i < 8; ++i) mem.bias().value[i] = v[i];
    for (int64_t l = 0; l < 3; ++l)
      for (int64_t c = 0; c < 4; ++c) hidden.at({0, l, c}) = std::sin(static_cast<double>(l) + 1 + 0.7 * static_cast<double>(c));
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t c = 0; c < 4; ++c) r.at({0, i, c}) = static_cast<double>(i + 1) * (static_cast<double>(c) - 1.5);
  }
};

double angle_degrees(const TensorD& m, const double* v_hat, int64_t d) {
  double dot = 0;
  for (int64_t c = 0; c < d; ++c) dot += m[c] * v_hat[c];
  return std::acos(std::clamp(dot, -1.0, 1.0)) * 180.0 / 3.14159265358979323846;
}

}  // namespace

auto& cpu_ctx() { return BackendTraits<Cpu>::default_context(); }

TEST_CASE("L2 normalisation backward matches memformer.md §8.1", "[memformer][memory]") {
  auto u = VarD::leaf(TensorD::from_host({1, 3}, {3, 4, 12}));
  ag::Tape tape;
  {
    ag::Recording on(tape);
    auto y = ag::l2_normalize(cpu_ctx(), u);
    check_values(y.value(), {3.0 / 13, 4.0 / 13, 12.0 / 13}, 0, 1e-15);
    tape.backward(ag::sum_product(cpu_ctx(), y, TensorD::from_host({1, 3}, {1, 0, 0})));
  }
  check_values(u.grad(), {0.0728265817, -0.0054619936, -0.0163859809}, 0, 1e-10);
  CHECK(u.grad()[0] == Approx(160.0 / 2197).epsilon(1e-14));
}

TEST_CASE("writer + BMN forward and backward match memformer.md §8.3", "[memformer][memory]") {
  SpecCase sc;
  auto m = VarD::leaf(sc.slots);
  auto h = VarD::leaf(sc.hidden);
  sc.store.zero_grad();
  memory::SlotWriter<double, Cpu>::Saved saved;
  const auto next = sc.mem.writer().forward(sc.slots, sc.hidden, nullptr, &saved);
  // p is [batch, heads, slots, 1+L]: (slot 0, head 0), (slot 0, head 1), (slot 1, head 0), (slot 1, head 1).
  check_values(saved.probs, {0.1423079720, 0.1356335732, 0.1744858225, 0.5475726323}, 0);
  check_values(saved.probs, {0.3799073203, 0.1399396009, 0.1359553952, 0.3441976836}, 8);
  check_values(saved.probs, {0.1261816272, 0.3537988686, 0.4064265837, 0.1135929206}, 4);
  check_values(saved.probs, {0.0068230323, 0.1070494837, 0.5724645125, 0.3136629715}, 12);
  check_values(saved.m_prime, {0.0633750595, 0.0353865294, -0.0761400994, 0.1130653470, -0.1094708398,
                               0.0414048306, 0.1285135867, 0.0915930421});
  check_values(next, {0.5587447943, -0.2531184168, 0.0366882506, 0.7889165319, -0.2848909669, 0.3283228140,
                      0.8548103571, -0.2834440335});

  ag::Tape tape;
  double loss = 0;
  {
    ag::Recording on(tape);
    auto l = ag::sum_product(cpu_ctx(), sc.mem.write(m, h), sc.r);
    loss = l.value()[0];
    tape.backward(l);
  }
  CHECK(std::abs(loss - 1.0209892832) < 1e-9);
  check_values(m.grad(), {-0.0056758926, 0.1672334426, 0.5205008742, 0.5464997164, -0.4924754302, -0.3458678394,
                          0.1666187208, -0.3014810619});
  check_values(sc.mem.bias().grad, {-2.7276042351, -0.5780518426, 0.7411747176, 1.7118752639, -3.8744741423,
                                    -1.5970845168, 0.7429174171, 4.2847855686});
  check_values(h.grad(), {0.6815115573, 0.1838072053, -0.6481721958, 0.6058728543, 1.1076278646, 0.7653638431,
                          -1.4088256093, 0.9069712951, 0.1829013511, 0.5131587020, -0.4057094637, 0.4972971646});
  check_values(sc.store.get("writer.q_proj.weight").grad, {-0.1494466051, 0.1126857216, -0.0208331189, -0.0050564772});
  check_values(sc.store.get("writer.k_proj.weight").grad, {-0.0260872849, 0.0126084099, 0.3959051880, 0.0168047146});
  check_values(sc.store.get("writer.v_proj.weight").grad, {-3.6022829898, -1.2936503518, 0.7014297085, 3.3023980440});
}

TEST_CASE("writer with padded tokens matches §8.3; all tokens masked keeps M exactly (property 1)",
          "[memformer][memory]") {
  SpecCase sc;
  memory::SlotWriter<double, Cpu>::Saved saved;
  auto pad = Tensor<uint8_t, Cpu>::from_host({1, 3}, {0, 0, 1});
  auto next = sc.mem.writer().forward(sc.slots, sc.hidden, &pad, &saved);
  check_values(saved.probs, {0.3145432442, 0.2997908237, 0.3856659321, 0.0});
  CHECK(saved.probs[3] == 0.0);
  check_values(next, {0.4952478251, 0.0804170756, -0.1728655842, 0.8475731092});

  auto all = Tensor<uint8_t, Cpu>::from_host({1, 3}, {1, 1, 1});
  for (double gamma : {1.0, 2.5}) {
    nn::ParameterStore<double, Cpu> store(4);
    MemoryD mem(store, options(4, 2, 2, gamma));
    mem.writer().forward(sc.slots, sc.hidden, &all, &saved);
    for (int64_t i = 0; i < sc.slots.numel(); ++i) CHECK(saved.m_prime[i] == sc.slots[i]);
  }
  // m_0 = normalize(v).
  auto m0 = sc.mem.initial_state(2);
  check_values(m0.slots(), {0.5477225575, -0.3651483717, 0.1825741858, 0.7302967433, -0.1601281538, 0.3202563076,
                            0.8006407690, -0.4803844614});
  for (int64_t i = 0; i < 8; ++i) CHECK(m0.slots()[8 + i] == m0.slots()[i]);
}

TEST_CASE("a self logit ahead by Δ leaves |M' − M| = L·e^{−Δ}/(1 + L·e^{−Δ}) (property 1)", "[memformer][memory]") {
  // One head, W_Q = W_K = c·I, zero tokens: self logit c²γ²·|m|², token logits 0, V_x = 0.
  const int64_t d = 4, L = 5;
  for (double c : {1.0, 1.5, 2.0}) {
    nn::ParameterStore<double, Cpu> store(1);
    auto o = options(d, 1, 1, 1.0);
    MemoryD mem(store, o);
    for (int i : {0, 1}) {
      auto& w = mem.writer().weight(i).value;
      w.zero();
      for (int64_t k = 0; k < d; ++k) w.at({k, k}) = c;
    }
    auto m = TensorD::from_host({1, 1, d}, {0.5, -0.5, 0.5, 0.5});
    memory::SlotWriter<double, Cpu>::Saved saved;
    mem.writer().forward(m, TensorD::zeros({1, L, d}), nullptr, &saved);
    const double delta = c * c / (o.temperature * std::sqrt(static_cast<double>(d)));
    const double e = std::exp(-delta), expected = L * e / (1 + L * e);
    double diff = 0;
    for (int64_t k = 0; k < d; ++k) diff += std::pow(saved.m_prime[k] - m[k], 2);
    CHECK(std::sqrt(diff) == Approx(expected).epsilon(1e-12));
  }
}

TEST_CASE("BMN without writing follows §8.2 and converges to v̂ (property 2)", "[memformer][memory]") {
  // K = 1, d = 3, one token always masked: p_self = 1, so m_next = normalize(m + v).
  auto run = [](std::vector<double> v, int steps) {
    nn::ParameterStore<double, Cpu> store(2);
    MemoryD mem(store, options(3, 1, 1, 1.0));
    for (int i = 0; i < 3; ++i) mem.bias().value[i] = v[static_cast<size_t>(i)];
    auto pad = Tensor<uint8_t, Cpu>::from_host({1, 1}, {1});
    std::vector<TensorD> out{TensorD::from_host({1, 1, 3}, {0, 0, 1})};
    for (int s = 0; s < steps; ++s) out.push_back(mem.writer().forward(out.back(), TensorD::zeros({1, 1, 3}), &pad, nullptr));
    return out;
  };
  const auto a05 = run({0.3, -0.4, 0}, 100);
  check_values(a05[1], {0.2683281573, -0.3577708764, 0.8944271910});
  check_values(a05[2], {0.4362454620, -0.5816606160, 0.6865572261});
  check_values(a05[3], {0.5236136675, -0.6981515567, 0.4882756712});
  check_values(a05[100], {0.6, -0.8, 0.0}, 0, 1e-15);
  const double v_hat[3] = {0.6, -0.8, 0.0};
  const double expected_a05[4] = {63.4349, 43.3582, 29.2273, 19.5808};
  for (int s = 0; s < 4; ++s) CHECK(angle_degrees(a05[static_cast<size_t>(s + 1)], v_hat, 3) == Approx(expected_a05[s]).margin(1e-4));
  const auto a1 = run({0.6, -0.8, 0}, 4);  // a = 1: the angle halves exactly
  for (int s = 0; s < 4; ++s)
    CHECK(angle_degrees(a1[static_cast<size_t>(s + 1)], v_hat, 3) == Approx(90.0 / std::pow(2.0, s + 1)).epsilon(1e-9));
  const auto a32 = run({0.6 * 3.2, -0.8 * 3.2, 0}, 3);
  const double expected_a32[3] = {17.3540, 4.1066, 0.9774};
  for (int s = 0; s < 3; ++s) CHECK(angle_degrees(a32[static_cast<size_t>(s + 1)], v_hat, 3) == Approx(expected_a32[s]).margin(1e-4));

  // Fixed point: normalize(v̂ + v) = v̂ to about one ulp.
  nn::ParameterStore<double, Cpu> store(3);
  MemoryD mem(store, options(8, 2, 4, 1.0));
  auto pad = Tensor<uint8_t, Cpu>::from_host({1, 2}, {1, 1});
  const auto v_hat_state = mem.initial_state(1);
  const auto again = mem.writer().forward(v_hat_state.slots(), TensorD::zeros({1, 2, 8}), &pad, nullptr);
  for (int64_t i = 0; i < again.numel(); ++i) CHECK(std::abs(again[i] - v_hat_state.slots()[i]) <= 2.3e-16);
}

TEST_CASE("writer slots are independent; permuting slots permutes the writer and not the reader (property 3)",
          "[memformer][memory]") {
  nn::ParameterStore<double, Cpu> store(5);
  MemoryD mem(store, options(8, 2, 4, 2.0, 1));
  const auto m = random_tensor({2, 4, 8}, 1, 0.4);
  const auto h = random_tensor({2, 5, 8}, 2);
  memory::SlotWriter<double, Cpu>::Saved base, moved;
  mem.writer().forward(m, h, nullptr, &base);
  // Changing slot 2 of every row changes no other slot's m', bit for bit.
  auto m2 = m.clone();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 8; ++c) m2.at({b, 2, c}) += 0.3;
  mem.writer().forward(m2, h, nullptr, &moved);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t c = 0; c < 8; ++c) {
        if (i == 2) continue;
        CHECK(moved.m_prime.at({b, i, c}) == base.m_prime.at({b, i, c}));
      }
  // Permute slots (and the rows of v) with π = (2, 0, 3, 1).
  const int64_t perm[4] = {2, 0, 3, 1};
  auto mp = m.clone();
  const auto v = mem.bias().value.clone();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t c = 0; c < 8; ++c) mp.at({b, i, c}) = m.at({b, perm[i], c});
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < 8; ++c) mem.bias().value.at({i, c}) = v.at({perm[i], c});
  const auto next_p = mem.writer().forward(mp, h, nullptr, &moved);
  mem.bias().value.copy_from(v);
  const auto next = mem.writer().forward(m, h, nullptr, nullptr);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t c = 0; c < 8; ++c) CHECK(next_p.at({b, i, c}) == Approx(next.at({b, perm[i], c})).epsilon(1e-13));
  const auto x = random_tensor({2, 3, 8}, 3);
  const auto y = mem.read(0, VarD(x), mem.reader_input(VarD(m))).value();
  const auto yp = mem.read(0, VarD(x), mem.reader_input(VarD(mp))).value();
  CHECK(rel_error(yp, y) < 1e-13);
}

TEST_CASE("sparse writer kernel equals a dense masked [K slots; L tokens] reference (property 4)",
          "[memformer][memory]") {
  const int64_t B = 2, K = 3, L = 4, d = 6, H = 2, dh = 3;
  const double gamma = 1.7;
  nn::ParameterStore<double, Cpu> store(6);
  MemoryD mem(store, options(d, H, K, gamma));
  const auto m = random_tensor({B, K, d}, 4, 0.5);
  const auto hid = random_tensor({B, L, d}, 5);
  auto pad = Tensor<uint8_t, Cpu>::from_host({B, L}, {0, 1, 0, 0, 0, 0, 1, 1});
  memory::SlotWriter<double, Cpu>::Saved saved;
  mem.writer().forward(m, hid, &pad, &saved);
  const auto& wq = mem.writer().weight(0).value;
  const auto& wk = mem.writer().weight(1).value;
  const auto& wv = mem.writer().weight(2).value;
  auto proj = [&](const TensorD& x, int64_t b, int64_t row, const TensorD& w, double scale, int64_t col) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += scale * x.at({b, row, k}) * w.at({k, col});
    return s;
  };
  const double tau = 0.5;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < K; ++i) {
        // Keys: K slots (only slot i unmasked) then L tokens; values: raw slots, then V_x.
        std::vector<double> logits(static_cast<size_t>(K + L), -INFINITY);
        for (int64_t j = 0; j < K + L; ++j) {
          const bool is_slot = j < K;
          if (is_slot && j != i) continue;
          if (!is_slot && pad.at({b, j - K})) continue;
          double z = 0;
          for (int64_t c = h * dh; c < (h + 1) * dh; ++c)
            z += proj(m, b, i, wq, gamma, c) * (is_slot ? proj(m, b, j, wk, gamma, c) : proj(hid, b, j - K, wk, 1.0, c));
          logits[static_cast<size_t>(j)] = z / (tau * std::sqrt(static_cast<double>(dh)));
        }
        double mx = -INFINITY, sum = 0;
        for (double z : logits) mx = std::max(mx, z);
        for (double& z : logits) sum += (z = std::exp(z - mx));
        for (int64_t c = h * dh; c < (h + 1) * dh; ++c) {
          double out = 0;
          for (int64_t j = 0; j < K + L; ++j) {
            const double p = logits[static_cast<size_t>(j)] / sum;
            out += p * (j < K ? m.at({b, j, c}) : proj(hid, b, j - K, wv, 1.0, c));
          }
          CHECK(saved.m_prime.at({b, i, c}) == Approx(out).epsilon(1e-13).margin(1e-15));
        }
      }
}

TEST_CASE("stored float memories have unit norm (property 5)", "[memformer][memory]") {
  nn::ParameterStore<float, Cpu> store(7);
  auto o = options(32, 4, 8, std::sqrt(32.0));
  memory::SlotMemory<float, Cpu> mem(store, o);
  auto state = mem.initial_state(3);
  for (int step = 0; step < 6; ++step) {
    const auto h = random_tensor<float>({3, 10, 32}, 100 + static_cast<uint64_t>(step), 2.0);
    state = memory::SlotState<float, Cpu>(mem.writer().forward(state.slots(), h, nullptr, nullptr));
    for (int64_t r = 0; r < 3 * 8; ++r) {
      double ss = 0;
      for (int64_t c = 0; c < 32; ++c) ss += std::pow(static_cast<double>(state.slots()[r * 32 + c]), 2);
      CHECK(std::abs(std::sqrt(ss) - 1.0) < 1e-6);
    }
  }
}

TEST_CASE("resetting one row changes only that row, bit for bit (property 6)", "[memformer][memory]") {
  nn::ParameterStore<double, Cpu> store(8);
  MemoryD mem(store, options(8, 2, 3, 2.0));
  memory::SlotState<double, Cpu> state(random_tensor({3, 3, 8}, 9));
  const auto before = state.clone();
  mem.reset_rows(state, {0, 1, 0});
  const auto m0 = mem.initial_state(1);
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t i = 0; i < 24; ++i)
      CHECK(state.slots()[b * 24 + i] == (b == 1 ? m0.slots()[i] : before.slots()[b * 24 + i]));
  // effective(): the memory a reset row feeds into its step is normalize(v); the others pass through.
  const auto eff = mem.effective(VarD(before.slots()), {1, 0, 0}).value();
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t i = 0; i < 24; ++i)
      CHECK(eff[b * 24 + i] == (b == 0 ? m0.slots()[i] : before.slots()[b * 24 + i]));
  // Row copies and slices.
  auto other = state.clone();
  other.copy_row(0, before, 2);
  for (int64_t i = 0; i < 24; ++i) CHECK(other.slots()[i] == before.slots()[48 + i]);
  CHECK(state.rows(1, 2).batch() == 2);
  MNEMO_CHECK_THROWS(state.reset_rows({1, 0}, m0.slots().reshape({3, 8})), ShapeError, "mask has 2 entries, expected batch=3");
  MNEMO_CHECK_THROWS(other.copy_row(3, before, 0), ShapeError, "row = 3, expected 0 <= row < batch=3");
}

TEST_CASE("reader, writer, BMN and reset path match finite differences (property 7)", "[memformer][memory][gradcheck]") {
  nn::ParameterStore<double, Cpu> store(10);
  MemoryD mem(store, options(8, 2, 3, 1.6, 2));
  auto m = VarD::leaf(random_tensor({2, 3, 8}, 11, 0.4));
  auto h = VarD::leaf(random_tensor({2, 4, 8}, 12));
  auto x = VarD::leaf(random_tensor({2, 5, 8}, 13));
  auto pad = Tensor<uint8_t, Cpu>::from_host({2, 4}, {0, 0, 1, 0, 0, 0, 0, 1});
  // Small loss weights keep the finite-difference noise of the exactly-zero key-bias gradients low.
  const auto r1 = random_tensor({2, 3, 8}, 14, 0.2);
  const auto r2 = random_tensor({2, 5, 8}, 15, 0.2);
  auto& ctx = store.context();
  SECTION("writer + BMN") {
    require_all_below(check_gradients(
        [&] { return ag::sum_product(ctx, mem.write(m, h, &pad), r1); }, {{"memory", m}, {"hidden", h}}, &store));
  }
  SECTION("reset path, readers and writer together") {
    require_all_below(check_gradients(
        [&] {
          auto eff = mem.effective(m, {0, 1});
          auto keys = mem.reader_input(eff);
          auto y = ag::add(ctx, mem.read(0, x, keys), mem.read(1, x, keys));
          auto next = mem.write(eff, h, &pad);
          return ag::add(ctx, ag::sum_product(ctx, y, r2), ag::sum_product(ctx, next, r1));
        },
        {{"memory", m}, {"hidden", h}, {"x", x}}, &store));
    // The reset row receives no gradient.
    for (int64_t i = 24; i < 48; ++i) CHECK(m.grad()[i] == 0.0);
  }
}

TEST_CASE("slot memory rejects bad options and shapes with named errors", "[memformer][memory][errors]") {
  nn::ParameterStore<double, Cpu> store(1);
  MNEMO_CHECK_THROWS(MemoryD(store, options(10, 3, 2, 1.0)), ConfigError, "d_model = 10 is not divisible by heads = 3");
  MNEMO_CHECK_THROWS(MemoryD(store, options(8, 2, 0, 1.0)), ConfigError, "slots = 0");
  auto bad_tau = options(8, 2, 2, 1.0);
  bad_tau.temperature = 0;
  MNEMO_CHECK_THROWS(MemoryD(store, bad_tau), ConfigError, "temperature = 0");
  MemoryD mem(store, options(8, 2, 3, 1.0, 1));
  MNEMO_CHECK_THROWS(mem.write(VarD(TensorD::zeros({2, 4, 8})), VarD(TensorD::zeros({2, 5, 8}))), ShapeError,
                     "memory has shape [2, 4, 8], expected [batch, slots=3, d_model=8]");
  MNEMO_CHECK_THROWS(mem.write(VarD(TensorD::zeros({2, 3, 8})), VarD(TensorD::zeros({1, 5, 8}))), ShapeError,
                     "hidden has shape [1, 5, 8], expected [batch=2, tokens, d_model=8]");
  auto pad = Tensor<uint8_t, Cpu>::zeros({2, 4});
  MNEMO_CHECK_THROWS(mem.write(VarD(TensorD::zeros({2, 3, 8})), VarD(TensorD::zeros({2, 5, 8})), &pad), ShapeError,
                     "padding has shape [2, 4], expected [batch=2, tokens=5]");
  MNEMO_CHECK_THROWS(mem.effective(VarD(TensorD::zeros({2, 3, 8})), {1}), ShapeError, "reset has 1 flags, expected batch=2");
  MNEMO_CHECK_THROWS(mem.read(1, VarD(TensorD::zeros({2, 5, 8})), VarD(TensorD::zeros({2, 3, 8}))), ShapeError,
                     "layer = 1, expected 0 <= layer < readers=1");
  memory::SlotState<double, Cpu> nan_state(TensorD::zeros({1, 3, 8}));
  nan_state.slots()[5] = NAN;
  MNEMO_CHECK_THROWS(nan_state.check("step", 1, 3, 8), ValueError, "memory state holds 1 non-finite value(s)");
  MNEMO_CHECK_THROWS(nan_state.check("step", 2, 3, 8), ShapeError, "memory state has shape [1, 3, 8], expected [batch=2, slots=3, d_model=8]");
}
