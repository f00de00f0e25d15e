"""Experiments: the typed, strict schema (`schema`) and reading it from YAML with --set overrides (`loading`)."""

from evolstm.config.loading import flat_fields, from_dict, load, to_dict
from evolstm.config.schema import (
    BACKENDS,
    ES_ALGORITHMS,
    POLICY_KINDS,
    TRAINER_KINDS,
    ConfigError,
    ESConfig,
    EvaluationConfig,
    Experiment,
    PolicyConfig,
    RayConfig,
    ReinforceConfig,
    TaskConfig,
)

__all__ = [
    "BACKENDS",
    "ES_ALGORITHMS",
    "POLICY_KINDS",
    "TRAINER_KINDS",
    "ConfigError",
    "ESConfig",
    "EvaluationConfig",
    "Experiment",
    "PolicyConfig",
    "RayConfig",
    "ReinforceConfig",
    "TaskConfig",
    "flat_fields",
    "from_dict",
    "load",
    "to_dict",
]
