"""THE rollout loop: a population policy steps a vector env (per-env envs in lockstep, or a torch-batched task) with
seeded resets, masking finished episodes, gathering returns, lengths, observation statistics and trajectories.

The vector env has autoreset disabled and keeps stepping (or, in lockstep, skips) finished episodes; they are masked
out here. On a GPU the loop copies to the host only to check, every `SYNC_EVERY` steps, whether any episode is still
running; at those checks, a batched loop may also drop the members that have finished (`compact`): exactly those, or,
for compiled steps (one program per batch size), down to a power-of-two batch. One loop step (policy step, action,
env step, bookkeeping) is one function, `lockstep`, that `evolstm.fused` can compile whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from evolstm.lockstep import EnvStepError
from evolstm.normalization import ObsNorm, ObsStats
from evolstm.policies import PolicySpec, State
from evolstm.sampling import ActionFn, greedy
from evolstm.tasks.batched import select_envs

SYNC_EVERY = 16
#: with `compact`, the loop drops the members whose episodes have all ended once they are this share of the batch
COMPACT_SHARE = 0.5
#: how a loop drops members: "exact" keeps only those still playing; "buckets" pads them with ended members to a
#: power of two, so that compiled steps (static shapes) see at most log2(P) + 1 batch sizes in a run
Compaction = Literal["exact", "buckets"]


class VectorEnv(Protocol):
    """What the loop needs of a vector env: seeded reset and step, tensors in and out (on the env's device)."""

    num_envs: int

    def reset(self, *, seed: np.ndarray) -> tuple[Tensor, dict[str, Any]]: ...

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]: ...


class SteppedPolicy(Protocol):
    """What the loop needs of a population policy: obs [P, B, obs] -> head outputs [P, B, A], state in and out."""

    spec: PolicySpec

    def initial_state(self, batch: int) -> State: ...

    def step(self, obs: Tensor, state: State) -> tuple[Tensor, State]: ...


class Carry(NamedTuple):
    """What one loop step hands the next: the observations, the policy's state, which episodes still run, and the
    returns, lengths and observation sums so far (all [N] or [N, obs] over the N = P x E episodes)."""

    obs: Tensor
    state: State
    alive: Tensor
    returns: Tensor
    lengths: Tensor
    seen_sum: Tensor
    seen_sq: Tensor


class Played(NamedTuple):
    """One step as REINFORCE records it: the policy's inputs [P, E, obs], the action taken [P, E, ...], the reward
    earned and who was alive [N]."""

    inputs: Tensor
    taken: Tensor
    earned: Tensor
    alive: Tensor


#: (envs, policy, normalize, act, (members, episodes), step number, carry) -> (next carry, the step as played)
Lockstep = Callable[
    [Any, SteppedPolicy, Callable[[Tensor], Tensor], ActionFn, tuple[int, int], int, Carry], tuple[Carry, Played]
]


@dataclass(frozen=True)
class Trajectories:
    """Padded episodes, time first: inputs as the policy saw them [T, N, obs], recorded actions, rewards, validity."""

    inputs: Tensor
    actions: Tensor
    rewards: Tensor
    valid: Tensor


class EpisodeError(RuntimeError):
    """An env raised while playing a member's episode; names the env, the member and the episode."""

    def __init__(self, env_id: str, member: int, episode: int, cause: str) -> None:
        super().__init__(f"env {env_id} raised in member {member}, episode {episode}: {cause}")
        self.env_id, self.member, self.episode, self.cause = env_id, member, episode, cause

    def __reduce__(self) -> tuple:  # keeps its fields across processes (Ray)
        return (EpisodeError, (self.env_id, self.member, self.episode, self.cause))

    def shifted(self, members: int = 0, episodes: int = 0) -> EpisodeError:
        """The same error counted from a share's first member and episode."""
        return EpisodeError(self.env_id, self.member + members, self.episode + episodes, self.cause)


