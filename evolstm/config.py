"""The experiment schema: typed, documented, strict (unknown keys are errors), loaded from YAML with --set overrides."""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import gymnasium
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

POLICY_KINDS = ("lstm", "gru", "peephole", "feedforward")
TRAINER_KINDS = ("es", "reinforce")
ES_ALGORITHMS = ("pgpe", "cmaes", "snes", "xnes", "cem", "ga", "cosyne")


class ConfigError(ValueError):
    """A user mistake in an experiment (file, key, type or value); reported as one line and exit code 2."""


class _Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class TaskConfig(_Strict):
    """Which environment to train on, and how to present it to the policy."""

    id: str = Field(description='A Gymnasium id ("evolstm/TMaze-v0", "CartPole-v1", "module:Env-v0").')
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")
    observe: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="Keep only these entries of a Box observation (e.g. drop velocities); null keeps all."
    )
    max_episode_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Override the registered time limit."
    )

    @field_validator("id")
    @classmethod
    def _known_id(cls, env_id: str) -> str:
        """Import "module:" prefixes and check that the id is registered, so typos fail before any run starts."""
        name = env_id
        if ":" in env_id:
            module, name = env_id.split(":", 1)
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise ValueError(f"cannot import module {module!r} named in the task id ({err})") from None
        import evolstm.tasks  # noqa: F401  (registers the evolstm/ ids)

        if name not in gymnasium.registry:
            own = ", ".join(sorted(i for i in gymnasium.registry if i.startswith("evolstm/")))
            raise ValueError(f"unknown Gymnasium id {name!r}; evolstm ids: {own}; or any registered id or 'module:Env-v0'")
        return env_id


class PolicyConfig(_Strict):
    """The recurrent policy network."""

    kind: Literal["lstm", "gru", "peephole", "feedforward"] = Field(default="lstm", description="Network type.")
    hidden: Annotated[int, Field(gt=0)] = Field(default=16, description="Units per layer.")
    layers: Annotated[int, Field(gt=0)] = Field(default=1, description="Stacked recurrent (or hidden) layers.")
    obs_norm: bool = Field(
        default=False, description="Normalize observations by running mean/std gathered during training."
    )


class ESConfig(_Strict):
    """Evolution strategies through an EvoTorch searcher."""

    kind: Literal["es"] = "es"
    algorithm: Literal["pgpe", "cmaes", "snes", "xnes", "cem", "ga", "cosyne"] = Field(
        default="pgpe", description="EvoTorch searcher."
    )
    popsize: Annotated[int, Field(gt=1)] = Field(default=64, description="Population size.")
    generations: Annotated[int, Field(gt=0)] | None = Field(default=100, description="Generation budget (or null).")
    max_env_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Stop once this many env steps were taken (or null)."
    )
    stop_at: float | None = Field(
        default=None, description="Stop early once the center's return (the best member's for ga/cosyne) reaches this."
    )
    stdev_init: Annotated[float, Field(gt=0)] = Field(
        default=0.1, description="Initial search spread (Gaussian stdev, or mutation stdev for ga/cosyne)."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Further keyword arguments for the searcher.")

    @field_validator("options")
    @classmethod
    def _finite_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """A NaN or infinite option (a learning rate, say) would spread into the search distribution."""
        for key, value in options.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"option {key} must be a finite number, got {value}")
        return options

    @property
    def budget(self) -> int | None:
        """Planned steps of the training loop."""
        return self.generations

    @model_validator(mode="after")
    def _has_budget(self) -> ESConfig:
        if self.generations is None and self.max_env_steps is None:
            raise ValueError("set generations or max_env_steps (or both)")
        return self


class ReinforceConfig(_Strict):
    """REINFORCE through time: sampled episodes, log-likelihood gradients backpropagated through the recurrent net."""

    kind: Literal["reinforce"] = "reinforce"
    episodes: Annotated[int, Field(gt=0)] = Field(default=16, description="Episodes per update, played in parallel.")
    iterations: Annotated[int, Field(gt=0)] | None = Field(default=200, description="Update budget (or null).")
    max_env_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Stop once this many env steps were taken (or null)."
    )
    stop_at: float | None = Field(
        default=None, description="Stop early once the greedy policy's evaluated return reaches this."
    )
    discount: Annotated[float, Field(gt=0, le=1)] = Field(default=0.99, description="Discount factor gamma.")
    reward_to_go: bool = Field(default=True, description="Weight each action by the return after it (else the whole).")
    baseline: Literal["none", "mean", "value"] = Field(
        default="value", description="none, a running mean of returns, or a learned value head on the recurrent state."
    )
    normalize_advantages: bool = Field(default=True, description="Scale advantages to zero mean, unit std per batch.")
    entropy_coef: Annotated[float, Field(ge=0)] = Field(default=0.01, description="Entropy bonus weight.")
    value_coef: Annotated[float, Field(ge=0)] = Field(default=0.5, description="Value-loss weight (baseline: value).")
    max_grad_norm: Annotated[float, Field(gt=0)] | None = Field(default=1.0, description="Gradient-norm clip (or null).")
    optimizer: Literal["adam", "sgd", "rmsprop"] = Field(default="adam", description="torch optimizer.")
    learning_rate: Annotated[float, Field(gt=0)] = Field(default=3e-3, description="Initial learning rate.")
    lr_schedule: Literal["constant", "linear", "cosine"] = Field(
        default="constant", description="Learning-rate decay over the budget."
    )
    bptt: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Truncated BPTT length in steps (null: backpropagate through whole episodes)."
    )
    action_std: Annotated[float, Field(gt=0)] = Field(default=0.5, description="Gaussian std for Box actions.")
    action_std_final: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Anneal the std linearly to this value over the budget (or null)."
    )
    learn_std: bool = Field(default=False, description="Learn the (log) std as a parameter instead.")

    @property
    def budget(self) -> int | None:
        """Planned steps of the training loop."""
        return self.iterations

    @model_validator(mode="after")
    def _has_budget(self) -> ReinforceConfig:
        if self.iterations is None and self.max_env_steps is None:
            raise ValueError("set iterations or max_env_steps (or both)")
        if self.learn_std and self.action_std_final is not None:
            raise ValueError("learn_std and action_std_final exclude each other")
        return self


