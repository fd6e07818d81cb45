// examples/embed_attention.cpp — mnemo's main demo for now: a one-block causal transformer
// language model (embedding → pre-LN multi-head self-attention with ALiBi → pre-LN GELU
// feed-forward → vocabulary head) built from mnemo's nn layers on the CPU backend.
//
// It runs inference and reports shapes, time and a checksum, then trains the model with AdamW on
// a toy language whose next token is a fixed permutation of the current one, and prints the
// cross-entropy falling. Exits 1 if training did not bring the loss below a quarter of its start.
//
//   bash .ci/demo            (or: build/release/examples/embed_attention)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include <mnemo/mnemo.hpp>

using namespace mnemo;
using Var = autograd::Var<float, Cpu>;

namespace {

struct Config {
  int64_t vocab = 64, d_model = 128, heads = 4, d_ff = 512;
  int64_t batch = 8, length = 64;
};

/// One pre-LN transformer block with a vocabulary head; parameters live in `store`.
class TinyLanguageModel {
 public:
  TinyLanguageModel(nn::ParameterStore<float, Cpu>& store, const Config& c)
      : ctx_(&store.context()),
        embed_(store, "embed", c.vocab, c.d_model),
        ln_attn_(store, "block.ln_attn", c.d_model),
        attn_(store, "block.attn", c.d_model, c.heads),
        ln_ffn_(store, "block.ln_ffn", c.d_model),
        ffn_(store, "block.ffn", c.d_model, c.d_ff),
        ln_out_(store, "ln_out", c.d_model),
        head_(store, "head", c.d_model, c.vocab),
        slopes_(Shape{c.heads}) {
    // ALiBi slopes 2^(-8(h+1)/H): the only position signal the model gets.
    for (int64_t h = 0; h < c.heads; ++h)
      slopes_[h] = std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(c.heads));
    mask_.causal = true;
    mask_.alibi_slopes = &slopes_;
  }

  /// ids [batch, length] → logits [batch, length, vocab].
  Var operator()(const Tensor<int32_t, Cpu>& ids) const {
    Var x = embed_(ids);
    const Var h = ln_attn_(x);
    x = autograd::add(*ctx_, x, attn_(h, h, mask_));
    x = autograd::add(*ctx_, x, ffn_(ln_ffn_(x)));
    return head_(ln_out_(x));
  }

 private:
  Context<Cpu>* ctx_;
  nn::Embedding<float, Cpu> embed_;
  nn::LayerNorm<float, Cpu> ln_attn_;
  nn::MultiHeadAttention<float, Cpu> attn_;
  nn::LayerNorm<float, Cpu> ln_ffn_;
  nn::FeedForward<float, Cpu> ffn_;
  nn::LayerNorm<float, Cpu> ln_out_;
  nn::Linear<float, Cpu> head_;
  Tensor<float, Cpu> slopes_;
  nn::AttentionMask<Cpu> mask_;
};

/// A batch of the toy language: each row starts at a random token and continues with
/// next[token]; targets are the following token (the last position has none: ignored).
struct Batch {
  Tensor<int32_t, Cpu> ids, targets;
};

