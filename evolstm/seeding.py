"""Episode seeds derived from (run seed, purpose, step, member, episode), never from who runs the episode."""

from __future__ import annotations

import numpy as np

#: Separate seed streams so that e.g. greedy evaluations never replay the population's episodes. population: ES
#: members; greedy: evaluations of the current policy (ES: the center); final: exported policies; training: the
#: episodes REINFORCE samples (their actions are drawn from the same seeds, see evolstm.sampling).
STREAMS = {"population": 0, "greedy": 1, "final": 2, "training": 3}


def episode_seeds(
    run_seed: int, stream: str, step: int, members: int, episodes: int, common: bool = False
) -> np.ndarray:
    """Reset seeds [members, episodes] for a training step; with `common` (common random numbers) every member gets
    the same row."""
    sequence = np.random.SeedSequence([run_seed, STREAMS[stream], step])
    rows = 1 if common else members
    seeds = sequence.generate_state(rows * episodes, dtype=np.uint32).reshape(rows, episodes) & 0x7FFFFFFF
    return np.broadcast_to(seeds, (members, episodes)).astype(np.int64)


def final_episode_seeds(run_seed: int, episodes: int) -> np.ndarray:
    """Reset seeds [1, episodes] of a run's final evaluation: the same episodes for every exported policy (and for
    `evolstm.replay`, which replays them); the first n of them do not depend on how many there are."""
    return episode_seeds(run_seed, "final", 0, 1, episodes)
