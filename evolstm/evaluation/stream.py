"""Continuous batching of greedy episodes: many independent searches (e.g. `bench poles`' runs, each in its own
thread) hand in networks to score, and one loop plays their episodes in a fixed number of slots of one batched env.
An episode that ends frees its slot for the next one waiting, whichever search it comes from, so a 100,000-step
episode holds one slot, not a whole batch, and no search waits for another's generation to end.

Each episode's result depends only on its network and seed (every slot's arithmetic is its own), so the results, and
a search that uses them, do not depend on how episodes happened to share the slots.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from evolstm.config import TaskConfig
from evolstm.environment import make_vector_env
from evolstm.fused import compiled_lockstep
from evolstm.normalization import ObsNorm
from evolstm.policies import PolicySpec, PopulationPolicy
from evolstm.rollout import SYNC_EVERY, Carry, greedy_steps, select_carry
from evolstm.sampling import greedy
from evolstm.tasks.batched import select_envs

#: the loop looks for ended episodes every STEPS_PER_CHECK steps on the CPU (every rollout.SYNC_EVERY on a GPU,
#: where a check costs a host round trip), the steps between checks one call (`rollout.greedy_steps`); a slot whose
#: episode ended waits for the next check. 8 unrolled steps per compiled call: ~60 s to compile per row count (~7 s
#: from inductor's cache), then 26 us per step at 16 rows and 120 us at 256; 4 steps compile in ~35 s but step 1.5x
#: slower at 16 rows (DPNV, 2-unit rnn, one thread)
STEPS_PER_CHECK = 8


@dataclass
class _Job:
    """One search's batch of episodes: network i plays the episode with seed seeds[i]."""

    params: Tensor  # [n, num_params]
    seeds: np.ndarray  # [n] int64
    returns: np.ndarray = field(init=False)
    lengths: np.ndarray = field(init=False)
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.returns = np.zeros(len(self.seeds))
        self.lengths = np.zeros(len(self.seeds), dtype=np.int64)
        self.left = len(self.seeds)


class SlotLoop:
    """Up to `slots` episodes of one task stepping together: a batched env and a population policy of one-episode
    members, one row per slot. `fill` starts episodes in free slots; `step` plays `steps_per_check` steps of all of
    them; `ended` hands back the episodes that have ended and frees their slots.

    With `narrow` (fewer than `slots`), the loop steps only `narrow` rows while no more episodes than that are busy
    or waiting (`fit`), e.g. the last long episodes of a benchmark: a step's cost grows with its rows (DPNV, compiled:
    ~4x less at 16 rows than at 256). Each row's arithmetic is its own, so moving an episode to another row changes
    nothing in it; compiled, each width is a program of its own (keep both multiples of the CPU's vector width so
    that they round alike)."""

    def __init__(
        self,
        task: TaskConfig,
        spec: PolicySpec,
        slots: int,
        device: torch.device,
        compile: bool,
        narrow: int | None = None,
    ) -> None:
        if narrow is not None and not 0 < narrow < slots:
            raise ValueError(f"narrow ({narrow}) must be between 0 and slots ({slots})")
        self.spec, self.slots, self.narrow, self.device = spec, slots, narrow, device
        self.envs = make_vector_env(task, slots, "batched", device)
        self.steps_per_check = STEPS_PER_CHECK if device.type == "cpu" else SYNC_EVERY
        steps = greedy_steps(self.steps_per_check)
        self._steps = compiled_lockstep(steps) if compile else steps
        self._normalize, self._act = ObsNorm.identity(spec.obs_dim).on(device), greedy(spec)
        self.params = torch.zeros(slots, spec.num_params, device=device)
        self.policy = PopulationPolicy(spec, self.params)
        obs = self.envs.reset(seed=np.zeros(slots, dtype=np.int64))[0]
        self.carry = Carry(
            obs,
            self.policy.initial_state(1),
            torch.zeros(slots, dtype=torch.bool, device=device),  # no episode plays until a slot is filled
            torch.zeros(slots, dtype=torch.float64, device=device),
            torch.zeros(slots, dtype=torch.int64, device=device),
            torch.zeros(obs.shape[1], dtype=torch.float64, device=device),
            torch.zeros(obs.shape[1], dtype=torch.float64, device=device),
        )
        self.width = slots  # the rows that step
        self.holder: list[tuple[_Job, int] | None] = [None] * slots  # whose episode each row plays
        self._held = torch.zeros(slots, dtype=torch.bool, device=device)  # the same, as a mask on the device
        self.free = list(range(slots - 1, -1, -1))  # pop() hands out row 0 first
        self.t = 0

    @property
    def busy(self) -> int:
        return self.width - len(self.free)

    def fit(self, waiting: int) -> None:
        """Step `narrow` rows from now on if they hold the busy episodes and the `waiting` ones, else all `slots`."""
        if self.narrow is None:
            return
        width = self.narrow if self.busy + waiting <= self.narrow else self.slots
        if width != self.width:
            self._resize(width)

    def _resize(self, width: int) -> None:
        """Go on with `width` rows: the busy episodes move to the first rows (env, weights, recurrent state, return
        and length each gathered), any rows after them are free."""
        busy = [row for row, held in enumerate(self.holder) if held is not None]
        spare = [row for row in range(self.width) if self.holder[row] is None] or [0]
        rows = busy + [spare[i % len(spare)] for i in range(width - len(busy))]  # any rows will do for free ones
        keep = torch.tensor(rows, device=self.device)
        self._held = torch.arange(width, device=self.device) < len(busy)
        self.envs = select_envs(self.envs, keep)
        self.params = self.params.index_select(0, keep)
        self.policy = PopulationPolicy(self.spec, self.params)
        carry = select_carry(self.carry, keep, keep)
        self.carry = carry._replace(alive=carry.alive & self._held)
        self.holder = [self.holder[row] for row in busy] + [None] * (width - len(busy))
        self.free = list(range(width - 1, len(busy) - 1, -1))
        self.width = width

    def fill(self, episodes: list[tuple[_Job, int]]) -> None:
        """Start each (job, i) episode in a free slot: its env reset with its seed, its network's weights in the
        slot's row, the slot's recurrent state, return and length zeroed."""
        slots = [self.free.pop() for _ in episodes]
        rows = torch.tensor(slots, device=self.device)
        mask = torch.zeros(self.width, dtype=torch.bool, device=self.device).index_fill_(0, rows, True)
        seeds = np.zeros(self.width, dtype=np.int64)
        seeds[slots] = [job.seeds[i] for job, i in episodes]
        obs = self.envs.reset(seed=seeds, options={"reset_mask": mask})[0]
        self.params[rows] = torch.stack([job.params[i] for job, i in episodes]).to(self.device, torch.float32)
        self.policy = PopulationPolicy(self.spec, self.params)
        carry = self.carry
        state = tuple(s.masked_fill(mask.view(1, -1, 1, 1), 0.0) for s in carry.state)
        self.carry = Carry(
            obs,
            state,
            carry.alive | mask,
            carry.returns.masked_fill(mask, 0.0),
            carry.lengths.masked_fill(mask, 0),
            carry.seen_sum,
            carry.seen_sq,
        )
        self._held |= mask
        for slot, episode in zip(slots, episodes):
            self.holder[slot] = episode

    def step(self) -> None:
        """`steps_per_check` steps of every row (free ones step on, masked)."""
        self.carry, _ = self._steps(
            self.envs, self.policy, self._normalize, self._act, (self.width, 1), self.t, self.carry
        )
        self.t += self.steps_per_check

    def ended(self) -> list[tuple[_Job, int, float, int]]:
        """The episodes that have ended since the last call, as (job, i, return, length); their slots are free."""
        done = (self._held & ~self.carry.alive).nonzero().squeeze(1)
        if not len(done):
            return []
        returns, lengths = self.carry.returns[done].cpu().numpy(), self.carry.lengths[done].cpu().numpy()
        finished = []
        for slot, ret, length in zip(done.tolist(), returns, lengths):
            job, i = self.holder[slot]
            finished.append((job, i, float(ret), int(length)))
            self.holder[slot] = None
            self.free.append(slot)
        self._held[done] = False
        return finished


