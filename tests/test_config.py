"""The experiment schema: every ready experiment loads; every kind of mistake is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolstm import config
from evolstm.config import ConfigError

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
    ({"policy": {"kind": "transformer"}}, "policy.kind: Input should be 'lstm', 'gru', 'peephole' or 'feedforward'"),
    ({"task": {"id": "evolstm/Nope-v0"}}, "task.id: unknown Gymnasium id 'evolstm/Nope-v0'"),
    ({"task": {"id": "no_such_module:Env-v0"}}, "task.id: cannot import module 'no_such_module'"),
    ({"evaluation": {"backend": "cloud"}}, "evaluation.backend: Input should be 'local'"),
    ({"trainer": {"kind": "es", "episodes": 0}}, "trainer.episodes: Input should be greater than 0"),
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
