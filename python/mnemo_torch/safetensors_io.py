"""Reading and writing safetensors files with struct + json + torch.frombuffer (no other package).

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then the raw
little-endian tensor bytes (docs/io.md, "Format").
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Mapping, Optional, Tuple

import torch

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "U8": torch.uint8,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100_000_000


def dtype_name(dtype: torch.dtype) -> str:
    """The safetensors name of a torch dtype ("F64", "F32", ...)."""
    if dtype not in _NAMES:
        raise ValueError(f"safetensors: dtype {dtype} has no safetensors name (known: {sorted(_NAMES.values())})")
    return _NAMES[dtype]


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Returns ({name: tensor}, metadata) of the file at `path` (tensors are fresh, writable copies)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"safetensors file '{path}': {len(data)} bytes, expected at least 8")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or n > len(data) - 8:
        raise ValueError(f"safetensors file '{path}': header length {n}, {len(data) - 8} bytes available")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"safetensors file '{path}': header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors: Dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        dtype_str = entry["dtype"]
        if dtype_str not in _DTYPES:
            raise ValueError(f"safetensors file '{path}': tensor '{name}' has dtype {dtype_str}, known: {sorted(_DTYPES)}")
        dtype = _DTYPES[dtype_str]
        shape = [int(s) for s in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
        numel = 1
        for s in shape:
            numel *= s
        size = torch.empty((), dtype=dtype).element_size()
        if end - begin != numel * size or base + end > len(data) or begin > end:
            raise ValueError(f"safetensors file '{path}': tensor '{name}' offsets [{begin}, {end}] do not hold "
                             f"{numel} elements of {dtype_str} within {len(data) - base} bytes")
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=dtype).reshape(shape)
        tensors[name] = t
    return tensors, dict(metadata)


def write_safetensors(path: str, tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes `tensors` (name order kept) and string `metadata` to `path` atomically (temp + rename)."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("safetensors: '__metadata__' is reserved and cannot name a tensor")
        t = t.detach().to("cpu").contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dtype_name(t.dtype), "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # keep the data 8-byte aligned
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)
