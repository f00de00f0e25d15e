"""Counter-based random numbers: a hash of (key, stream, draw index) in integer ops, so that an episode's draws
depend only on its own key and draw index, never on the batch size, the device or the episode's position in a
batch. The key of an episode is its reset seed: evolstm's tasks draw their start states (and REINFORCE its actions)
from it, in one batched call on the device, and a task's scalar form draws through the same functions.

Values are 32-bit, held in int64 tensors: products wrap modulo 2^64, which leaves their low 32 bits exact on every
device, and every shift that matters is applied to non-negative values (a key's high half is masked after its
shift). Keys are any int64 (seeds in [0, 2^64) as two's complement); both of their 32-bit halves enter the hash.
The hashing functions (mix32 ... successor) use only operators that torch tensors and numpy int64 arrays share, so
the scalar envs call them on one-element numpy arrays (a torch op on one element costs microseconds of dispatch)
and get the batched forms' numbers bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
#: separate streams so that e.g. action sampling never reuses the numbers of another purpose with the same key
STREAMS = {"actions": 0x5EED_A5C1, "starts": 0x57A2_7E55, "successor": 0x0B5E_55ED}

#: int64 tensors on any device, or int64 numpy arrays (never numpy scalars: their products warn on overflow)
Ints = Tensor | np.ndarray


def mix32(x: Ints) -> Ints:
    """MurmurHash3's 32-bit finalizer, elementwise on int64 values in [0, 2^32)."""
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) & MASK32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) & MASK32
    return x ^ (x >> 16)


def stream_keys(keys: Ints, stream: str) -> Ints:
    """A 32-bit key per (int64 key, stream); for keys below 2^32 the high half adds mix32(0) = 0. An env that draws
    every step keeps these in its state, so that a step hashes only the draw index."""
    high = mix32((keys >> 32) & MASK32)
    return mix32(((keys & MASK32) ^ STREAMS[stream]) ^ high)


def keyed_bits(streams: Ints, draws: Ints) -> Ints:
    """32 random bits (int64 in [0, 2^32)) for draw `draws` of each stream key (see stream_keys); `draws` (int64, of
    the same kind as `streams`) broadcasts against `streams[..., None]`: [count] for the same draws of every key."""
    return mix32(streams[..., None] ^ mix32((draws * GOLDEN) & MASK32))


def bits(keys: Ints, stream: str, draws: Ints) -> Ints:
    """32 random bits for draw `draws` of each key in `stream`: keyed_bits(stream_keys(keys, stream), draws)."""
    return keyed_bits(stream_keys(keys, stream), draws)


def arange(like: Ints, start: int, stop: int) -> Ints:
    """Draw indices start ... stop - 1 (int64), of the kind (and on the device) of `like`."""
    if isinstance(like, np.ndarray):
        return np.arange(start, stop, dtype=np.int64)
    return torch.arange(start, stop, dtype=torch.int64, device=like.device)


def uniform(keys: Tensor, stream: str, counter: int, count: int) -> Tensor:
    """Uniform float32 numbers in (0, 1), [N, count]: draws counter * count ... counter * count + count - 1 of each key.
    23 bits each, so that every value (k + 0.5) / 2^23 is exact in float32 and never rounds to 0 or 1."""
    drawn = bits(keys, stream, arange(keys, counter * count, (counter + 1) * count))
    return ((drawn >> 9).to(torch.float32) + 0.5) * 2.0**-23


def uniform64(keys: Ints, stream: str, draws: Ints) -> Ints:
    """Uniform float64 numbers in (0, 1) with 32 bits each ((k + 0.5) / 2^32, exact), for draws `draws` (see bits)."""
    drawn = bits(keys, stream, draws)
    as_float = drawn.astype(np.float64) if isinstance(drawn, np.ndarray) else drawn.to(torch.float64)
    return (as_float + 0.5) * 2.0**-32


def integers(keys: Ints, stream: str, draws: Ints, high: int) -> Ints:
    """Integers in [0, high) (int64, high <= 2^31) for draws `draws` of each key (see below)."""
    return below(bits(keys, stream, draws), high)


def below(drawn: Ints, high: int) -> Ints:
    """32-bit draws as integers in [0, high): floor(bits * high / 2^32), exact integer arithmetic."""
    return (drawn * int(high)) >> 32


def normal(keys: Tensor, stream: str, counter: int, count: int) -> Tensor:
    """Standard normal float32 numbers [N, count] (Box-Muller over two uniforms per number)."""
    u1, u2 = uniform(keys, stream, counter, 2 * count).chunk(2, dim=-1)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)


def gumbel(keys: Tensor, stream: str, counter: int, count: int) -> Tensor:
    """Standard Gumbel float32 numbers [N, count]: argmax(logits + gumbel) samples the categorical of the logits."""
    return -torch.log(-torch.log(uniform(keys, stream, counter, count)))


def successor(keys: Ints) -> Ints:
    """The next key of each key's chain (a non-negative int64): what a reset without a seed continues with."""
    drawn = bits(keys, "successor", arange(keys, 0, 2))
    return ((drawn[..., 1] >> 1) << 32) | drawn[..., 0]


def as_keys(seeds: object, count: int, device: torch.device) -> Tensor:
    """Seeds as int64 keys [count] on `device`: an integer tensor or array, a sequence of ints in [0, 2^64) (two's
    complement above 2^63), or one int s meaning s, s + 1, ..., s + count - 1 (Gymnasium's rule for vector envs).
    Floats and booleans are refused rather than truncated."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return torch.arange(count, dtype=torch.int64, device=device) + check_seed(int(seeds))
    if isinstance(seeds, Tensor):
        if seeds.is_floating_point() or seeds.is_complex() or seeds.dtype == torch.bool:
            raise ValueError(f"seeds must be integers, got a {seeds.dtype} tensor")
        keys = seeds.to(device=device, dtype=torch.int64)
    elif isinstance(seeds, np.ndarray) and seeds.dtype.kind in "iu":
        if seeds.dtype.kind == "i" and seeds.size and int(seeds.min()) < 0:
            raise ValueError(f"seeds must be integers in [0, 2^64), got {int(seeds.min())}")
        keys = torch.as_tensor(seeds.astype(np.uint64).view(np.int64), device=device)
    else:  # one by one: np.asarray would turn a mix of small ints and ints above 2^63 into float64
        keys = torch.tensor([check_seed(s) for s in seeds], dtype=torch.int64, device=device)
    if keys.shape != (count,):
        raise ValueError(f"expected {count} seeds, got shape {tuple(keys.shape)}")
    return keys


def check_seed(seed: object) -> int:
    """A seed in [0, 2^64) as a signed 64-bit int (ValueError otherwise)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        raise ValueError(f"seeds must be integers, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seeds must be integers in [0, 2^64), got {seed}")
    return seed - 2**64 if seed >= 2**63 else seed
