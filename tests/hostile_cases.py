"""The hostile and careless inputs of issue 12 as command lines, each with the outcome evolstm promises.

Every case builds its files with tools that do not depend on evolstm's version (YAML text, subprocess runs of the
CLI, safetensors edits), so `python -m tests.hostile_table TREE` can replay the list against any checkout and say
how each case ended there; `tests/test_hostile_cli.py` asserts the promised outcome for this checkout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from safetensors import safe_open
from safetensors.torch import save_file

#: a tiny run that both this version and earlier ones accept (no keys that have moved)
BASE: dict[str, Any] = {
    "name": "h",
    "seed": 0,
    "task": {"id": "evolstm/TMaze-v0", "kwargs": {"length": 2}},
    "policy": {"hidden": 4},
    "trainer": {"kind": "es", "algorithm": "snes", "popsize": 8, "generations": 2, "stdev_init": 0.5},
    "evaluation": {"final_episodes": 4},
}
REINFORCE = {**BASE, "trainer": {"kind": "reinforce", "episodes": 4, "iterations": 2}}


@dataclass(frozen=True)
class Case:
    """One input: what it is, how to build its command line in a folder, and the promised exit code and message."""

    name: str
    build: Callable[[Path], list[str]]
    code: int
    says: str  # a fragment of the one stderr line (or of stdout for exit 0)
    seconds: float = 60.0  # how long the case may take before it counts as a hang


def _yaml(folder: Path, data: Any, name: str = "e.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


def run_cli(folder: Path, data: Any, *extra: str) -> list[str]:
    """`python -m evolstm.run` on `data` (a mapping or YAML text) with runs under folder/runs."""
    return ["evolstm.run", str(_yaml(folder, data)), "--out", str(folder / "runs"), "--quiet", *extra]


def with_(data: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """`data` with sections merged in (a None value deletes the key)."""
    out = json.loads(json.dumps(data))
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def odd_env(folder: Path, **kwargs: Any) -> dict[str, Any]:
    """BASE on tests/bad_envs.py's env, copied next to the experiment (importable from the folder as cwd)."""
    (folder / "odd_env.py").write_text((Path(__file__).parent / "bad_envs.py").read_text())
    return with_(BASE, task={"id": "odd_env:BadEnv-v0", "kwargs": kwargs})


_TRAINED: dict[str, bytes] = {}


def trained_policy(folder: Path) -> Path:
    """A finished tiny run's best policy file, trained once per process by the checkout's own CLI."""
    if "best" not in _TRAINED:
        subprocess.run([sys.executable, "-m", *run_cli(folder, BASE)], cwd=folder, check=True, capture_output=True)
        (run,) = (folder / "runs").iterdir()
        _TRAINED["best"] = (run / "policies" / "best.safetensors").read_bytes()
    path = folder / "best.safetensors"
    path.write_bytes(_TRAINED["best"])
    return path


