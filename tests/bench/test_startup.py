"""`bench startup` times a real run up to its first printed step, milestone by milestone."""

from __future__ import annotations

import json
from pathlib import Path

from evolstm import config
from evolstm.bench.startup import format_table, startup_rows
from tests.conftest import make_experiment


def test_the_milestones_of_a_run_come_in_order(tmp_path: Path) -> None:
    experiment = tmp_path / "e.yaml"
    experiment.write_text(json.dumps(config.to_dict(make_experiment(trainer={"generations": 50}))))
    imported, run = startup_rows([experiment], repeats=1, threads=1)
    assert imported["what"] == "import evolstm.training" and imported["done"]["median"] > 0
    assert run["backend"] == "local" and "ray_ready" not in run
    assert 0 < run["run_dir"]["median"] <= run["first_step"]["median"] < 60
    assert not list(tmp_path.glob("*/"))  # the run went to a temporary folder
    assert str(experiment) in format_table([imported, run])
