"""Episodes streamed through slots (continuous batching): every episode's return and length are exactly those of
the evaluator's own batch, however searches' episodes shared the slots; errors reach every waiting search."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import pytest
import torch

from evolstm.config import Experiment
from evolstm.environment import policy_spec
from evolstm.evaluation import stream as stream_module
from evolstm.evaluation.stream import EpisodeStream, SlotLoop, StreamError, _Job
from evolstm.evaluation.vector import VectorEvaluator
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec
from evolstm.rollout import EpisodeResults
from evolstm.tasks import TASK_IDS
from tests.conftest import make_experiment
from tests.test_fused import SAME_EPISODES

KWARGS = {"evolstm/TMaze-v0": {"length": 3}, "evolstm/PassiveTMaze-v0": {"length": 3}}


def _searches(stream: EpisodeStream, jobs: list[tuple[str, torch.Tensor, np.ndarray]]) -> list[threading.Thread]:
    """One daemon thread per job (a hang fails the test, not the suite): plays it, keeps the result, leaves."""
    results: dict[int, tuple[np.ndarray, np.ndarray] | str] = {}

    def search(k: int) -> None:
        try:
            results[k] = stream.play(*jobs[k])
        except StreamError as err:
            results[k] = str(err)
        finally:
            stream.leave()

    threads = [threading.Thread(target=search, args=(k,), daemon=True) for k in range(len(jobs))]
    for thread in threads:
        thread.start()
    stream.results = results  # type: ignore[attr-defined]
    return threads


def _scored(
    task: dict, count: int, spread: float
) -> tuple[Experiment, PolicySpec, torch.Tensor, np.ndarray, EpisodeResults]:
    """An experiment on `task`, its policy spec, `count` networks around a fresh policy's weights (seed 0), their
    episode seeds and the evaluator's eager scores of them."""
    experiment = make_experiment(task=task)
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(0)
    params = Policy(spec).flat() + spread * torch.randn(count, spec.num_params)
    seeds = np.arange(count)
    scores = VectorEvaluator(experiment.task, spec, "batched").score(
        params, seeds[:, None], ObsNorm.identity(spec.obs_dim)
    )
    return experiment, spec, params, seeds, scores


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_streamed_episodes_are_those_of_one_batch(task_id: str) -> None:
    """Four searches of 6 networks through 4 slots: slots are reused many times, episodes of different searches
    sit side by side, and each episode still plays exactly as in the evaluator's batch."""
    experiment = make_experiment(task={"id": task_id, "kwargs": KWARGS.get(task_id, {})})
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(0)
    center = Policy(spec).flat()
    jobs = [("loop", center + 0.5 * torch.randn(6, center.numel()), np.arange(6) + 10 * k) for k in range(4)]
    evaluator = VectorEvaluator(experiment.task, spec, "batched")
    expected = [evaluator.score(params, seeds[:, None], ObsNorm.identity(spec.obs_dim)) for _, params, seeds in jobs]
    stream = EpisodeStream({"loop": SlotLoop(experiment.task, spec, 4, torch.device("cpu"), False)}, len(jobs))
    threads = _searches(stream, jobs)
    stream.drive()
    for thread in threads:
        thread.join(timeout=60)
    for k, want in enumerate(expected):
        returns, lengths = stream.results[k]
        np.testing.assert_array_equal(returns, want.returns[:, 0])
        np.testing.assert_array_equal(lengths, want.lengths[:, 0])
    assert stream.episodes == 24


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_episodes_play_on_unchanged_when_the_loop_narrows_and_widens(
    task_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 slots that step 2 rows while at most 2 episodes are busy or waiting: episodes arrive while others play, so
    busy episodes move rows both ways mid-episode (checked), and each still plays exactly as in the evaluator's
    batch."""
    task = {"id": task_id, "kwargs": {"length": 12} if "TMaze" in task_id else {}}
    experiment, spec, params, seeds, expected = _scored(task, 12, 0.5)
    monkeypatch.setattr(stream_module, "STEPS_PER_CHECK", 1)  # a check after every step: short episodes overlap too
    loop = SlotLoop(experiment.task, spec, 8, torch.device("cpu"), False, narrow=2)
    moves: list[tuple[int, int, int]] = []  # (rows before, rows after, busy episodes moved)
    resize = loop._resize
    monkeypatch.setattr(loop, "_resize", lambda width: (moves.append((loop.width, width, loop.busy)), resize(width)))
    job, queue = _Job(params, seeds), deque()
    arrivals = {0: [0], 1: [1, 2, 3, 4, 5], 3: [6]}  # by step
    late = [7, 8, 9, 10, 11]  # arrive once the loop has narrowed around a busy episode
    got: dict[int, tuple[float, int]] = {}
    t = 0
    while len(got) < 12:
        queue.extend((job, i) for i in arrivals.get(t, []))
        if late and any(busy and after < before for before, after, busy in moves):
            queue.extend((job, i) for i in late)
            late = []
        loop.fit(len(queue))
        if queue and loop.free:
            loop.fill([queue.popleft() for _ in range(min(len(queue), len(loop.free)))])
        loop.step()
        got.update({i: (ret, length) for _, i, ret, length in loop.ended()})
        t += 1
    np.testing.assert_array_equal([got[i][0] for i in range(12)], expected.returns[:, 0])
    np.testing.assert_array_equal([got[i][1] for i in range(12)], expected.lengths[:, 0])
    assert any(busy and after < before for before, after, busy in moves), moves
    assert any(busy and after > before for before, after, busy in moves), moves


def test_a_failing_step_reaches_every_waiting_search_and_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    experiment = make_experiment()
    spec = policy_spec(experiment.task, experiment.policy)
    loop = SlotLoop(experiment.task, spec, 2, torch.device("cpu"), False)

    def broken() -> None:
        raise RuntimeError("env broke")

    monkeypatch.setattr(loop, "step", broken)
    stream = EpisodeStream({"loop": loop}, 3)
    jobs = [("loop", torch.zeros(2, spec.num_params), np.arange(2)) for _ in range(3)]
    threads = _searches(stream, jobs)
    with pytest.raises(RuntimeError, match="env broke"):
        stream.drive()
    for thread in threads:
        thread.join(timeout=10)
    assert stream.results == {k: "env broke" for k in range(3)}


def test_the_driver_returns_once_every_search_has_left() -> None:
    experiment = make_experiment()
    spec = policy_spec(experiment.task, experiment.policy)
    stream = EpisodeStream({"loop": SlotLoop(experiment.task, spec, 2, torch.device("cpu"), False)}, 2)
    threads = [threading.Thread(target=stream.leave, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    stream.drive()
    assert stream.episodes == 0


@pytest.mark.slow
def test_compiled_slots_score_as_eager_ones_up_to_the_tolerance() -> None:
    """The compiled loop (8 unrolled steps per call, `rollout.greedy_steps`) fullgraph, and within the tolerance
    that compiled scoring is held to (tests/test_fused.py)."""
    experiment, spec, params, seeds, eager = _scored({"id": "evolstm/TMaze-v0", "kwargs": {"length": 4}}, 32, 0.3)
    stream = EpisodeStream({"loop": SlotLoop(experiment.task, spec, 8, torch.device("cpu"), True)}, 1)
    (thread,) = _searches(stream, [("loop", params, seeds)])
    stream.drive()
    thread.join(timeout=60)
    returns, _ = stream.results[0]
    assert (returns == eager.returns[:, 0]).mean() >= SAME_EPISODES
