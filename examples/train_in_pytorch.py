#!/usr/bin/python3
"""Train a Memformer in PyTorch, deploy it in C++ (examples/train_in_pytorch_deploy_in_cpp.md).

The task needs the memory: every stream repeats two random segments, a b a b ..., so after the
first two segments the next one is the segment before the current one, which the decoder (it
sees only the current segment's encoder output) can get only from the memory slots. Training is
plain PyTorch: the twin's explicit state is chained through the segments (full BPTT), Adam.

    /usr/bin/python3 examples/train_in_pytorch.py OUT_DIR [--steps 300]

writes OUT_DIR/memformer_pytorch.safetensors (a mnemo model file, float32) and
OUT_DIR/probe.safetensors (one stream and the twin's logits for it), then prints
"model written to ..." — run examples' deploy_pytorch_model on them.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import torch  # noqa: E402

from mnemo_torch import Memformer, MemformerConfig, save_mnemo, write_safetensors  # noqa: E402

SEGMENTS = 5  # a b a b a: predictions of segments 2..4 need the memory


def streams(batch, cfg, gen):
    """[SEGMENTS, batch, L] token segments a b a b ... (symbols 2..vocab-1; 1 is BOS)."""
    a = torch.randint(2, cfg.vocab, (batch, cfg.segment_length), generator=gen)
    b = torch.randint(2, cfg.vocab, (batch, cfg.segment_length), generator=gen)
    return [a if t % 2 == 0 else b for t in range(SEGMENTS)]


def run(model, segs):
    """Loss on the predictable segments and their teacher-forced logits."""
    state = model.initial_state(segs[0].shape[0])
    loss, logits = 0.0, []
    for t in range(SEGMENTS - 1):
        step = model.step(state, segs[t], target=segs[t + 1])
        state = step.next_state
        logits.append(step.logits)
        if t >= 1:  # segment t+1 = segment t−1: remembered, not guessable
            loss = loss + model.loss(step.logits, segs[t + 1])
    return loss / (SEGMENTS - 2), logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = MemformerConfig(vocab=12, d_model=32, heads=4, d_ff=64, slots=8, encoder_layers=1, decoder_layers=1,
                          segment_length=6, init_std=0.05, bias_init_norm=0.5)
    model = Memformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    start = time.time()
    for step in range(args.steps):
        loss, _ = run(model, streams(args.batch, cfg, gen))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step + 1 == args.steps:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.time() - start:.0f} s)")
    with torch.no_grad():
        segs = streams(256, cfg, torch.Generator().manual_seed(2))
        _, logits = run(model, segs)
        hits = sum((logits[t].argmax(-1) == segs[t + 1]).float().mean().item() for t in range(1, SEGMENTS - 1))
        print(f"PyTorch: teacher-forced next-segment accuracy on remembered segments {hits / (SEGMENTS - 2):.3f}")
        probe = streams(2, cfg, torch.Generator().manual_seed(3))
        _, probe_logits = run(model, probe)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "memformer_pytorch.safetensors")
    save_mnemo(model, path, {"trained_with": "examples/train_in_pytorch.py"})
    tensors = {f"tokens.{t}": probe[t].to(torch.int32) for t in range(SEGMENTS)}
    tensors.update({f"logits.{t}": probe_logits[t] for t in range(SEGMENTS - 1)})
    write_safetensors(os.path.join(args.out_dir, "probe.safetensors"), tensors)
    print(f"model written to {path}; probe written to {os.path.join(args.out_dir, 'probe.safetensors')}")


if __name__ == "__main__":
    main()
