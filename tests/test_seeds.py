"""--seeds and --ray: the seed spec, seeded experiments, pooled rows, failures that keep the runs written, and the
seeds as Ray tasks giving the same runs as one after another."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from evolstm import compare, config, run, seeds
from evolstm.runs import read_metrics
from evolstm.stopping import RunStopped
from evolstm.training import RunFailed, train
from tests.conftest import make_experiment

ROOT = Path(__file__).parent.parent
TMAZE = ROOT / "experiments/tmaze-es.yaml"
#: both commands that take --seeds and --ray
COMMANDS: dict[str, Callable[[list[str] | None], int]] = {"run": run.main, "compare": compare.main}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0-4", (0, 1, 2, 3, 4)),
        ("0,3,7", (0, 3, 7)),
        ("0-2,5", (0, 1, 2, 5)),
        ("9, 3-4", (9, 3, 4)),
        ("7", (7,)),
        ("4294967295", (2**32 - 1,)),
    ],
)
def test_seed_specs(spec: str, expected: tuple[int, ...]) -> None:
    assert seeds.parse_seeds(spec) == expected
    assert seeds.parse_seeds(seeds.format_seeds(expected)) == expected


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("", "expected seeds such as"),
        ("a", "expected seeds such as"),
        ("-1", "expected seeds such as"),
        ("1-", "expected seeds such as"),
        ("1,,2", "expected seeds such as"),
        ("1-2-3", "expected seeds such as"),
        ("\u0663", "expected seeds such as"),  # an Arabic-Indic digit: int() would read it
        ("4-0", "runs backwards (write 0-4)"),
        ("0-2,1", "seed 1 is given twice"),
        ("4294967296", "below 2**32"),
        ("0-1000", "more than 1000 seeds"),
    ],
)
def test_bad_seed_specs(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        seeds.parse_seeds(spec)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_spec_is_a_one_line_usage_error(command: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        COMMANDS[command]([str(TMAZE), "--seeds", "3-1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("error: argument --seeds: '3-1': the range 3-1 runs backwards")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_a_seed_is_the_experiment_with_seed_set_as_set_does() -> None:
    experiment = config.load(TMAZE, ("trainer.popsize=6",))
    for seed, seeded in zip((3, 0), seeds.seeded(experiment, (3, 0))):
        assert seeded == config.load(TMAZE, ("trainer.popsize=6", f"seed={seed}"))
    assert experiment.seed == 0 and seeds.seeded(experiment, (3,))[0].seed == 3  # the original is left as it was


def test_pooled_row_stats() -> None:
    rows = [
        {"seed": 0, "experiment": "x", "trainer": "reinforce", "policy": "lstm", "parameters": 9, "steps": 5,
         "env_steps": 100, "wall_time": 1.0, "peak_greedy_return": 1.0, "fresh_return_final": 2.0, "run_dir": "a"},
        {"seed": 4, "experiment": "x", "trainer": "reinforce", "policy": "lstm", "parameters": 9, "steps": 5,
         "env_steps": 300, "wall_time": 3.0, "peak_greedy_return": None, "fresh_return_final": 4.0, "run_dir": "b"},
        {"seed": 5, "experiment": "x", "trainer": "reinforce", "policy": "lstm", "parameters": 9, "steps": 5,
         "env_steps": 200, "wall_time": 2.0, "peak_greedy_return": 3.0, "fresh_return_final": 6.0, "run_dir": "c"},
    ]  # fmt: skip
    pooled = seeds.pool(rows)
    assert pooled["seeds"] == [0, 4, 5] and pooled["runs"] == rows and pooled["parameters"] == 9
    assert pooled["env_steps"] == {"mean": 200.0, "std": 100.0, "min": 100, "max": 300}
    assert pooled["fresh_return_final"] == {"mean": 4.0, "std": 2.0, "min": 2.0, "max": 6.0}
    assert pooled["peak_greedy_return"] == {"mean": 2.0, "std": 1.414, "min": 1.0, "max": 3.0}  # the None left out
    assert "steps" not in pooled and "run_dir" not in pooled
    assert seeds.pool(rows[:1])["wall_time"] == {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}
    cells = seeds.pooled_cells(pooled)
    assert cells["seeds"] == "0,4-5" and cells["fresh_return_final"] == "4 ± 2 [2, 6]" and "runs" not in cells


@pytest.mark.parametrize("command", COMMANDS)
def test_ray_is_refused_for_an_experiment_that_evaluates_on_ray(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [str(TMAZE), "--seeds", "0-1", "--ray", "--set", "evaluation.backend=ray", "--out", str(tmp_path)]
    assert COMMANDS[command](args) == 2
    err = capsys.readouterr().err
    assert "evaluation.backend: ray already spreads this experiment's episodes" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("stop", "code"),
    [
        (lambda path: RunFailed(path, RuntimeError("sensor unplugged")), 1),
        (lambda path: RunStopped(signal.SIGTERM), 143),
    ],
    ids=["failed", "stopped"],
)
def test_a_failing_seed_keeps_the_runs_written(
    stop: Callable[[Path], Exception], code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 1 of 0-2 trains, then fails (or is stopped): seeds 0 and 1 keep their runs, seed 2 never starts."""

    def failing_train(experiment: config.Experiment, out_root: Path, **kwargs: object) -> object:
        written = train(experiment, out_root, **kwargs)
        if experiment.seed == 1:
            raise stop(written.path)
        return written

    monkeypatch.setattr(seeds, "train", failing_train)
    args = ["--seeds", "0-2", "--quiet", "--out", str(tmp_path), "--set", "trainer.generations=1"]
    assert run.main([str(TMAZE), *args, "--set", "trainer.popsize=4", "--set", "evaluation.final_episodes=1"]) == code
    (folder,) = tmp_path.iterdir()
    runs = sorted((folder / "runs").iterdir())
    assert [json.loads((r / "summary.json").read_text())["error"] for r in runs] == [None, None]
    assert not list(folder.glob("seeds.*"))


