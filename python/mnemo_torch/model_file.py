"""mnemo model files ⇄ the PyTorch twins (docs/io.md, "Model files"; docs/pytorch.md).

A mnemo model file is a safetensors file whose `__metadata__` holds mnemo.format_version ("1"),
mnemo.model ("memformer" | "infinite_former"), mnemo.dtype ("F32" | "F64") and mnemo.config
(the configuration as JSON). The twins' state_dict names ARE mnemo's parameter names; the one
layout difference lives here, in `_layout`:
  nn.Linear.weight  [out, in]        ⇄ mnemo [in, out]               (transpose)
  nn.Conv1d gate    [e_out, e_in, 3] ⇄ mnemo [3e, e], row k·e + i    (tap k of input i)
Everything else (embeddings [V, d], layer norms, biases, v_bias, w_mu, w_sigma) is stored as is.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Dict, Mapping, Optional, Union

import torch
from torch import nn

from .continuous_memory import BasisConfig, ContinuousMemoryConfig
from .infinite_former import InfiniteFormer, InfiniteFormerConfig
from .memformer import Memformer, MemformerConfig
from .safetensors_io import dtype_name, read_safetensors, write_safetensors

FORMAT_VERSION = "1"
Model = Union[Memformer, InfiniteFormer]


# ---- configuration JSON ----------------------------------------------------------------------

def _from_dict(cls, data: Mapping, path: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    missing = set(fields) - set(data)
    if unknown or missing:
        raise ValueError(f"mnemo.config{path}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
    kwargs = {}
    for name, value in data.items():
        if name == "ltm":
            value = _from_dict(ContinuousMemoryConfig, value, f"{path}.ltm")
        elif name == "basis":
            value = _from_dict(BasisConfig, value, f"{path}.basis")
        kwargs[name] = value
    return cls(**kwargs)


def config_from_json(kind: str, text: str):
    data = json.loads(text)
    return _from_dict(MemformerConfig if kind == "memformer" else InfiniteFormerConfig, data, "")


def config_to_json(config) -> str:
    def encode(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, list):
            return [encode(v) for v in obj]
        return obj
    return json.dumps(encode(config), separators=(",", ":"))


# ---- the one place where layouts differ ------------------------------------------------------

def _layout_kinds(model: nn.Module) -> Dict[str, str]:
    """state_dict name → "linear" | "conv_gate" for the parameters whose layout differs."""
    kinds = {}
    for prefix, module in model.named_modules():
        if isinstance(module, nn.Linear):
            kinds[f"{prefix}.weight"] = "linear"
        elif isinstance(module, nn.Conv1d):
            kinds[f"{prefix}.weight"] = "conv_gate"
    return kinds


def _to_mnemo(kind: Optional[str], t: torch.Tensor) -> torch.Tensor:
    if kind == "linear":
        return t.t().contiguous()
    if kind == "conv_gate":  # [e_out, e_in, 3] → [3, e_in, e_out] → [3e, e]
        return t.permute(2, 1, 0).reshape(-1, t.shape[0]).contiguous()
    return t.contiguous()


def _from_mnemo(kind: Optional[str], t: torch.Tensor) -> torch.Tensor:
    if kind == "linear":
        return t.t().contiguous()
    if kind == "conv_gate":
        e = t.shape[1]
        return t.reshape(3, e, e).permute(2, 1, 0).contiguous()
    return t


def mnemo_state_dict(model: Model) -> Dict[str, torch.Tensor]:
    """The model's parameters under mnemo's names, in mnemo's layouts (what a model file holds)."""
    kinds = _layout_kinds(model)
    return {name: _to_mnemo(kinds.get(name), t.detach()) for name, t in model.state_dict().items()}


def mnemo_gradients(model: Model) -> Dict[str, torch.Tensor]:
    """The parameters' gradients under mnemo's names and layouts (zeros where none was computed)."""
    kinds = _layout_kinds(model)
    return {name: _to_mnemo(kinds.get(name), p.grad if p.grad is not None else torch.zeros_like(p)).detach()
            for name, p in model.named_parameters()}


def load_mnemo_state_dict(model: Model, tensors: Mapping[str, torch.Tensor]) -> None:
    """Loads mnemo-layout tensors into the model (strict: exactly its parameters, same shapes)."""
    kinds = _layout_kinds(model)
    model.load_state_dict({name: _from_mnemo(kinds.get(name), t) for name, t in tensors.items()}, strict=True)


# ---- files -----------------------------------------------------------------------------------

def load_mnemo(path: str) -> Model:
    """Builds the twin a mnemo model file describes and loads its parameters (the file's dtype)."""
    tensors, meta = read_safetensors(path)
    for key in ("mnemo.format_version", "mnemo.model", "mnemo.dtype", "mnemo.config"):
        if key not in meta:
            raise ValueError(f"model file '{path}' has no metadata '{key}' (expected a file written by io::save_model)")
    if meta["mnemo.format_version"] != FORMAT_VERSION:
        raise ValueError(f"model file '{path}' has format version {meta['mnemo.format_version']}, expected {FORMAT_VERSION}")
    kind = meta["mnemo.model"]
    if kind not in ("memformer", "infinite_former"):
        raise ValueError(f"model file '{path}' holds a '{kind}' model, expected memformer or infinite_former")
    config = config_from_json(kind, meta["mnemo.config"])
    model = Memformer(config) if kind == "memformer" else InfiniteFormer(config)
    dtype = next(iter(tensors.values())).dtype
    if dtype_name(dtype) != meta["mnemo.dtype"]:
        raise ValueError(f"model file '{path}': mnemo.dtype {meta['mnemo.dtype']} but tensors of {dtype_name(dtype)}")
    model.to(dtype)
    load_mnemo_state_dict(model, tensors)
    return model


def save_mnemo(model: Model, path: str, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes the model as a mnemo model file that io::load_model<Memformer|InfiniteFormer<T>> accepts
    (T = the parameters' dtype: float32 or float64)."""
    meta = dict(metadata or {})
    if any(k.startswith("mnemo.") for k in meta):
        raise ValueError("save_mnemo: metadata keys starting with 'mnemo.' are reserved")
    tensors = mnemo_state_dict(model)
    meta.update({
        "mnemo.format_version": FORMAT_VERSION,
        "mnemo.model": model.kind,
        "mnemo.dtype": dtype_name(next(iter(tensors.values())).dtype),
        "mnemo.config": config_to_json(model.config),
    })
    write_safetensors(path, tensors, meta)