Batch make_batch(const Config& c, const std::vector<int32_t>& next, RngKey key) {
  const int32_t ignored = nn::CrossEntropyOptions{}.ignore_index;
  Batch b{Tensor<int32_t, Cpu>(Shape{c.batch, c.length}), Tensor<int32_t, Cpu>(Shape{c.batch, c.length})};
  for (int64_t r = 0; r < c.batch; ++r) {
    auto token = static_cast<int32_t>(key.bits(static_cast<uint64_t>(r)) % c.vocab);
    for (int64_t t = 0; t < c.length; ++t) {
      b.ids.at({r, t}) = token;
      token = next[static_cast<size_t>(token)];
      b.targets.at({r, t}) = t + 1 < c.length ? token : ignored;
    }
  }
  return b;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main() {
  const Config c;
  const RngKey data_key{/*seed=*/2024};
  nn::ParameterStore<float, Cpu> store(/*seed=*/7);
  TinyLanguageModel model(store, c);
  auto& arena = store.context().arena();

  std::printf("mnemo %d.%d.%d demo: one-block causal transformer LM on the CPU backend (%d thread(s))\n",
              kVersionMajor, kVersionMinor, kVersionPatch, cpu::num_threads());
  std::printf("model: vocab %lld, d_model %lld, heads %lld, d_ff %lld: %zu tensors, %lld parameters\n",
              static_cast<long long>(c.vocab), static_cast<long long>(c.d_model), static_cast<long long>(c.heads),
              static_cast<long long>(c.d_ff), store.size(), static_cast<long long>(store.numel()));

  // The toy language: a fixed random permutation of the vocabulary gives each token's successor.
  std::vector<int32_t> next(static_cast<size_t>(c.vocab));
  std::iota(next.begin(), next.end(), 0);
  for (size_t i = next.size() - 1; i > 0; --i)  // Fisher–Yates with counter-based draws
    std::swap(next[i], next[data_key.derive("permutation").bits(i) % (i + 1)]);

  // ---- inference ------------------------------------------------------------------------------
  const Batch probe = make_batch(c, next, data_key.derive("probe"));
  Tensor<float, Cpu> logits;
  double best_ms = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    logits = model(probe.ids).value();  // no active tape: nothing is recorded
    best_ms = std::min(best_ms, milliseconds_since(start));
  }
  double checksum = 0;
  for (float v : logits.to_host()) checksum += std::abs(v);
  std::printf("inference: ids %s -> logits %s in %.2f ms (best of 5), checksum sum|logits| = %.4f\n",
              probe.ids.shape().str().c_str(), logits.shape().str().c_str(), best_ms, checksum);

  // ---- training -------------------------------------------------------------------------------
  const int steps = 60;
  train::AdamW<float, Cpu> adamw(store, {.lr = 3e-3, .weight_decay = 0.0});
  const train::WarmupCosine schedule{.peak_lr = 3e-3, .warmup_steps = 10, .total_steps = steps};
  double first_loss = 0, last_loss = 0, train_ms = 0;
  std::printf("training: %d AdamW steps, batch %s of fresh sequences each step, gradient clipping at 1.0\n",
              steps, probe.ids.shape().str().c_str());
  for (int s = 0; s < steps; ++s) {
    const Batch batch = make_batch(c, next, data_key.derive(static_cast<uint64_t>(s)));
    const auto start = std::chrono::steady_clock::now();
    store.zero_grad();
    autograd::Tape tape;
    Var loss;
    {
      autograd::Recording on(tape);
      loss = nn::cross_entropy(store.context(), model(batch.ids), batch.targets);
    }
    tape.backward(loss);
    const double norm = train::global_grad_norm(store);
    adamw.step(schedule(s), train::clip_factor(norm, 1.0));
    train_ms += milliseconds_since(start);
    last_loss = loss.value()[0];
    if (s == 0) first_loss = last_loss;
    if (s % 10 == 0 || s == steps - 1)
      std::printf("  step %2d  loss %.4f  grad norm %.3f  lr %.2e\n", s, last_loss, norm, schedule(s));
  }
  std::printf("training: %.1f ms per step; cross-entropy %.4f -> %.4f (uniform guess: ln %lld = %.4f)\n",
              train_ms / steps, first_loss, last_loss, static_cast<long long>(c.vocab),
              std::log(static_cast<double>(c.vocab)));
  std::printf("CPU arena: peak %.1f MiB in use, %zu system allocations for %zu tensor allocations\n",
              static_cast<double>(arena.stats().peak_bytes) / (1 << 20), arena.stats().system_allocations,
              arena.stats().allocations);

  if (!(last_loss < 0.25 * first_loss)) {
    std::printf("FAILED: the loss did not fall below a quarter of its first value\n");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
