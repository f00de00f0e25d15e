"""Smoke test of the EvoTorch throughput baseline (GymNE and VecGymNE on a tiny LSTM population)."""

import pytest

from evolstm.bench.evotorch_baseline import evotorch_throughput


@pytest.mark.parametrize("vectorized", [False, True])
def test_both_modes_report_positive_throughput(vectorized: bool) -> None:
    result = evotorch_throughput(
        "evolstm/MaskedCartPole-v0", hidden=4, popsize=3, episodes=1, vectorized=vectorized, repeats=1, seed=0
    )
    assert result["env_steps"] >= 3  # every policy takes at least one step
    assert result["seconds"] > 0
    assert result["env_steps_per_s"] == pytest.approx(result["env_steps"] / result["seconds"])
    assert result["env_steps_per_s"] > 0
    assert result["episodes_done"] == 3
    assert result["threads"] >= 1
    assert result["vectorized"] == float(vectorized)


def test_tmaze_kwargs_reach_the_env() -> None:
    # T-maze length 1 truncates after 4 * (1 + 1) = 8 steps, so no episode can be longer.
    result = evotorch_throughput(
        "evolstm/TMaze-v0", hidden=4, popsize=2, episodes=1, vectorized=True, repeats=1, env_kwargs={"length": 1}
    )
    assert 2 <= result["env_steps"] <= 2 * 8
