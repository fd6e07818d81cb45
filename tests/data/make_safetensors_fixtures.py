#!/usr/bin/python3
"""Writes the safetensors fixtures that tests/cpu/test_io.cpp reads.

Run from anywhere with Debian's python3-torch:  /usr/bin/python3 tests/data/make_safetensors_fixtures.py
The files land beside this script. Tensors come from torch with closed-form contents (the C++
test recomputes the same formulas); the format itself is written with struct + json, following
the safetensors layout: u64 little-endian header length N, N bytes of JSON (padded with spaces to
a multiple of 8), then the data buffer with offsets relative to its start.
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8",
}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: same bits as int16
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def pad_header(text):
    text = text.encode("utf-8")
    return text + b" " * ((8 - (8 + len(text)) % 8) % 8)


def write_raw(name, header_bytes, buffer, header_length=None):
    n = len(header_bytes) if header_length is None else header_length
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(struct.pack("<Q", n) + header_bytes + buffer)


def build(tensors, metadata=None, gaps=None):
    """Header (in insertion order) and buffer for a list of (name, tensor); gaps[name] = number
    of unused bytes left before that tensor's data."""
    header, buffer = {}, b""
    for name, t in tensors:
        buffer += b"\0" * (gaps or {}).get(name, 0)
        data = raw_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(buffer), len(buffer) + len(data)]}
        buffer += data
    if metadata is not None:
        header["__metadata__"] = metadata
    return header, buffer


def write(name, tensors, metadata=None, gaps=None):
    header, buffer = build(tensors, metadata, gaps)
    write_raw(name, pad_header(json.dumps(header, ensure_ascii=False)), buffer)


# ---- valid files -----------------------------------------------------------------------------
# mixed: every common dtype, a 0-d and an empty tensor, non-ASCII metadata, insertion order that
# is not alphabetical, buffer order = insertion order, and 8 uncovered bytes before "ids".
write("mixed.safetensors", [
    ("zeta", ((torch.arange(24) * 37 % 101 - 50).to(torch.float32) / 16).reshape(2, 3, 4)),
    ("alpha", (torch.arange(15, dtype=torch.float64) / 7 - 1).reshape(3, 5)),
    ("mid.count", torch.tensor([-2**31, -1, 7, 2**31 - 1], dtype=torch.int32)),
    ("scalar", torch.tensor(0.1, dtype=torch.float64)),
    ("empty", torch.zeros(0, 3, dtype=torch.float32)),
    ("ids", torch.tensor([-2**40, 0, 2**53 + 1], dtype=torch.int64)),
    ("bytes", torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)),
    ("half", torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16)),
    ("bf", torch.tensor([1.0, -0.5], dtype=torch.bfloat16)),
], metadata={"format": "pt", "producer": "make_safetensors_fixtures.py", "note": "ünïcode ✓"},
   gaps={"ids": 8})

# params: a ParameterStore {proj.weight [3, 2], proj.bias [2]} with AdamW moments under mnemo's
# "<name>@adam_m" / "<name>@adam_v" names, plus a non-parameter tensor that loading must ignore.
write("params.safetensors", [
    ("proj.bias", torch.tensor([0.125, -0.375], dtype=torch.float32)),
    ("proj.weight", ((torch.arange(6, dtype=torch.float32) - 2.5) / 4).reshape(3, 2)),
    ("proj.weight@adam_m", (torch.arange(6, dtype=torch.float64) / 1024).to(torch.float32).reshape(3, 2)),
    ("proj.weight@adam_v", (torch.arange(6, dtype=torch.float64) / 3).to(torch.float32).reshape(3, 2)),
    ("proj.bias@adam_m", torch.tensor([1 / 3, 2 / 3], dtype=torch.float64).to(torch.float32)),
    ("proj.bias@adam_v", torch.tensor([0.25, 0.5], dtype=torch.float32)),
    ("state@memory", torch.full((2,), 9.0, dtype=torch.float32)),
], metadata={"step": "7"})

# ---- broken files ----------------------------------------------------------------------------
x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float32)

# truncated: a valid file whose last 6 buffer bytes are missing.
header, buffer = build([("x", x)])
write_raw("truncated.safetensors", pad_header(json.dumps(header)), buffer[:-6])

# offsets_past_end: an 8-element tensor claimed at [0, 32) of a 16-byte buffer.
write_raw("offsets_past_end.safetensors",
          pad_header(json.dumps({"x": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})),
          raw_bytes(x))

# overlapping: "a" at [0, 8) and "b" at [4, 12).
write_raw("overlapping.safetensors",
          pad_header(json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})),
          raw_bytes(x))

# bad_json: the header stops in the middle of an object.
write_raw("bad_json.safetensors", pad_header('{"x": {"dtype": "F32", "shape": [2, 2], '), raw_bytes(x))

# wrong_size: a [2, 2] F32 tensor (16 bytes) given a 12-byte range.
write_raw("wrong_size.safetensors",
          pad_header(json.dumps({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})),
          raw_bytes(x))

# header_too_long: the length field claims 4096 header bytes; far fewer follow.
write_raw("header_too_long.safetensors", pad_header(json.dumps(build([("x", x)])[0])), raw_bytes(x),
          header_length=4096)
