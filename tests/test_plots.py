"""evolstm.plots: reading and grouping run directories, pooling seeds, and writing the learning-curve PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import yaml

from evolstm.plots import RunReadError, aggregate, group_runs, plot_learning_curves


def make_run(folder: Path, config: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    """A fabricated run directory with config.yaml and metrics.jsonl."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def rows(centers: list[float | None], steps_per_generation: int = 100) -> list[dict[str, Any]]:
    """Metric rows, one per generation, with the given greedy returns (None: not evaluated)."""
    return [
        {
            "generation": g,
            "env_steps": (g + 1) * steps_per_generation,
            "wall_time": 0.5 * (g + 1),
            "best": 1.0,
            "mean": 0.0,
            "center": c,
        }
        for g, c in enumerate(centers)
    ]


def config(name: str = "a", seed: int = 0, popsize: int = 8) -> dict[str, Any]:
    return {"name": name, "seed": seed, "trainer": {"popsize": popsize, "sigma": 0.1}}


def test_runs_differing_only_in_seed_are_one_group(tmp_path: Path) -> None:
    dirs = [make_run(tmp_path / f"r{s}", config(seed=s), rows([float(s)])) for s in range(3)]
    groups = group_runs(dirs)
    assert list(groups) == ["a"]
    assert [runs[0]["center"] for runs in groups["a"]] == [0.0, 1.0, 2.0]


def test_distinct_names_are_separate_groups_in_first_seen_order(tmp_path: Path) -> None:
    dirs = [make_run(tmp_path / name, config(name=name), rows([1.0])) for name in ("b", "a")]
    dirs.append(make_run(tmp_path / "b2", config(name="b", seed=1), rows([2.0])))
    groups = group_runs(dirs)
    assert list(groups) == ["b", "a"]
    assert [len(runs) for runs in groups.values()] == [2, 1]


def test_same_name_different_field_is_labelled_with_that_field(tmp_path: Path) -> None:
    dirs = [make_run(tmp_path / f"r{p}", config(popsize=p), rows([1.0])) for p in (8, 32)]
    assert list(group_runs(dirs)) == ["a (trainer.popsize=8)", "a (trainer.popsize=32)"]


def test_missing_run_dir_is_a_run_read_error(tmp_path: Path) -> None:
    with pytest.raises(RunReadError, match="absent: no such run directory"):
        group_runs([tmp_path / "absent"])


def test_corrupt_metrics_is_a_run_read_error_naming_the_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "broken", config(), rows([1.0]))
    (run / "metrics.jsonl").write_text('{"generation": 0, "cent\n')  # a complete line that is not JSON
    with pytest.raises(RunReadError, match="broken: cannot read run") as caught:
        group_runs([run])
    assert "\n" not in str(caught.value)


def test_missing_config_is_a_run_read_error(tmp_path: Path) -> None:
    run = make_run(tmp_path / "noconfig", config(), rows([1.0]))
    (run / "config.yaml").unlink()
    with pytest.raises(RunReadError, match="noconfig: cannot read run"):
        group_runs([run])


def test_aggregate_interpolates_and_carries_the_last_value_forward() -> None:
    long = (np.array([0.0, 10.0]), np.array([0.0, 10.0]))
    short = (np.array([2.0, 4.0]), np.array([4.0, 8.0]))  # starts late, stops early at its goal
    mean, low, high = aggregate([long, short], np.array([0.0, 3.0, 5.0, 10.0]))
    np.testing.assert_allclose(low, [0.0, 3.0, 5.0, 8.0])
    np.testing.assert_allclose(high, [4.0, 6.0, 8.0, 10.0])
    np.testing.assert_allclose(mean, [2.0, 4.5, 6.5, 9.0])


def test_learning_curves_png_is_written(tmp_path: Path) -> None:
    three_seeds = [rows([0.1 * s + g for g in range(5)] + [None]) for s in range(3)]
    early_stop = rows([1.0, None, 3.0], steps_per_generation=300)
    path = tmp_path / "curves.png"
    plot_learning_curves({"es": three_seeds, "reinforce": [early_stop]}, path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert matplotlib.image.imread(path).shape[:2] == (450, 1600)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temp file left behind


def test_a_metric_no_run_has_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "curves.png"
    with pytest.raises(ValueError, match="no run has a value for metric 'greedy'"):
        plot_learning_curves({"a": [rows([None, None])]}, path)
    assert not path.exists()


def test_the_command_pools_seeds_and_reads_both_trainers_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """python -m evolstm.plots: ES rows (generation, center) and REINFORCE rows (iteration, greedy) in one figure."""
    from evolstm.plots import main
    from evolstm.training import train
    from tests.conftest import make_experiment

    reinforce = {"trainer": {"kind": "reinforce", "episodes": 4, "iterations": 2}}
    made = [make_experiment(seed=seed) for seed in (0, 1)] + [make_experiment(name="pg", **reinforce)]
    runs = [train(experiment, tmp_path / "runs", quiet=True).path for experiment in made]
    figure = tmp_path / "curves.png"
    assert main([*map(str, runs), "--out", str(figure)]) == 0
    assert matplotlib.image.imread(figure).shape[:2] == (450, 1600)
    assert main([str(tmp_path / "absent"), "--out", str(figure)]) == 2
    assert "no such run directory" in capsys.readouterr().err
