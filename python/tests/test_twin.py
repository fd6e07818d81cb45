"""The PyTorch twins against mnemo's C++ models, in double precision (docs/pytorch.md).

    /usr/bin/python3 python/tests/test_twin.py BUILD_DIR      (BUILD_DIR holds tests/twin_reference)
    MNEMO_TWIN_REFERENCE=path/to/twin_reference /usr/bin/python3 -m unittest discover -s python/tests
    (pytest, where installed, runs the same file)

C++ → PyTorch: twin_reference writes tiny models (io::save_model), their inputs and its logits,
states and parameter gradients; the twin loads each model file with load_mnemo, runs the same
inputs and must agree to 1e-9 relative: max |twin − C++| over a tensor, divided by the C++
tensor's largest magnitude (for a gradient, at least 1e-6 × the model's largest gradient
magnitude, so that gradients that are zero in exact arithmetic, such as attention key biases,
are held to the model's scale rather than to their own rounding noise).
PyTorch → C++: the twin's weights are changed (one SGD step), exported with save_mnemo, loaded
by io::load_model in twin_reference, and the C++ run of a new stream (for the Memformer,
continuing from a state the twin reached) must agree with the twin's run to the same tolerance.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

from mnemo_torch import (load_mnemo, mnemo_gradients, mnemo_state_dict, read_safetensors,  # noqa: E402
                         save_mnemo, write_safetensors)

TOLERANCE = 1e-9
REFERENCE = os.environ.get("MNEMO_TWIN_REFERENCE", "")
CASES = ["memformer_tied", "memformer_untied", "infinite_former", "infinite_former_sticky", "infinite_former_plain"]
WITH_LTM = ["infinite_former", "infinite_former_sticky"]


def segments(inputs):
    n = 0
    while f"tokens.{n}" in inputs:
        n += 1
    return n


def run_memformer(model, inputs):
    """The twin's side of twin_reference's run_memformer."""
    n = segments(inputs)
    tokens = [inputs[f"tokens.{t}"].long() for t in range(n)]
    pads = [inputs.get(f"padding.{t}") for t in range(n)]
    state = inputs.get("initial_state")
    if state is None:
        state = model.initial_state(tokens[0].shape[0])
    model.zero_grad()
    out, loss = {}, None
    for t in range(n - 1):
        reset = inputs[f"reset.{t}"].tolist() if f"reset.{t}" in inputs else None
        hidden, nxt = model.encode(tokens[t], state, pads[t], reset)
        logits = model.decode(hidden, tokens[t + 1], pads[t], pads[t + 1])
        l = model.loss(logits, tokens[t + 1], pads[t + 1])
        loss = l if loss is None else loss + l
        out[f"logits.{t}"], out[f"hidden.{t}"], out[f"state.{t}"] = logits, hidden, nxt
        state = nxt
    loss.backward()
    out["loss"] = loss.reshape(1)
    return out, state


def run_infinite_former(model, inputs):
    """The twin's side of twin_reference's run_infinite_former."""
    n = segments(inputs)
    kl_scale = float(inputs["kl_scale"][0])
    batch = inputs["tokens.0"].shape[0]
    state = model.initial_state(batch, int(inputs["state_seed"][0]))
    model.zero_grad()
    out, loss = {}, None
    for t in range(n):
        if f"reset.{t}" in inputs:
            state.reset_rows(inputs[f"reset.{t}"].tolist())
        step = model.step(inputs[f"tokens.{t}"], inputs.get(f"padding.{t}"), state)
        targets = inputs[f"targets.{t}"].long()
        ce = torch.nn.functional.cross_entropy(step.logits.reshape(-1, step.logits.shape[-1]), targets.reshape(-1),
                                               ignore_index=-100)
        l = ce + kl_scale * step.kl_mean
        loss = l if loss is None else loss + l
        out[f"logits.{t}"], out[f"kl_mean.{t}"] = step.logits, step.kl_mean.reshape(1)
        for i, s in enumerate(state.ltm):
            out[f"coefficients.{t}.{i}"] = s.coefficients
    loss.backward()
    out["loss"] = loss.reshape(1)
    return out, state


def run(model, inputs):
    return (run_memformer if model.kind == "memformer" else run_infinite_former)(model, inputs)


def relative_error(got, want, scale=None):
    got, want = got.detach().to(torch.float64), want.to(torch.float64)
    if got.shape != want.shape:
        return float("inf")
    ref = scale if scale is not None else float(want.abs().max()) if want.numel() else 1.0
    return float((got - want).abs().max()) / max(ref, 1e-300) if want.numel() else 0.0


class TwinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not REFERENCE or not os.access(REFERENCE, os.X_OK):
            raise unittest.SkipTest("set MNEMO_TWIN_REFERENCE (or pass BUILD_DIR) to the twin_reference program")
        cls.tmp = tempfile.TemporaryDirectory(prefix="mnemo_twin_")
        cls.dir = cls.tmp.name
        subprocess.run([REFERENCE, "reference", cls.dir], check=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, case, what):
        return os.path.join(self.dir, f"{case}.{what}.safetensors")

    def assert_matches(self, case, got, want, model):
        """Every output and gradient of `want` (a twin_reference output file) against the twin."""
        grads = mnemo_gradients(model)
        grad_scale = max(float(g.abs().max()) for g in grads.values())
        checked, worst = 0, (0.0, "")
        for name, w in want.items():
            if name.startswith("grad."):
                err = relative_error(grads[name[5:]], w, max(float(w.abs().max()), 1e-6 * grad_scale))
            else:
                self.assertIn(name, got, f"{case}: the twin produced no '{name}'")
                err = relative_error(got[name], w)
            self.assertLessEqual(err, TOLERANCE, f"{case}: {name} differs by {err:.3e} (relative)")
            checked += 1
            worst = max(worst, (err, name))
        print(f"  {case}: {checked} tensors, worst relative error {worst[0]:.2e} ({worst[1]})", file=sys.stderr)
        self.assertEqual(sum(1 for n in want if n.startswith("grad.")), len(grads),
                         f"{case}: C++ and the twin disagree on the parameter list")
        return checked

    def test_cpp_to_torch(self):
        """Logits, states and gradients of every reference case, twin vs C++."""
        for case in CASES:
            with self.subTest(case=case):
                model = load_mnemo(self.path(case, "model"))
                self.assertEqual(next(model.parameters()).dtype, torch.float64)
                inputs, _ = read_safetensors(self.path(case, "inputs"))
                want, _ = read_safetensors(self.path(case, "outputs"))
                got, _ = run(model, inputs)
                checked = self.assert_matches(case, got, want, model)
                self.assertGreater(checked, 20)
                # Something the read must see: the long-term memory changes the logits.
                if case in WITH_LTM:
                    self.assertGreater(float(want["coefficients.5.0"].abs().max()), 0.0)

    def test_export_round_trip(self):
        """load_mnemo → save_mnemo reproduces the C++ file's tensors bit for bit and its metadata."""
        for case in CASES:
            with self.subTest(case=case):
                original, meta = read_safetensors(self.path(case, "model"))
                out = self.path(case, "roundtrip")
                save_mnemo(load_mnemo(self.path(case, "model")), out)
                again, meta2 = read_safetensors(out)
                self.assertEqual(set(again), set(original))
                for name, t in original.items():
                    self.assertTrue(torch.equal(again[name], t), f"{case}: {name} changed in the round trip")
                for key in ("mnemo.format_version", "mnemo.model", "mnemo.dtype"):
                    self.assertEqual(meta2[key], meta[key])
                import json
                self.assertEqual(json.loads(meta2["mnemo.config"]), json.loads(meta["mnemo.config"]))

    def test_torch_to_cpp(self):
        """A model changed in PyTorch, exported, loads in C++ and continues the stream identically."""
        gen = torch.Generator().manual_seed(7)
        for case in CASES:
            with self.subTest(case=case):
                model = load_mnemo(self.path(case, "model"))
                inputs, _ = read_safetensors(self.path(case, "inputs"))
                before = {k: v.clone() for k, v in mnemo_state_dict(model).items()}
                run(model, inputs)
                with torch.no_grad():  # one SGD step: new weights, made in PyTorch
                    for p in model.parameters():
                        p -= 0.1 * p.grad
                changed = sum(not torch.equal(before[k], v) for k, v in mnemo_state_dict(model).items())
                self.assertGreater(changed, len(before) // 2)
                save_mnemo(model, self.path(case, "torch_model"), {"made_by": "mnemo_torch test"})
                fresh = dict(inputs)
                for key in list(fresh):
                    if key.startswith("tokens.") or key.startswith("targets."):
                        fresh[key] = torch.randint(0, model.config.vocab, tuple(fresh[key].shape), generator=gen,
                                                   dtype=torch.int32)
                if model.kind == "memformer":
                    # PyTorch encodes segment 0; C++ continues from the state it reached (segments 1..3).
                    head = {k: v for k, v in fresh.items() if k in ("tokens.0", "tokens.1", "padding.0", "reset.0")}
                    with torch.no_grad():
                        _, state = run_memformer_no_grad(model, head)
                    fresh = {k: v for k, v in fresh.items() if not k.endswith(".0") and not k.endswith(".3")}
                    fresh = {rename_segment(k): v for k, v in fresh.items()}
                    fresh["initial_state"] = state.detach().clone()
                write_safetensors(self.path(case, "torch_inputs"), fresh)
                subprocess.run([REFERENCE, "run", self.path(case, "torch_model"), self.path(case, "torch_inputs"),
                                self.path(case, "torch_outputs")], check=True)
                want, _ = read_safetensors(self.path(case, "torch_outputs"))
                reloaded = load_mnemo(self.path(case, "torch_model"))
                got, _ = run(reloaded, fresh)
                self.assertGreater(self.assert_matches(case, got, want, reloaded), 10)


class MemoryReplayTest(unittest.TestCase):
    def test_mrbp_style_gradients_equal_full_bptt(self):
        """The replay of docs/pytorch.md (states without grad, then segment by segment backward
        with the state gradient carried by hand) gives the gradients of full BPTT."""
        torch.manual_seed(3)
        from mnemo_torch import Memformer, MemformerConfig
        model = Memformer(MemformerConfig(vocab=9, d_model=8, heads=2, d_ff=8, slots=3, encoder_layers=1,
                                          decoder_layers=1, segment_length=4, init_std=0.3)).double()
        T, batch = 4, 2
        seg = [torch.randint(0, 9, (batch, 4)) for _ in range(T)]
        state, loss = model.initial_state(batch), 0.0
        for t in range(T - 1):  # full BPTT
            hidden, state = model.encode(seg[t], state)
            loss = loss + model.loss(model.decode(hidden, seg[t + 1]), seg[t + 1])
        loss.backward()
        full = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.zero_grad()
        with torch.no_grad():
            states = [model.initial_state(batch)]
            for t in range(T - 1):
                states.append(model.encode(seg[t], states[-1])[1])
        grad_next = None
        for t in reversed(range(T - 1)):
            m = states[t].clone().requires_grad_()
            hidden, nxt = model.encode(seg[t], m)
            loss_t = model.loss(model.decode(hidden, seg[t + 1]), seg[t + 1])
            if grad_next is None:
                loss_t.backward()
            else:
                torch.autograd.backward([loss_t, nxt], [torch.ones_like(loss_t), grad_next])
            grad_next = m.grad
        for n, p in model.named_parameters():
            self.assertLessEqual(relative_error(p.grad, full[n], max(float(full[n].abs().max()), 1e-12)), 1e-12, n)


def run_memformer_no_grad(model, inputs):
    n = segments(inputs)
    state = model.initial_state(inputs["tokens.0"].shape[0])
    for t in range(n - 1):
        reset = inputs[f"reset.{t}"].tolist() if f"reset.{t}" in inputs else None
        _, state = model.encode(inputs[f"tokens.{t}"].long(), state, inputs.get(f"padding.{t}"), reset)
    return None, state


def rename_segment(key):
    """tokens.1 → tokens.0, padding.2 → padding.1, ...: the continuation starts at segment 1."""
    stem, _, t = key.rpartition(".")
    return f"{stem}.{int(t) - 1}" if t.isdigit() else key


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        build = sys.argv.pop(1)
        for candidate in (os.path.join(build, "tests", "twin_reference"), os.path.join(build, "twin_reference"), build):
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                REFERENCE = candidate
                break
        else:  # named but missing: a failure, not a skip
            sys.exit(f"test_twin.py: no twin_reference program in or at '{build}' "
                     "(cmake --build <dir> --target twin_reference)")
    unittest.main(verbosity=2)
