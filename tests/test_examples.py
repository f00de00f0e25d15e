"""The example experiments for a plain Gymnasium env and for a user's own env module run as their comments say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolstm import config
from evolstm.policy_files import load_policy
from evolstm.run import main

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_an_lstm_learns_the_users_own_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the task id names experiments.own_env, found from the repository root
    assert main(["experiments/own-env-es.yaml", "--out", str(tmp_path), "--quiet"]) == 0
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "stop_at" and summary["final_evaluation"]["center"]["mean_return"] == 1.0


def test_cartpole_v1_trains_with_its_velocities_masked(tmp_path: Path) -> None:
    args = ["--set", "trainer.generations=2", "--set", "evaluation.final_episodes=2", "--out", str(tmp_path)]
    assert main([str(ROOT / "experiments/cartpole-v1-masked.yaml"), *args, "--quiet"]) == 0
    (run,) = tmp_path.iterdir()
    task = config.load(run / "config.yaml").task
    assert task.id == "CartPole-v1" and task.observe == [0, 2]
    assert load_policy(run / "policies/center.safetensors").spec.obs_dim == 2  # positions only
