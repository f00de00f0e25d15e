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
    MLflowConfig,
    PolicyConfig,
    RayConfig,
    ReinforceConfig,
    TaskConfig,
    TrackingConfig,
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
    "MLflowConfig",
    "PolicyConfig",
    "RayConfig",
    "ReinforceConfig",
    "TaskConfig",
    "TrackingConfig",
    "flat_fields",
    "from_dict",
    "load",
    "to_dict",
]