class EvaluationConfig(_Strict):
    """How fitness is measured: where episodes run and how many."""

    backend: Literal["local", "batched", "ray"] = Field(
        default="local",
        description="local: Gymnasium envs in this process; batched: the task's torch-batched form, all members and "
        "episodes as one tensor program (evolstm tasks); ray: the population split over Ray actors.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Device of the batched backend, also inside Ray workers (auto: cuda when available)."
    )
    workers: Annotated[int, Field(gt=0)] | Literal["auto"] = Field(
        default="auto", description="ray: number of actors (auto: one per CPU of the cluster)."
    )
    worker_backend: Literal["local", "batched"] = Field(
        default="local", description="ray: how each actor evaluates its share."
    )
    gpus_per_worker: Annotated[float, Field(ge=0)] = Field(default=0.0, description="ray: GPUs each actor reserves.")
    episodes: Annotated[int, Field(gt=0)] = Field(
        default=4, description="ES: episodes per member (fitness = mean return); REINFORCE: greedy-evaluation episodes."
    )
    common_random_numbers: bool = Field(
        default=False, description="All members of a generation play the same episode seeds."
    )
    center_every: Annotated[int, Field(ge=0)] = Field(
        default=1, description="Evaluate the current policy (ES: the search center) every N steps (0: never)."
    )
    center_episodes: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Episodes for each such evaluation (null: the same as episodes)."
    )
    final_episodes: Annotated[int, Field(ge=0)] = Field(
        default=100, description="Fresh episodes for the exported policies at the end of the run."
    )


class RayConfig(_Strict):
    """Which Ray cluster the ray backend uses."""

    address: str | None = Field(
        default=None,
        description='null: a private local cluster bound to loopback (or, inside a Ray job, the job\'s cluster); '
        '"auto": the cluster this machine belongs to; "ray://host:10001": a remote cluster.',
    )
    num_cpus: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="CPUs of the private local cluster (null: all of this machine's)."
    )
    include_dashboard: bool = Field(default=False, description="Start the dashboard with the private local cluster.")


class Experiment(_Strict):
    """One experiment: task, policy, trainer and evaluation, with the seed that makes it reproducible."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")] = Field(
        description="Run name; the run directory is named after it."
    )
    seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        default=0, description="Seeds everything: searcher, init and episodes."
    )
    threads: Annotated[int, Field(gt=0)] = Field(default=1, description="torch intra-op threads of this process.")
    log_every: Annotated[int, Field(gt=0)] = Field(default=10, description="Print progress every N generations.")
    checkpoint_every: Annotated[int, Field(ge=0)] = Field(
        default=10,
        description="Checkpoint every N generations/iterations (and at the start and at exit); 0: start and exit only.",
    )
    task: TaskConfig
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    trainer: Annotated[ESConfig | ReinforceConfig, Field(discriminator="kind")]
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    ray: RayConfig = Field(default_factory=RayConfig)


def _format(err: ValidationError) -> str:
    """First validation error as `key.path: message`."""
    first = err.errors(include_url=False)[0]
    loc = list(first["loc"])
    if loc[:1] == ["trainer"] and len(loc) > 1 and loc[1] in TRAINER_KINDS:
        del loc[1]  # the discriminator's tag is not a key the user wrote
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
        msg = f"must be one of {', '.join(TRAINER_KINDS)}"
    path = ".".join(str(p) for p in loc) or "<experiment>"
    return " ".join(f"{path}: {msg}".split())  # one line, whatever a validator's message holds


def _set_path(data: dict[str, Any], assignment: str) -> None:
    """Apply one `key.path=value` override; the value is parsed as YAML (so 3 is an int, true a bool)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({str(err).splitlines()[0]})") from None


def from_dict(data: Any, overrides: tuple[str, ...] = ()) -> Experiment:
    """Validate a plain mapping (plus overrides) into an Experiment, raising ConfigError on any mistake."""
    if not isinstance(data, dict):
        raise ConfigError("the experiment must be a YAML mapping of sections (name, task, policy, trainer, ...)")
    for assignment in overrides:
        _set_path(data, assignment)
    try:
        return Experiment.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None


def load(path: str | Path, overrides: tuple[str, ...] = ()) -> Experiment:
    """Read an experiment YAML file, apply `--set` overrides and validate it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read experiment file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return from_dict(data, overrides)


def to_dict(experiment: Experiment) -> dict[str, Any]:
    """The fully resolved experiment (defaults filled in), as plain data for the run directory."""
    return experiment.model_dump(mode="json")


def flat_fields(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of dotted keys, e.g. {"trainer.popsize": 32} (empty sections stay as values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flat_fields(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
