"""The experiment schema: every ready experiment loads; every kind of mistake is one clear ConfigError."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from evolstm import config
from evolstm.config import ConfigError
from evolstm.environment import make_env

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_ready_experiments_load(path: Path) -> None:
    experiment = config.load(path)
    assert experiment.name


def test_defaults_are_filled_in_and_resolved(tiny: config.Experiment) -> None:
    resolved = config.to_dict(tiny)
    assert resolved["policy"]["layers"] == 1
    assert resolved["trainer"]["common_random_numbers"] is False and resolved["evaluation"]["greedy_episodes"] == 2
    assert config.from_dict(resolved) == tiny


def test_set_overrides_parse_values_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("name: x\ntask: {id: evolstm/TMaze-v0}\ntrainer: {kind: es}\n")
    experiment = config.load(path, ("trainer.popsize=12", "task.kwargs.length=5", "policy.kind=gru"))
    assert experiment.trainer.popsize == 12
    assert experiment.task.kwargs == {"length": 5}
    assert experiment.policy.kind == "gru"


BAD = [
    ({"trainer": {"kind": "es", "popsize": -3}}, "trainer.popsize: Input should be greater than 1"),
    ({"trainer": {"kind": "es", "popsize": "many"}}, "trainer.popsize: Input should be a valid integer"),
    ({"trainer": {"kind": "es", "algorithm": "nes9"}}, "trainer.algorithm: Input should be 'pgpe', 'cmaes'"),
    ({"trainer": {"kind": "es", "generations": None}}, "trainer: set generations or max_env_steps"),
    ({"trainer": {"kind": "es", "popsize_typo": 3}}, "trainer.popsize_typo: unknown key"),
    (
        {"policy": {"kind": "transformer"}},
        "policy.kind: Input should be 'lstm', 'gru', 'peephole', 'feedforward' or 'rnn'",
    ),
    ({"task": {"id": "evolstm/Nope-v0"}}, "task.id: unknown Gymnasium id 'evolstm/Nope-v0'"),
    ({"task": {"id": "no_such_module:Env-v0"}}, "task.id: cannot import module 'no_such_module'"),
    (
        {"task": {"id": "CartPole-v1", "wrappers": [{"path": "Wrapper"}]}},
        "task.wrappers.0.path: 'Wrapper' is not an import path like 'package.module.Name'",
    ),
    (
        {"task": {"id": "CartPole-v1", "wrappers": [{"path": "math:pi"}]}},
        "task.wrappers.0.path: 'math:pi' is not a wrapper (not callable)",
    ),
    ({"task": {"id": "CartPole-v1", "wrappers": [{"pth": "x.Y"}]}}, "task.wrappers.0.path: required key is missing"),
    ({"evaluation": {"backend": "cloud"}}, "evaluation.backend: Input should be 'local'"),
    ({"trainer": {"kind": "es", "episodes": 0}}, "trainer.episodes: Input should be greater than 0"),
    ({"task": {"id": "evolstm/TMaze-v0", "observe": []}}, "task.observe: List should have at least 1 item"),
    ({"task": {"id": ".relative:Env-v0"}}, "task.id: cannot import module '.relative' named in the task id (TypeError"),
    (
        {"evaluation": {"episodes": 4}},
        "evaluation.episodes: this key has moved: ES episodes per member are trainer.episodes",
    ),
    (
        {"evaluation": {"common_random_numbers": True}},
        "evaluation.common_random_numbers: this key has moved: it is trainer.common_random_numbers",
    ),
    ({"evaluation": {"center_every": 2}}, "evaluation.center_every: this key has moved: it is evaluation.greedy_every"),
    (
        {"evaluation": {"center_episodes": 2}},
        "evaluation.center_episodes: this key has moved: it is evaluation.greedy_episodes",
    ),
    ({"seed": 1.5}, "seed: Input should be a valid integer"),
    ({"colour": "red"}, "colour: unknown key"),
    ({"seed": 2**32}, "seed: Input should be less than 4294967296"),
    ({"trainer": {"kind": "es", "stdev_init": float("inf")}}, "trainer.stdev_init: Input should be a finite number"),
    ({"trainer": {"kind": "es", "stop_at": float("nan")}}, "trainer.stop_at: Input should be a finite number"),
    (
        {"trainer": {"kind": "es", "options": {"center_learning_rate": float("nan")}}},
        "trainer.options: option center_learning_rate must be a finite number",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_mistakes_name_the_key_path(change: dict, message: str) -> None:
    data = {"name": "x", "task": {"id": "evolstm/TMaze-v0"}, "trainer": {"kind": "es"}}
    data.update(change)
    with pytest.raises(ConfigError) as err:
        config.from_dict(data)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_missing_key_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^task: required key is missing"):
        config.from_dict({"name": "x", "trainer": {"kind": "es"}})
    with pytest.raises(ConfigError, match="cannot read experiment file"):
        config.load(tmp_path / "absent.yaml")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not a text \\(UTF-8\\) file"):
        config.load(tmp_path / "latin1.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        config.load(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="expected key.path=value"):
        config.from_dict({"name": "x"}, ("trainer.popsize",))


BASE = "name: x\ntask: {id: evolstm/TMaze-v0}\n"


def _load_text(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> config.Experiment:
    path = tmp_path / "e.yaml"
    path.write_text(text)
    return config.load(path, overrides)


SCIENTIFIC = [("3e-3", 3e-3), ("1e-3", 1e-3), ("1E5", 1e5), ("-2e+4", -2e4), (".5e1", 5.0), ("1.e2", 100.0)]


@pytest.mark.parametrize(("text", "value"), SCIENTIFIC, ids=[t for t, _ in SCIENTIFIC])
def test_scientific_notation_is_a_number(tmp_path: Path, text: str, value: float) -> None:
    experiment = _load_text(tmp_path, f"{BASE}trainer: {{kind: es, stop_at: {text}}}\n")
    assert experiment.trainer.stop_at == value
    experiment = _load_text(tmp_path, f"{BASE}trainer: {{kind: es}}\n", (f"trainer.stop_at={text}",))
    assert experiment.trainer.stop_at == value


@pytest.mark.parametrize("where", ["file", "set"])
def test_learning_rates_in_scientific_notation(tmp_path: Path, where: str) -> None:
    if where == "file":
        experiment = _load_text(tmp_path, f"{BASE}trainer: {{kind: reinforce, learning_rate: 3e-3}}\n")
    else:
        experiment = _load_text(tmp_path, f"{BASE}trainer: {{kind: reinforce}}\n", ("trainer.learning_rate=1e-3",))
    assert experiment.trainer.learning_rate == (3e-3 if where == "file" else 1e-3)


def test_other_scalars_keep_their_types(tmp_path: Path) -> None:
    kwargs = "{a: 1e3x, b: 12, c: .inf, d: e5, e: 1e, f: 0x1e3, g: 2001-01-01, h: '1e3', i: 1.5}"
    experiment = _load_text(tmp_path, f"{BASE}trainer: {{kind: es}}\n", (f"task.kwargs={kwargs}",))
    got = experiment.task.kwargs
    assert {k: got[k] for k in "abcdef"} == {"a": "1e3x", "b": 12, "c": float("inf"), "d": "e5", "e": "1e", "f": 0x1E3}
    assert (got["g"], got["h"], got["i"]) == ("2001-01-01", "1e3", 1.5)
    assert [type(got[k]) for k in "bfi"] == [int, int, float]


DUPLICATES = [
    ("name: y\n" + BASE + "trainer: {kind: es}\n", "line 2: duplicate key 'name' (first on line 1)"),
    (BASE + "trainer: {kind: es, popsize: 8, popsize: 16}\n", "line 3: duplicate key 'popsize' (first on line 3)"),
    (
        BASE + "trainer:\n  kind: es\n  episodes: 2\n  kind: reinforce\n",
        "line 6: duplicate key 'kind' (first on line 4)",
    ),
]


@pytest.mark.parametrize(("text", "message"), DUPLICATES, ids=["top", "flow", "nested"])
def test_duplicate_keys_are_an_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load_text(tmp_path, text)
    assert str(err.value) == f"{tmp_path / 'e.yaml'}: {message}"


LAUGHS = "".join(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))  # 9**9 leaves
ANCHORS = "line 6: YAML anchors and aliases (&name, *name) are not supported in experiments"
BOMBS = {
    "alias-bomb": (
        f"name: x\ntrainer: {{kind: es}}\ntask:\n  id: evolstm/TMaze-v0\n  kwargs:\n    l0: &l0 [x]\n{LAUGHS}",
        ANCHORS,
    ),
    "anchor": (f"{BASE}trainer: {{kind: es}}\nseed: &s 1\npolicy: {{}}\nx: &x 1\n", "line 4: YAML anchors"),
    "deep-list": (f"{BASE}trainer: {{kind: es}}\nx: {'[' * 500}{']' * 500}\n", "line 4: nested deeper than 32 levels"),
    "deep-map": (f"{BASE}trainer: {{kind: es}}\nx: {'{a: ' * 500}1{'}' * 500}\n", "line 4: nested deeper than 32"),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_no_bombs_from_a_file(tmp_path: Path, case: str) -> None:
    text, message = BOMBS[case]
    with pytest.raises(ConfigError) as err:
        _load_text(tmp_path, text)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("case", ["dev-zero", "fifo", "too-large"])
def test_only_small_regular_files_are_read(tmp_path: Path, case: str) -> None:
    path, message = Path("/dev/zero"), "not a regular file"
    if case == "fifo":
        path = tmp_path / "fifo.yaml"
        os.mkfifo(path)
    elif case == "too-large":
        path, message = tmp_path / "big.yaml", "larger than 1 MiB, the limit for experiment files"
        path.write_text(BASE + "trainer: {kind: es}\n" + "#" * (1 << 20))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [("[&a 1, *a]", "anchors and aliases"), ("{a: 1, a: 2}", "duplicate"), ("[" * 40 + "]" * 40, "nested deeper")],
)
def test_set_values_follow_the_same_rules(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^--set task.kwargs: .*{message}"):
        config.from_dict(
            {"name": "x", "task": {"id": "evolstm/TMaze-v0"}, "trainer": {"kind": "es"}}, (f"task.kwargs={value}",)
        )


def test_set_paths_nest_no_deeper_than_files() -> None:
    deep = "task.kwargs" + ".a" * 400 + "=1"
    with pytest.raises(ConfigError, match=r"^task\.kwargs\.a\.\.\.: nested deeper than 32 levels"):
        config.from_dict({"name": "x", "task": {"id": "evolstm/TMaze-v0"}, "trainer": {"kind": "es"}}, (deep,))


BROKEN_MODULES = {
    "runtime": ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
    "syntax": ("def broken(:\n", "SyntaxError: "),
    "exit": ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
}


@pytest.mark.parametrize("case", list(BROKEN_MODULES))
def test_task_modules_that_fail_on_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    source, cause = BROKEN_MODULES[case]
    (tmp_path / f"broken_{case}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {"name": "x", "task": {"id": f"broken_{case}:Env-v0"}, "trainer": {"kind": "es"}}
    with pytest.raises(ConfigError) as err:
        config.from_dict(data)
    message = f"task.id: cannot import module 'broken_{case}' named in the task id ({cause}"
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_popgym_ids_work_as_written_and_name_their_package() -> None:
    experiment = config.from_dict(_es() | {"task": {"id": "popgym-RepeatPreviousEasy-v0"}})
    assert experiment.task.id == "popgym:popgym-RepeatPreviousEasy-v0"  # any process's gymnasium.make imports popgym
    env = make_env(experiment.task)
    assert env.action_space.n == 4 and env.reset(seed=0)[0].shape == env.observation_space.shape


def test_a_popgym_id_without_popgym_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "popgym" else find_spec(name, *a))
    with pytest.raises(ConfigError) as err:
        config.from_dict(_es() | {"task": {"id": "popgym-RepeatPreviousEasy-v0"}})
    assert str(err.value) == (
        "task.id: 'popgym-RepeatPreviousEasy-v0' needs the popgym package: pip install 'evolstm[popgym]'"
    )


def _es(**fields: object) -> dict:
    return {"name": "x", "task": {"id": "evolstm/TMaze-v0"}, "trainer": {"kind": "es", **fields}}


OPTIONS = [
    ({"options": {"stdev_init": -1.0}}, "trainer.options: option stdev_init must be a positive finite number"),
    ({"options": {"popsize": -5}}, "trainer.options: option popsize must be an integer from 2 to 1000000"),
    ({"options": {"popsize": 2.5}}, "trainer.options: option popsize must be an integer from 2 to 1000000"),
    ({"options": {"center_learning_rate": 0}}, "trainer.options: option center_learning_rate must be a positive"),
    ({"options": {"mutation_stdev": -0.1}}, "trainer.options: option mutation_stdev must be a positive"),
    ({"options": {"stdev_max_change": "x"}}, "trainer.options: option stdev_max_change must be a positive"),
    ({"options": {"parenthood_ratio": 1.5}}, "trainer.options: option parenthood_ratio must be a number in (0, 1]"),
    ({"options": {"parenthood_ratio": 0.0}}, "trainer.options: option parenthood_ratio must be a number in (0, 1]"),
    ({"options": {"tournament_size": 0}}, "trainer.options: option tournament_size must be an integer from 1 to 64"),
    ({"popsize": 8, "options": {"tournament_size": 9}}, "trainer.options: option tournament_size must be an integer"),
    ({"options": {"symmetric": "yes"}}, "trainer.options: option symmetric must be true or false"),
    (
        {"algorithm": "cem", "popsize": 7},
        "trainer: cem needs at least 2 parents (popsize × parenthood_ratio): popsize 7 × 0.25 leaves 1; use popsize >= 8",
    ),
    ({"algorithm": "cem", "options": {"popsize": 4}}, "trainer: cem needs at least 2 parents"),
    (
        {"algorithm": "cem", "popsize": 16, "options": {"parenthood_ratio": 0.1}},
        "popsize 16 × 0.1 leaves 1; use popsize >= 20",
    ),
    ({"algorithm": "cosyne", "popsize": 3}, "trainer: cosyne takes popsize // 4 members as parents"),
]


@pytest.mark.parametrize(("fields", "message"), OPTIONS, ids=[str(f) for f, _ in OPTIONS])
def test_searcher_options_that_cannot_be_right(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.from_dict(_es(**fields))
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_searcher_options_that_can_be_right() -> None:
    config.from_dict(_es(algorithm="cem", popsize=8))
    config.from_dict(_es(algorithm="cem", popsize=4, options={"parenthood_ratio": 0.5, "stdev_init": [0.1, 0.2]}))
    config.from_dict(_es(algorithm="cosyne", popsize=4, options={"tournament_size": 4, "mutation_stdev": 0.3}))
    assert config.from_dict(_es(options={"no_such_option": -1})).trainer.options == {
        "no_such_option": -1
    }  # es.py says so
