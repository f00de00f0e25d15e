"""python -m evolstm.compare: runs every experiment and writes one table (md, json) and one figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evolstm.compare import main

ROOT = Path(__file__).parent.parent


def test_es_against_reinforce_writes_table_and_figure(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    experiments = [str(ROOT / "experiments" / name) for name in ("tmaze-es.yaml", "tmaze-reinforce.yaml")]
    overrides = ["--set", "trainer.max_env_steps=3000", "--set", "evaluation.final_episodes=4"]
    assert main([*experiments, "--out", str(tmp_path), *overrides]) == 0
    (folder,) = tmp_path.iterdir()
    rows = json.loads((folder / "comparison.json").read_text())
    assert [r["trainer"] for r in rows] == ["es:snes", "reinforce"]
    assert all(r["env_steps"] >= 3000 and r["peak_greedy_return"] is not None for r in rows)
    table = (folder / "comparison.md").read_text()
    assert table.count("\n") == 4 and "tmaze-reinforce" in table
    assert (folder / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert len(list((folder / "runs").iterdir())) == 2
    assert "comparison written to" in capsys.readouterr().out


def test_a_bad_experiment_stops_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(ROOT / "experiments/tmaze-es.yaml"), str(tmp_path / "absent.yaml"), "--out", str(tmp_path)]) == 2
    assert "cannot read experiment file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


ES, REINFORCE = (ROOT / "experiments" / name for name in ("tmaze-es.yaml", "tmaze-reinforce.yaml"))
#: a tiny budget for both trainers, each in its own words (ES: generations, REINFORCE: iterations)
ES_TINY = ["--set-for", "tmaze-es", "trainer.generations=2", "--set-for", "tmaze-es", "trainer.popsize=6"]
PER_SIDE = [*ES_TINY, "--set-for", "tmaze-reinforce", "trainer.iterations=3"]
COMMON = [
    "--set",
    "evaluation.final_episodes=2",
    "--set",
    "evaluation.greedy_episodes=4",
    "--set",
    "trainer.episodes=4",
]


def test_a_config_error_names_its_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(ES), str(REINFORCE), "--out", str(tmp_path), "--set", "trainer.generations=5"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {REINFORCE}: trainer.generations: unknown key\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["path", "file name", "stem"])
def test_set_for_overrides_one_experiment_after_the_common_set(name: str, tmp_path: Path) -> None:
    target = {"path": str(REINFORCE), "file name": REINFORCE.name, "stem": REINFORCE.stem}[name]
    per_side = [*ES_TINY, "--set-for", target, "trainer.iterations=3"]
    own = ["--set-for", target, "evaluation.final_episodes=3"]  # after the common final_episodes=2
    assert main([str(ES), str(REINFORCE), "--out", str(tmp_path), *COMMON, *per_side, *own]) == 0
    (folder,) = tmp_path.iterdir()
    rows = json.loads((folder / "comparison.json").read_text())
    assert [r["steps"] for r in rows] == [2, 3]
    finals = [yaml.safe_load((Path(r["run_dir"]) / "config.yaml").read_text())["evaluation"] for r in rows]
    assert [f["final_episodes"] for f in finals] == [2, 3] and [f["greedy_episodes"] for f in finals] == [4, 4]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tmaze", "error: --set-for tmaze: matches none of the experiments"),
        ("tmaze-es", "error: --set-for tmaze-es: matches several experiments; give the path"),
    ],
)
def test_set_for_must_name_one_experiment(
    target: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    twin = tmp_path / "other" / ES.name
    twin.parent.mkdir()
    twin.write_text(ES.read_text())
    args = [str(ES), str(twin), str(REINFORCE), "--out", str(tmp_path / "out")]
    assert main([*args, "--set-for", target, "seed=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_seeds_pool_each_experiment_into_one_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(ES), str(REINFORCE), "--out", str(tmp_path), "--seeds", "0-1", *COMMON, *PER_SIDE]) == 0
    (folder,) = tmp_path.iterdir()
    rows = json.loads((folder / "comparison.json").read_text())
    assert [(r["experiment"], r["seeds"]) for r in rows] == [("tmaze-es", [0, 1]), ("tmaze-reinforce", [0, 1])]
    for row in rows:
        steps = [run["env_steps"] for run in row["runs"]]
        assert row["env_steps"]["min"] == min(steps) and row["env_steps"]["max"] == max(steps)
        assert [yaml.safe_load((Path(run["run_dir"]) / "config.yaml").read_text())["seed"] for run in row["runs"]] == [
            0,
            1,
        ]
    table = (folder / "comparison.md").read_text()
    assert table.count("\n") == 4 and table.count(" ± ") >= 8 and "| 0-1 |" in table
    assert len(list((folder / "runs").iterdir())) == 4
    assert (folder / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert "comparison written to" in capsys.readouterr().out