class StreamError(RuntimeError):
    """Playing the stream's episodes failed (an env or evaluator error): every waiting search gets it."""


class EpisodeStream:
    """Thread-safe episodes for `searches` searching threads over named slot loops (e.g. a training task and a
    longer test task): a search calls `play(loop, params, seeds)`, which blocks until its episodes have ended, and
    `leave()` once done; one thread runs `drive()`, which steps the loops until every search has left."""

    def __init__(self, loops: dict[str, SlotLoop], searches: int) -> None:
        self.loops, self._searches = loops, searches
        self._queues: dict[str, deque[tuple[_Job, int]]] = {name: deque() for name in loops}
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self.episodes = 0  # ended so far, all loops

    def play(self, loop: str, params: Tensor, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths [n] of one greedy episode of each network params[i] with seed seeds[i]."""
        job = _Job(params.detach(), np.asarray(seeds, dtype=np.int64))
        with self._changed:
            self._raise_if_failed()
            self._queues[loop].extend((job, i) for i in range(len(job.seeds)))
            self._changed.notify_all()
            self._changed.wait_for(lambda: job.left == 0 or self._error is not None)
            self._raise_if_failed()
        return job.returns, job.lengths

    def leave(self) -> None:
        with self._changed:
            self._searches -= 1
            self._changed.notify_all()

    def drive(self, report: Callable[[], None] | None = None) -> None:
        """Step the loops until every search has left; `report` is called between checks (e.g. to print progress).
        An error while stepping reaches every search waiting now or later, then is raised here."""
        try:
            while True:
                with self._changed:
                    for name, loop in self.loops.items():
                        queue = self._queues[name]
                        loop.fit(len(queue))
                        if queue and loop.free:
                            loop.fill([queue.popleft() for _ in range(min(len(queue), len(loop.free)))])
                    if not any(loop.busy for loop in self.loops.values()):
                        if self._searches == 0:
                            return
                        self._changed.wait()
                        continue
                for loop in self.loops.values():
                    if loop.busy:
                        loop.step()
                finished = [episode for loop in self.loops.values() for episode in loop.ended()]
                if finished:
                    with self._changed:
                        for job, i, ret, length in finished:
                            job.returns[i], job.lengths[i] = ret, length
                            job.left -= 1
                        self.episodes += len(finished)
                        self._changed.notify_all()
                if report is not None:
                    report()
        except BaseException as err:
            with self._changed:
                self._error = err
                self._changed.notify_all()
            raise

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise StreamError(" ".join(str(self._error).split())[:300]) from self._error