@dataclass(frozen=True)
class EpisodeResults:
    """What a batch of episodes produced: per-member, per-episode returns and lengths, and observation statistics."""

    returns: np.ndarray  # [P, E] float64
    lengths: np.ndarray  # [P, E] int64
    obs_stats: ObsStats
    trajectories: Trajectories | None = None  # recorded when collecting episodes for learning

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())

    @classmethod
    def joined(cls, parts: list[EpisodeResults], axis: int = 0) -> EpisodeResults:
        """Consecutive shares of members (axis 0) or of episodes (axis 1) as one; trajectories padded in time."""
        stats = parts[0].obs_stats
        for part in parts[1:]:
            stats = stats + part.obs_stats
        trajectories = None
        if parts[0].trajectories is not None:
            steps = max(p.trajectories.valid.shape[0] for p in parts)
            fields = zip(*(vars(p.trajectories).values() for p in parts))
            trajectories = Trajectories(*(torch.cat([_pad_time(t, steps) for t in field], dim=1) for field in fields))
        return cls(
            np.concatenate([p.returns for p in parts], axis=axis),
            np.concatenate([p.lengths for p in parts], axis=axis),
            stats,
            trajectories,
        )


def lockstep(
    envs: Any,
    policy: SteppedPolicy,
    normalize: Callable[[Tensor], Tensor],
    act: ActionFn,
    shape: tuple[int, int],
    t: int,
    carry: Carry,
) -> tuple[Carry, Played]:
    """One step of every episode: the policy acts on the normalized observations, the envs step, and the episodes
    that were still running add their reward, their step and their new observation to the sums."""
    members, episodes = shape
    x = normalize(carry.obs.view(members, episodes, -1))
    out, state = policy.step(x, carry.state)
    env_actions, taken = act(out, t)
    count = members * episodes
    obs, reward, terminated, truncated, _ = envs.step(env_actions.reshape(count, *env_actions.shape[2:]))
    alive = carry.alive
    earned = reward * alive
    still = alive & ~(terminated | truncated)
    kept = obs.double() * still.unsqueeze(1)
    played = Played(x, taken, earned, alive)
    return Carry(
        obs,
        state,
        still,
        carry.returns + earned,
        carry.lengths + alive,
        carry.seen_sum + kept.sum(0),
        carry.seen_sq + (kept * kept).sum(0),  # still is 0 or 1, so kept^2 = obs^2 * still
    ), played


def greedy_steps(count: int) -> Lockstep:
    """`count` loop steps as one call (returning the last one's `Played`): a compiled call has a fixed cost (guards,
    wrapper) whatever it computes, so unrolled steps cost less each at small batches (`evaluation.stream`'s
    figures). For greedy scoring only: every step gets the same step number `t` (greedy actions ignore it; a varying
    one would recompile)."""

    def steps(*inputs: Any) -> tuple[Carry, Played]:  # lockstep's inputs: (envs, policy, ..., t, carry)
        *fixed, carry = inputs
        for _ in range(count):
            carry, played = lockstep(*fixed, carry)
        return carry, played

    return steps