def test_a_mistake_found_before_any_run_leaves_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "keep.txt").write_text("earlier results")
    assert run.main([str(TMAZE), "--seeds", "0-1", "--out", str(tmp_path), "--set", "task.kwargs.length=0"]) == 2
    assert capsys.readouterr().err.startswith("error: task: cannot make 'evolstm/TMaze-v0'")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def _metrics(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("wall_time", "step_time")} for row in read_metrics(run_dir)]


@pytest.mark.ray
@pytest.mark.slow
def test_seeds_on_ray_are_the_runs_of_one_after_another(
    ray_cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    tiny = ["trainer.generations=2", "trainer.popsize=4", "policy.hidden=4", "evaluation.final_episodes=2"]
    args = [str(TMAZE), "--seeds", "0,5", "--ray", "--out", str(tmp_path / "ray")]
    assert run.main([*args, *(f"--set={s}" for s in tiny)]) == 0
    assert "seeds written to" in capsys.readouterr().out
    (folder,) = (tmp_path / "ray").iterdir()
    on_ray = json.loads((folder / "seeds.json").read_text())
    here = compare.run_seeds(config.load(TMAZE, tuple(tiny)), (0, 5), tmp_path / "here", quiet=True).data
    assert on_ray["seeds"] == here["seeds"] == [0, 5]
    for remote, local in zip(on_ray["runs"], here["runs"]):
        assert _metrics(Path(remote["run_dir"])) == _metrics(Path(local["run_dir"]))
        assert remote["fresh_return_center"] == local["fresh_return_center"]
    assert _metrics(Path(on_ray["runs"][0]["run_dir"])) != _metrics(Path(on_ray["runs"][1]["run_dir"]))


@pytest.mark.ray
@pytest.mark.slow
def test_a_run_failing_on_ray_is_reported_and_kept(ray_cluster: Path, tmp_path: Path) -> None:
    """RunFailed does not pickle: the task hands it back as data, and it is raised again here, naming the run."""
    (ray_cluster / "seeds_bad_envs.py").write_text((ROOT / "tests/bad_envs.py").read_text())
    experiment = make_experiment(task={"id": "seeds_bad_envs:BadEnv-v0", "kwargs": {"fail": "step"}})
    with pytest.raises(RunFailed, match="sensor unplugged") as caught:
        seeds.train_runs(seeds.seeded(experiment, (0, 1)), tmp_path, on_ray=True, quiet=True)
    assert caught.value.path.parent == tmp_path.resolve()
    assert len(list(tmp_path.iterdir())) == 2  # the other seed's run ran to its own end
