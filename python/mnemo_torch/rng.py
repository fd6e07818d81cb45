"""mnemo's counter-based random numbers (include/mnemo/core/rng.hpp) in pure Python: Philox4x32-10
keyed by (seed, stream), SplitMix64 key derivation and FNV-1a names. Used by the sticky-memory
sampler, whose draws must be the C++ ones bit for bit."""
from __future__ import annotations

from dataclasses import dataclass

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1


def mix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def hash_name(s: str) -> int:
    h = 0xCBF29CE484222325
    for c in s.encode("utf-8"):
        h ^= c
        h = (h * 0x100000001B3) & _M64
    return h


def _philox(c0: int, c1: int, c2: int, c3: int, k0: int, k1: int):
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        hi0, lo0 = p0 >> 32, p0 & _M32
        hi1, lo1 = p1 >> 32, p1 & _M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + 0x9E3779B9) & _M32
        k1 = (k1 + 0xBB67AE85) & _M32
    return c0, c1, c2, c3


@dataclass(frozen=True)
class RngKey:
    seed: int = 0
    stream: int = 0

    def derive(self, tag) -> "RngKey":
        if isinstance(tag, str):
            tag = hash_name(tag)
        return RngKey(self.seed, mix64(self.stream ^ mix64((tag + 0x632BE59BD9B4E019) & _M64)))

    def bits(self, index: int) -> int:
        block = index >> 2
        out = _philox(block & _M32, block >> 32, self.stream & _M32, self.stream >> 32, self.seed & _M32, self.seed >> 32)
        return out[index & 3]

    def uniform_double(self, index: int) -> float:
        hi = self.bits(2 * index) >> 5
        lo = self.bits(2 * index + 1) >> 6
        return float((hi << 26) | lo) * (1.0 / 9007199254740992.0)