@torch.no_grad()
def play(
    envs: VectorEnv,
    policy: SteppedPolicy,
    seeds: np.ndarray,
    norm: ObsNorm,
    act: ActionFn | None = None,
    record: bool = False,
    step: Lockstep = lockstep,
    compact: Compaction | None = None,
) -> EpisodeResults:
    """Play one episode in each env, env p * E + e for member p with seed seeds[p, e], all members in lockstep.

    `act` turns head outputs into actions (greedy by default); with `record` the padded trajectories come back too;
    `step` is the loop step (`lockstep`, or its compiled form from `evolstm.fused`). With `compact` (a batched env,
    a `PopulationPolicy`), whenever at least COMPACT_SHARE of the members have ended all their episodes, the loop goes
    on with the others only (at a host check it makes anyway; see `Compaction`), so that long episodes of a few
    members do not keep the whole population stepping; each member's results stay exactly what they would have been.
    """
    if compact and (record or act is not None):
        raise ValueError("compact plays greedy, unrecorded episodes only (sampling keys and records are per row)")
    act = act or greedy(policy.spec)
    members, episodes = seeds.shape
    count = members * episodes
    try:
        obs = envs.reset(seed=seeds.reshape(-1))[0]  # an array: no per-env Python
    except EnvStepError as err:
        raise EpisodeError(err.env_id, err.index // episodes, err.index % episodes, err.cause) from err
    device = obs.device
    normalize = norm.on(device)
    carry = Carry(
        obs,
        policy.initial_state(episodes),
        torch.ones(count, dtype=torch.bool, device=device),
        torch.zeros(count, dtype=torch.float64, device=device),
        torch.zeros(count, dtype=torch.int64, device=device),
        obs.double().sum(0),
        obs.double().square().sum(0),
    )
    returns, lengths = carry.returns.clone(), carry.lengths.clone()  # every env's, written back when compacting
    rows = torch.arange(count, device=device)  # which env each row of the carry is
    steps: list[Played] = []
    sync_every = 1 if device.type == "cpu" else SYNC_EVERY  # a host check is free on the CPU
    playing, t = members, 0
    while True:
        try:
            carry, played = step(envs, policy, normalize, act, (playing, episodes), t, carry)
        except EnvStepError as err:
            index = int(rows[err.index])  # the env's place in the whole batch
            raise EpisodeError(err.env_id, index // episodes, index % episodes, err.cause) from err
        if record:
            steps.append(_flat(played, count))
        t += 1
        if t % sync_every:
            continue
        if not compact:
            if not bool(carry.alive.any()):
                break
            continue
        kept = _kept_members(carry.alive.view(playing, episodes).any(dim=1), compact)
        if kept is None:
            continue
        returns[rows], lengths[rows] = carry.returns, carry.lengths
        if not len(kept):
            break
        env_rows = (kept.unsqueeze(1) * episodes + torch.arange(episodes, device=device)).reshape(-1)
        envs, policy, rows = select_envs(envs, env_rows), policy.select(kept), rows[env_rows]
        carry = select_carry(carry, kept, env_rows)
        playing = len(kept)
    if not compact:
        returns, lengths = carry.returns, carry.lengths
    stats = ObsStats(carry.seen_sum.cpu().numpy(), carry.seen_sq.cpu().numpy(), int(lengths.sum()))
    trajectories = None
    if record:
        inputs, taken, rewards, valid = (torch.stack(part) for part in zip(*steps))
        last = int(valid.any(dim=1).nonzero().max()) + 1  # drop the trailing steps where all had ended
        trajectories = Trajectories(inputs[:last], taken[:last], rewards[:last], valid[:last])
    shape = (members, episodes)
    return EpisodeResults(returns.view(shape).cpu().numpy(), lengths.view(shape).cpu().numpy(), stats, trajectories)


def _kept_members(going: Tensor, compact: Compaction) -> Tensor | None:
    """The members (indices into `going`, [P] bool: some episode still runs) that the loop goes on with, once at
    least COMPACT_SHARE of them have ended (None before; empty once all have): those still going, in order, or for
    "buckets" the smallest power of two that holds them, padded with ended members (which step on, masked)."""
    still = int(going.sum())
    if still > len(going) * (1 - COMPACT_SHARE):
        return None
    if compact == "exact" or not still:
        return going.nonzero().squeeze(1)
    return torch.argsort(going.logical_not().byte(), stable=True)[: power_of_two(still)]  # going members first


def power_of_two(count: int) -> int:
    """The smallest power of two that holds `count` (>= 1)."""
    return 1 << (count - 1).bit_length()


def _pad_time(tensor: Tensor, steps: int) -> Tensor:
    """Zero-pad (False for masks) a time-first tensor to `steps` steps."""
    missing = steps - tensor.shape[0]
    if not missing:
        return tensor
    return torch.cat([tensor, tensor.new_zeros((missing, *tensor.shape[1:]))])


def _flat(played: Played, count: int) -> Played:
    """A step as trajectories hold it: one row per episode, rewards in float32."""
    inputs, taken = played.inputs, played.taken
    return Played(
        inputs.reshape(count, -1), taken.reshape(count, *taken.shape[2:]), played.earned.float(), played.alive
    )


def select_carry(carry: Carry, members: Tensor, env_rows: Tensor) -> Carry:
    """The carry of only the members `members` (whose envs are `env_rows`)."""
    state = tuple(s.index_select(1, members) for s in carry.state)
    obs, alive, returns, lengths = (
        x.index_select(0, env_rows) for x in (carry.obs, carry.alive, carry.returns, carry.lengths)
    )
    return Carry(obs, state, alive, returns, lengths, carry.seen_sum, carry.seen_sq)
