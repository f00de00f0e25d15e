"""ES through EvoTorch: every searcher runs, options pass through (typos rejected), runs are reproducible."""

from __future__ import annotations

import pytest
import torch

from evolstm.config import ES_ALGORITHMS, ConfigError
from evolstm.evaluation import make_evaluator
from evolstm.environment import policy_spec
from evolstm.trainers import make_trainer
from evolstm.trainers.es import SEARCHERS
from tests.conftest import make_experiment


def _trainer(**trainer):
    experiment = make_experiment(trainer=trainer)
    spec = policy_spec(experiment.task, experiment.policy)
    torch.manual_seed(experiment.seed)
    from evolstm.policies import Policy

    return make_trainer(experiment, make_evaluator(experiment, spec), spec, Policy(spec).flat())


def test_registry_matches_the_schema() -> None:
    assert set(SEARCHERS) == set(ES_ALGORITHMS)


@pytest.mark.parametrize("algorithm", ES_ALGORITHMS)
def test_every_searcher_runs_generations(algorithm: str) -> None:
    trainer = _trainer(algorithm=algorithm, generations=2)
    rows = []
    while not trainer.finished():
        rows.append(trainer.step())
    assert [r["generation"] for r in rows] == [0, 1]
    assert all(r["best"] >= r["median"] >= r["worst"] for r in rows)
    assert rows[-1]["env_steps"] > rows[0]["env_steps"] > 0
    exports = trainer.exports()
    assert "best" in exports
    assert ("center" in exports) == (algorithm not in ("ga", "cosyne"))
    assert "center" in rows[0] or algorithm in ("ga", "cosyne")


def test_options_pass_through_and_typos_are_refused() -> None:
    trainer = _trainer(algorithm="pgpe", options={"center_learning_rate": 0.123, "ranking_method": "linear"})
    assert trainer.searcher._ranking_method == "linear"
    with pytest.raises(ConfigError, match="trainer.options.learning_rate: not an option of EvoTorch's PGPE"):
        _trainer(algorithm="pgpe", options={"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="trainer.options.eta: not an option of EvoTorch's CMAES"):
        _trainer(algorithm="cmaes", options={"eta": 1.0})
    ga = _trainer(algorithm="ga", options={"eta": 3.0, "elitist": False})
    assert ga.searcher._elitist is False


def test_env_step_budget_stops_the_run() -> None:
    trainer = _trainer(generations=None, max_env_steps=500)
    while not trainer.finished():
        trainer.step()
    assert trainer.env_steps >= 500
    assert trainer.steps < 20


@pytest.mark.parametrize("algorithm", ["snes", "pgpe", "cmaes", "ga"])
def test_same_seed_same_metrics(algorithm: str) -> None:
    def metrics() -> list[dict]:
        trainer = _trainer(algorithm=algorithm, generations=3)
        rows = [trainer.step() for _ in range(3)]
        return [{k: v for k, v in r.items() if k != "step_time"} for r in rows]

    assert metrics() == metrics()


def test_stop_at_ends_the_run_once_the_center_reaches_it() -> None:
    trainer = _trainer(generations=50, stop_at=-100.0)
    trainer.step()
    assert trainer.finished() and trainer.steps == 1


def test_batched_backend_gives_the_local_runs_metrics() -> None:
    def metrics(backend: str) -> list[dict]:
        trainer = _trainer(generations=3)
        if backend == "batched":
            from evolstm.evaluation.vector import VectorEvaluator

            trainer.evaluator = VectorEvaluator(trainer.evaluator.task, trainer.evaluator.spec, "batched", "cpu")
        return [{k: v for k, v in trainer.step().items() if k != "step_time"} for _ in range(3)]

    assert metrics("batched") == metrics("local")