def edited_policy(folder: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Path:
    """A copy of a trained policy file with its JSON metadata (spec, info) and tensors changed by `edit`."""
    source = trained_policy(folder)
    with safe_open(source, framework="pt") as handle:
        meta = dict(handle.metadata())
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    parsed = {key: json.loads(meta[key]) for key in ("spec", "info")}
    edit(parsed, tensors)
    meta.update({key: json.dumps(value) for key, value in parsed.items()})
    target = folder / "received.safetensors"
    save_file(tensors, target, metadata=meta)
    return target


def _set(path: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def edit(parsed: dict[str, Any], tensors: dict[str, Any]) -> None:
        section, key = path.split(".")
        parsed[section][key] = value

    return edit


def _flip_byte(folder: Path) -> list[str]:
    source = trained_policy(folder)
    data = bytearray(source.read_bytes())
    data[-7] ^= 0x10  # inside the last tensor's data
    target = folder / "flipped.safetensors"
    target.write_bytes(bytes(data))
    return ["evolstm.replay", str(target), "--out", str(folder / "replays")]


def _replay(edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> Callable[[Path], list[str]]:
    return lambda folder: ["evolstm.replay", str(edited_policy(folder, edit)), "--out", str(folder / "replays")]


def _evil_bundle(folder: Path) -> list[str]:
    (folder / "evilmod.py").write_text(
        "import gymnasium, pathlib\npathlib.Path('PWNED').write_text('x')\n"
        "gymnasium.register('Evil-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n"
    )
    target = edited_policy(folder, _set("info.task", {"id": "evilmod:Evil-v0", "kwargs": {}}))
    return ["evolstm.replay", target.name, "--out", "replays"]


def _resume_damaged(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        import torch

        subprocess.run([sys.executable, "-m", *run_cli(folder, BASE)], cwd=folder, check=True, capture_output=True)
        (run,) = (folder / "runs").iterdir()
        state = torch.load(run / "checkpoint.pt", weights_only=True)
        edit(state)
        torch.save(state, run / "checkpoint.pt")
        return ["evolstm.run", "--resume", str(run), "--set", "trainer.generations=4", "--allow-change", "--quiet"]

    return build


def _import_error(kind: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        body = "raise RuntimeError('licence server down')" if kind == "runtime" else "def broken(:\n"
        (folder / "brokenmod.py").write_text(body)
        return run_cli(folder, with_(BASE, task={"id": "brokenmod:Env-v0"}))

    return build


def _empty_observations(folder: Path) -> list[str]:
    return run_cli(folder, odd_env(folder, obs=0))


SCIENTIFIC = (  # the README's own default written as YAML users write it
    "name: h\ntask: {id: evolstm/TMaze-v0, kwargs: {length: 2}}\npolicy: {hidden: 4}\n"
    "trainer: {kind: reinforce, episodes: 4, iterations: 2, learning_rate: 3e-3}\nevaluation: {final_episodes: 4}\n"
)
ALIAS_BOMB = (
    "name: h\ntask:\n  id: evolstm/TMaze-v0\n  kwargs:\n"
    "    a: &a [x, x, x, x, x, x, x, x, x, x]\n    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "trainer: {kind: es}\n"
)


def _cases() -> list[Case]:
    one_line = "error: "
    return [
        Case("set-scientific", lambda f: run_cli(f, REINFORCE, "--set", "trainer.learning_rate=1e-3"), 0, ""),
        Case("yaml-scientific", lambda f: run_cli(f, SCIENTIFIC), 0, ""),
        Case(
            "duplicate-key",
            lambda f: run_cli(f, "name: h\nname: g\ntask: {id: evolstm/TMaze-v0}\ntrainer: {kind: es}\n"),
            2,
            "duplicate",
        ),
        Case("alias-bomb", lambda f: run_cli(f, ALIAS_BOMB), 2, "aliases", 30),
        Case(
            "deep-nesting",
            lambda f: run_cli(
                f,
                "name: h\ntask: {id: evolstm/TMaze-v0, kwargs: {x: "
                + "[" * 500
                + "]" * 500
                + "}}\ntrainer: {kind: es}\n",
            ),
            2,
            "nested deeper",
        ),
        Case("dev-zero", lambda f: ["evolstm.run", "/dev/zero", "--out", str(f / "runs")], 2, "regular file", 30),
        Case("import-raises", _import_error("runtime"), 2, "RuntimeError"),
        Case("import-syntax-error", _import_error("syntax"), 2, "SyntaxError"),
        Case("observe-empty", lambda f: run_cli(f, with_(BASE, task={**BASE["task"], "observe": []})), 2, "observe"),
        Case("observations-empty", _empty_observations, 2, one_line),
        Case("options-popsize", lambda f: run_cli(f, BASE, "--set", "trainer.options={popsize: -5}"), 2, "popsize"),
        Case("options-stdev", lambda f: run_cli(f, BASE, "--set", "trainer.options={stdev_init: -1.0}"), 2, "stdev"),
        Case(
            "cem-small",
            lambda f: run_cli(f, BASE, "--set", "trainer.algorithm=cem", "--set", "trainer.popsize=4"),
            2,
            "popsize",
        ),
        Case("popsize-1e9", lambda f: run_cli(f, BASE, "--set", "trainer.popsize=1000000000"), 2, "popsize", 30),
        Case("hidden-1e6", lambda f: run_cli(f, BASE, "--set", "policy.hidden=1000000"), 2, "hidden", 30),
        Case("hidden-30000", lambda f: run_cli(f, BASE, "--set", "policy.hidden=30000"), 2, "hidden", 30),
        Case("layers-1e6", lambda f: run_cli(f, BASE, "--set", "policy.layers=1000000"), 2, "layers", 30),
        Case("threads-1e5", lambda f: run_cli(f, BASE, "--set", "threads=100000"), 2, "threads", 30),
        Case(
            "ray-junk-address",
            lambda f: run_cli(f, BASE, "--set", "evaluation.backend=ray", "--set", "ray.address=junk"),
            2,
            "ray.address",
        ),
        Case(
            "ray-dead-head",
            lambda f: run_cli(f, BASE, "--set", "evaluation.backend=ray", "--set", "ray.address=ray://127.0.0.1:1"),
            1,
            "cannot reach",
            40,
        ),
        Case(
            "ray-no-gpu",
            lambda f: run_cli(
                f,
                BASE,
                "--set",
                "evaluation.backend=ray",
                "--set",
                "ray.num_cpus=1",
                "--set",
                "evaluation.gpus_per_worker=1",
            ),
            2,
            "gpus_per_worker",
            60,
        ),
        *(
            Case(f"env-{fail}", lambda f, fail=fail: run_cli(f, odd_env(f, fail=fail)), 1, "error: env ")
            for fail in ("init", "reset", "reset_shape", "step_shape", "str_reward", "array_reward", "array_end")
        ),
        Case(
            "env-render-human",
            lambda f: run_cli(f, with_(BASE, task={"id": "CartPole-v1", "kwargs": {"render_mode": "human"}})),
            1,
            "error: env CartPole-v1",
        ),
        Case("discrete-start", lambda f: run_cli(f, odd_env(f, start=5)), 0, ""),
        Case("checkpoint-no-rows", _resume_damaged(lambda s: s.pop("metrics_rows")), 2, "metrics_rows"),
        Case("checkpoint-negative-rows", _resume_damaged(lambda s: s.update(metrics_rows=-3)), 2, "metrics_rows"),
        Case(
            "checkpoint-names-a-module",
            _resume_damaged(lambda s: s["trainer"]["searcher"]["searcher"].update({"__object__": "this:X"})),
            2,
            "not an EvoTorch class",
        ),
        Case(
            "checkpoint-config-names-a-module",
            _resume_damaged(lambda s: s["config"]["task"].update(id="this:evolstm/TMaze-v0")),
            2,
            "written by a different run",
        ),
        Case(
            "replay-module-id", _replay(_set("info.task", {"id": "this:evolstm/TMaze-v0", "kwargs": {}})), 2, "--task"
        ),
        Case("replay-evil-bundle", _evil_bundle, 2, "--task"),
        Case(
            "replay-gif-directory", lambda f: ["evolstm.replay", str(trained_policy(f)), "--gif", str(f)], 2, one_line
        ),
        Case("replay-hidden-string", _replay(_set("spec.hidden", "4")), 2, one_line),
        Case("replay-hidden-float", _replay(_set("spec.hidden", 4.0)), 2, one_line),
        Case("replay-discrete-string", _replay(_set("spec.discrete", "yes")), 2, one_line),
        Case("replay-seed-string", _replay(_set("info.seed", "zero")), 2, one_line),
        Case("replay-seed-negative", _replay(_set("info.seed", -1)), 2, one_line),
        Case("replay-hidden-30000", _replay(_set("spec.hidden", 30000)), 2, "hidden", 30),
        Case("replay-final-episodes-1e9", _replay(_set("info.final_episodes", 10**9)), 2, one_line, 30),
        Case(
            "replay-task-length-1e7",
            _replay(_set("info.task", {"id": "evolstm/TMaze-v0", "kwargs": {"length": 10**7}})),
            2,
            one_line,
            30,
        ),
        Case("replay-float64-params", _replay(lambda p, t: t.update(params=t["params"].double())), 2, one_line),
        Case("replay-flipped-byte", _flip_byte, 2, one_line),
    ]


CASES = _cases()
