"""python -m evolstm.run end to end: the run directory, exit codes, one-line errors, nothing overwritten."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from evolstm import checkpoints, config
from evolstm.policy_files import load_policy
from evolstm.run import main
from evolstm.runs import read_metrics
from evolstm.training import train
from tests.conftest import make_experiment

ROOT = Path(__file__).parent.parent
TINY = [
    "--set",
    "trainer.generations=3",
    "--set",
    "trainer.popsize=6",
    "--set",
    "trainer.episodes=1",
    "--set",
    "evaluation.final_episodes=3",
    "--set",
    "policy.hidden=4",
]


def _only_run(out: Path) -> Path:
    (run,) = out.iterdir()
    return run


def test_quickstart_writes_a_complete_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(ROOT / "experiments/quickstart.yaml"), "--out", str(tmp_path), *TINY]) == 0
    shown = capsys.readouterr().out
    assert "parameters" in shown and "gen     3/3" in shown
    run = _only_run(tmp_path)
    resolved = config.from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    assert resolved.trainer.generations == 3 and resolved.policy.hidden == 4
    rows = read_metrics(run)
    assert [r["generation"] for r in rows] == [0, 1, 2]
    assert {"best", "mean", "median", "center", "env_steps", "wall_time"} <= set(rows[0])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generations"] == 3 and summary["env_steps"] == rows[-1]["env_steps"]
    assert set(summary["final_evaluation"]) == {"best", "center"}
    for name in ("best", "center"):
        policy = load_policy(run / "policies" / f"{name}.safetensors")
        assert policy.spec.hidden == 4 and policy.info["policy"] == name
        assert policy.policy().num_params == summary["parameters"]


def test_reinforce_writes_the_same_kind_of_run_directory(tmp_path: Path) -> None:
    args = ["--set", "trainer.iterations=3", "--set", "trainer.episodes=4", "--set", "evaluation.greedy_every=1"]
    assert main([str(ROOT / "experiments/tmaze-reinforce.yaml"), "--out", str(tmp_path), "--quiet", *args]) == 0
    run = _only_run(tmp_path)
    rows = read_metrics(run)
    assert [r["iteration"] for r in rows] == [0, 1, 2]  # in REINFORCE's own words: iterations, greedy return
    assert {"mean", "greedy", "entropy", "value_loss", "grad_norm", "lr", "env_steps", "wall_time"} <= set(rows[0])
    assert not {"generation", "center"} & set(rows[0])
    summary = json.loads((run / "summary.json").read_text())
    assert (
        summary["iterations"] == 3
        and summary["trainer"] == "reinforce"
        and set(summary["final_evaluation"]) == {"best", "final"}
    )
    final = load_policy(run / "policies/final.safetensors")
    assert final.policy().num_params == summary["parameters"]


def test_same_experiment_same_metrics(tmp_path: Path) -> None:
    for out in ("a", "b"):
        assert main([str(ROOT / "experiments/tmaze-es.yaml"), "--out", str(tmp_path / out), "--quiet", *TINY]) == 0
    rows = [read_metrics(_only_run(tmp_path / out)) for out in ("a", "b")]
    drop = ("wall_time", "step_time")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows[0]] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows[1]
    ]
    policies = [load_policy(_only_run(tmp_path / out) / "policies/center.safetensors") for out in ("a", "b")]
    assert policies[0].params.equal(policies[1].params)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "trainer.popsize=-1"], "error: trainer.popsize: Input should be greater than 1"),
        (["--set", "trainer.algorithm=foo"], "error: trainer.algorithm: Input should be 'pgpe'"),
        (["--set", "task.id=evolstm/Nope-v0"], "error: task.id: unknown Gymnasium id"),
        (["--set", "task.kwargs.length=0"], "error: task: cannot make 'evolstm/TMaze-v0'"),
        (["--set", "trainer.options.nope=1"], "error: trainer.options.nope: not an option of EvoTorch's SNES"),
        (["--set", "policy.hidden=abc"], "error: policy.hidden: Input should be a valid integer"),
        (["--set", "trainer.kind=reinforce"], "error: trainer.algorithm: unknown key"),
        (["--set", "trainer.kind=sgd"], "error: trainer.kind: must be one of es, reinforce"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    (tmp_path / "keep.txt").write_text("earlier results")
    assert main([str(ROOT / "experiments/tmaze-es.yaml"), "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "earlier results"


def test_cli_process_missing_file_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evolstm.run", str(tmp_path / "absent.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "absent.yaml: cannot read experiment file" in done.stderr


def test_runs_never_overwrite_each_other(tmp_path: Path) -> None:
    for _ in range(2):
        assert main([str(ROOT / "experiments/quickstart.yaml"), "--out", str(tmp_path), "--quiet", *TINY]) == 0
    assert len(list(tmp_path.iterdir())) == 2


def test_the_summarys_wall_time_includes_every_checkpoint_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exit checkpoint counts in the run's wall time as in its checkpoint seconds, so writing is never more than
    all of the run (CI once saw 170% on a tiny run whose exit write was slow)."""
    real_save = checkpoints.save_checkpoint

    def slow_save(path: Path, state: dict) -> None:
        time.sleep(0.2)
        real_save(path, state)

    monkeypatch.setattr(checkpoints, "save_checkpoint", slow_save)
    run = train(make_experiment(evaluation={"final_episodes": 0}), tmp_path, quiet=True)
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["checkpoint"]["writes"] == 2
    assert summary["checkpoint"]["seconds"] <= summary["wall_time"]


def test_seeds_write_one_folder_with_the_runs_and_a_pooled_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(ROOT / "experiments/tmaze-es.yaml"), "--out", str(tmp_path), "--seeds", "0-1,4", *TINY]) == 0
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("tmaze-es-seeds-")
    runs = sorted((folder / "runs").iterdir())
    assert sorted(yaml.safe_load((r / "config.yaml").read_text())["seed"] for r in runs) == [0, 1, 4]
    pooled = json.loads((folder / "seeds.json").read_text())
    assert pooled["seeds"] == [0, 1, 4] and [r["seed"] for r in pooled["runs"]] == [0, 1, 4]
    finals = [r["fresh_return_center"] for r in pooled["runs"]]
    assert pooled["fresh_return_center"]["min"] == min(finals) and pooled["fresh_return_center"]["max"] == max(finals)
    assert pooled["env_steps"]["mean"] == round(sum(r["env_steps"] for r in pooled["runs"]) / 3, 3)
    table = (folder / "seeds.md").read_text()
    assert table.count("\n") == 6 and table.splitlines()[-1].startswith("| 0-1,4 | tmaze-es |") and " ± " in table
    assert (folder / "seeds.png").read_bytes().startswith(b"\x89PNG")
    shown = capsys.readouterr().out
    assert table in shown and f"seeds written to {folder}" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiments/tmaze-es.yaml", "--seeds", "0-1", "--resume", "somewhere"], "error: --seeds starts new runs"),
        (["experiments/tmaze-es.yaml", "--ray"], "error: --ray trains the seeds of --seeds as Ray tasks"),
    ],
)
def test_seeds_and_ray_misused_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith(message) and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []
