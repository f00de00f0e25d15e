"""Counter-based random numbers: a hash of (key, stream, draw index) in integer tensor ops, so that an episode's
draws depend only on its own key and step, never on the batch size, the device or the episode's position in a batch.

Values are 32-bit, held in int64 tensors: products wrap modulo 2^64, which leaves their low 32 bits exact on every
device, and every shift is applied to non-negative values.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MASK32 = 0xFFFFFFFF
#: separate streams so that e.g. action sampling never reuses the numbers of another purpose with the same key
STREAMS = {"actions": 0x5EED_A5C1}


def mix32(x: Tensor) -> Tensor:
    """MurmurHash3's 32-bit finalizer, elementwise on int64 tensors holding values in [0, 2^32)."""
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) & MASK32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) & MASK32
    return x ^ (x >> 16)


def uniform(keys: Tensor, stream: str, counter: int, count: int) -> Tensor:
    """Uniform float32 numbers in (0, 1), [N, count]: draws counter * count ... counter * count + count - 1 of each key.
    23 bits each, so that every value (k + 0.5) / 2^23 is exact in float32 and never rounds to 0 or 1."""
    key = mix32((keys.to(torch.int64) & MASK32) ^ STREAMS[stream])
    draws = torch.arange(counter * count, (counter + 1) * count, dtype=torch.int64, device=keys.device)
    bits = mix32(key.unsqueeze(-1) ^ mix32((draws * 0x9E3779B9) & MASK32))
    return ((bits >> 9).to(torch.float32) + 0.5) * 2.0**-23


def normal(keys: Tensor, stream: str, counter: int, count: int) -> Tensor:
    """Standard normal float32 numbers [N, count] (Box-Muller over two uniforms per number)."""
    u1, u2 = uniform(keys, stream, counter, 2 * count).chunk(2, dim=-1)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)


def gumbel(keys: Tensor, stream: str, counter: int, count: int) -> Tensor:
    """Standard Gumbel float32 numbers [N, count]: argmax(logits + gumbel) samples the categorical of the logits."""
    return -torch.log(-torch.log(uniform(keys, stream, counter, count)))
