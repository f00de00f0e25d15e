"""The experiment schema: typed, documented, strict (unknown keys are errors)."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Annotated, Any, Literal, get_args

import gymnasium
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from evolstm.config.options import check_options, parents_problem
from evolstm.config.sizes import MAX_EPISODE_STEPS, MAX_EPISODES, MAX_HIDDEN, MAX_LAYERS, MAX_POPSIZE, MAX_THREADS
from evolstm.policies.cells import cell_for

PolicyKind = Literal["lstm", "gru", "peephole", "feedforward", "rnn"]
ESAlgorithm = Literal["pgpe", "cmaes", "snes", "xnes", "cem", "ga", "cosyne"]
Backend = Literal["local", "batched", "ray"]
POLICY_KINDS: tuple[str, ...] = get_args(PolicyKind)
ES_ALGORITHMS: tuple[str, ...] = get_args(ESAlgorithm)
BACKENDS: tuple[str, ...] = get_args(Backend)


class ConfigError(ValueError):
    """A user mistake in an experiment (file, key, type or value); reported as one line and exit code 2."""


class _Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


#: id prefixes of task families that a package registers when imported: (the package, the extra that installs it)
PACKAGE_IDS = {"popgym-": ("popgym", "popgym")}


def _import_module(module: str, named_in: str = "") -> Any:
    """A user's module, imported; any failure while importing it (it may fail in any way) as a ValueError."""
    try:
        return importlib.import_module(module)
    except (Exception, SystemExit) as err:
        raise ValueError(f"cannot import module {module!r}{named_in} ({type(err).__name__}: {err})") from err


def import_object(path: str) -> Any:
    """The object an import path names: "package.module.Name" or "package.module:Name" (ValueError if none)."""
    module, _, name = path.rpartition(":") if ":" in path else path.rpartition(".")
    if not module or not name:
        raise ValueError(f"{path!r} is not an import path like 'package.module.Name'")
    found = _import_module(module)
    if not hasattr(found, name):
        raise ValueError(f"module {module!r} has no {name!r}")
    return getattr(found, name)


class WrapperConfig(_Strict):
    """A Gymnasium wrapper around the task's env: what `path` names, called as path(env, **kwargs)."""

    path: str = Field(description='Import path of the wrapper, e.g. "popgym.wrappers.PreviousAction".')
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the wrapper.")

    @field_validator("path")
    @classmethod
    def _importable(cls, path: str) -> str:
        """Import it now, so that a typo fails before any run starts."""
        if not callable(import_object(path)):
            raise ValueError(f"{path!r} is not a wrapper (not callable)")
        return path


class TaskConfig(_Strict):
    """Which environment to train on, and how to present it to the policy."""

    id: str = Field(
        description='A Gymnasium id ("evolstm/TMaze-v0", "CartPole-v1", "popgym-RepeatPreviousEasy-v0", "module:Env-v0").'
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")
    observe: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] | None = Field(
        default=None, description="Keep only these entries of a Box observation (e.g. drop velocities); null keeps all."
    )
    max_episode_steps: Annotated[int, Field(gt=0, le=MAX_EPISODE_STEPS)] | None = Field(
        default=None, description=f"Override the registered time limit (at most {MAX_EPISODE_STEPS:,})."
    )
    wrappers: list[WrapperConfig] = Field(
        default_factory=list,
        description="Gymnasium wrappers around the env, applied in order (local backend; e.g. POPGym's PreviousAction).",
    )
    previous_action: bool = Field(
        default=False,
        description="Append the action just taken to the observation (one-hot for discrete actions; zeros at a reset).",
    )
    previous_reward: bool = Field(
        default=False, description="Append the reward just received to the observation (0 at a reset)."
    )

    @field_validator("id")
    @classmethod
    def _known_id(cls, env_id: str) -> str:
        """Import "module:" prefixes and check that the id is registered, so typos fail before any run starts. An
        id of a package's family (PACKAGE_IDS, e.g. "popgym-...") gets the package as its prefix, so that every
        process that makes the env (Ray workers too) imports the package first."""
        for prefix, (package, extra) in PACKAGE_IDS.items():
            if env_id.startswith(prefix):
                if importlib.util.find_spec(package) is None:
                    raise ValueError(f"{env_id!r} needs the {package} package: pip install 'evolstm[{extra}]'")
                env_id = f"{package}:{env_id}"
        name = env_id
        if ":" in env_id:
            module, name = env_id.split(":", 1)
            _import_module(module, " named in the task id")
        import evolstm.tasks  # noqa: F401  (registers the evolstm/ ids)

        if name not in gymnasium.registry:
            own = ", ".join(sorted(i for i in gymnasium.registry if i.startswith("evolstm/")))
            raise ValueError(
                f"unknown Gymnasium id {name!r}; evolstm ids: {own}; or any registered id or 'module:Env-v0'"
            )
        return env_id


class PolicyConfig(_Strict):
    """The recurrent policy network."""

    kind: PolicyKind = Field(default="lstm", description="Network type.")
    hidden: Annotated[int, Field(gt=0, le=MAX_HIDDEN)] = Field(
        default=16, description=f"Units per layer (at most {MAX_HIDDEN:,})."
    )
    layers: Annotated[int, Field(gt=0, le=MAX_LAYERS)] = Field(
        default=1, description=f"Stacked recurrent (or hidden) layers (at most {MAX_LAYERS})."
    )
    obs_norm: bool = Field(
        default=False, description="Normalize observations by running mean/std gathered during training."
    )
    forget_bias: float | None = Field(
        default=None,
        description="Initial bias of every forget gate (a GRU's update gate); memories fade as sigmoid(bias)^t. "
        "null: the kind's own (+1 for LSTMs, torch's for GRU).",
    )
    chrono: Annotated[int, Field(ge=2, le=MAX_EPISODE_STEPS)] | None = Field(
        default=None,
        description="Chrono initialization (Tallec & Ollivier 2018) for spans up to this many steps: forget-gate "
        "biases drawn as log U(1, chrono - 1), LSTM input-gate biases their negatives. null: off.",
    )

    @model_validator(mode="after")
    def _gate_init_fits(self) -> PolicyConfig:
        """Both gate initializations set the same biases, and only kinds with a memory gate have them."""
        if self.forget_bias is not None and self.chrono is not None:
            raise ValueError("forget_bias and chrono exclude each other")
        if (self.forget_bias is not None or self.chrono is not None) and cell_for(self.kind).memory_gate is None:
            raise ValueError(f"forget_bias and chrono need a kind with a forget gate; {self.kind} has none")
        return self


class ESConfig(_Strict):
    """Evolution strategies through an EvoTorch searcher."""

    kind: Literal["es"] = "es"
    algorithm: ESAlgorithm = Field(default="pgpe", description="EvoTorch searcher.")
    popsize: Annotated[int, Field(gt=1, le=MAX_POPSIZE)] = Field(
        default=64, description=f"Population size (at most {MAX_POPSIZE:,}; cem needs 2 parents, cosyne 4 members)."
    )
    episodes: Annotated[int, Field(gt=0, le=MAX_EPISODES)] = Field(
        default=4,
        description=f"Episodes per member and generation (at most {MAX_EPISODES:,}); a member's fitness is their mean "
        "return.",
    )
    common_random_numbers: bool = Field(
        default=False, description="All members of a generation play the same episode seeds."
    )
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
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Further keyword arguments for the searcher; known ones are checked (popsize within the limits of "
        "trainer.popsize, spreads and learning rates positive, ratios in (0, 1], tournament_size at most popsize).",
    )

    @field_validator("options")
    @classmethod
    def _sound_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Option values that cannot be right (NaN, a negative stdev, popsize -5) fail here, not inside EvoTorch."""
        check_options(options, info.data.get("popsize"))
        return options

    @property
    def budget(self) -> int | None:
        """Planned steps of the training loop."""
        return self.generations

    @model_validator(mode="after")
    def _has_budget(self) -> ESConfig:
        if self.generations is None and self.max_env_steps is None:
            raise ValueError("set generations or max_env_steps (or both)")
        problem = parents_problem(self.algorithm, self.popsize, self.options)
        if problem:
            raise ValueError(problem)
        return self


class ReinforceConfig(_Strict):
    """REINFORCE through time: sampled episodes, log-likelihood gradients backpropagated through the recurrent net."""

    kind: Literal["reinforce"] = "reinforce"
    episodes: Annotated[int, Field(gt=0, le=MAX_EPISODES)] = Field(
        default=16, description=f"Episodes per update, played in parallel (at most {MAX_EPISODES:,})."
    )
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
    max_grad_norm: Annotated[float, Field(gt=0)] | None = Field(
        default=1.0, description="Gradient-norm clip (or null)."
    )
    optimizer: Literal["adam", "sgd", "rmsprop"] = Field(default="adam", description="torch optimizer.")
    learning_rate: Annotated[float, Field(gt=0)] = Field(default=3e-3, description="Initial learning rate.")
    lr_schedule: Literal["constant", "linear", "cosine"] = Field(
        default="constant", description="Learning-rate decay over the budget."
    )
    bptt: Annotated[int, Field(gt=0, le=MAX_EPISODE_STEPS)] | None = Field(
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
    """Where episodes run, and the greedy evaluations of the current policy and of the exported ones."""

    backend: Backend = Field(
        default="local",
        description="local: Gymnasium envs in this process; batched: the task's torch-batched form, all members and "
        "episodes as one tensor program (evolstm tasks); ray: the episodes split over Ray actors.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Device of the batched backend, also inside Ray workers (auto: cuda when available).",
    )
    workers: Annotated[int, Field(gt=0)] | Literal["auto"] = Field(
        default="auto", description="ray: number of actors (auto: one per CPU of the cluster)."
    )
    worker_backend: Literal["local", "batched"] = Field(
        default="local", description="ray: how each actor plays its share."
    )
    gpus_per_worker: Annotated[float, Field(ge=0)] = Field(default=0.0, description="ray: GPUs each actor reserves.")
    compile: bool = Field(
        default=False,
        description="batched (also ray with worker_backend batched): compile each scoring step (policy, env and "
        "bookkeeping) with torch.compile; faster, a compile per batch size, results equal to eager only up to "
        "rounding (eager is bit-exact).",
    )
    greedy_every: Annotated[int, Field(ge=0)] = Field(
        default=1,
        description="Evaluate the current policy greedily (ES: the search center) every N steps (0: never).",
    )
    greedy_episodes: Annotated[int, Field(gt=0, le=MAX_EPISODES)] = Field(
        default=10, description=f"Episodes of each such greedy evaluation (at most {MAX_EPISODES:,})."
    )
    final_episodes: Annotated[int, Field(ge=0, le=MAX_EPISODES)] = Field(
        default=100,
        description=f"Fresh episodes for the exported policies at the end of the run (at most {MAX_EPISODES:,}).",
    )

    @model_validator(mode="after")
    def _compile_needs_batched(self) -> EvaluationConfig:
        batched = self.backend == "batched" or (self.backend == "ray" and self.worker_backend == "batched")
        if self.compile and not batched:
            raise ValueError("compile: true needs backend batched (or ray with worker_backend batched)")
        return self


class RayConfig(_Strict):
    """Which Ray cluster the ray backend uses."""

    address: str | None = Field(
        default=None,
        description="null: a private local cluster bound to loopback (or, inside a Ray job, the job's cluster); "
        '"auto": the cluster this machine belongs to; "ray://host:10001": a remote cluster.',
    )
    num_cpus: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="CPUs of the private local cluster (null: all of this machine's)."
    )
    include_dashboard: bool = Field(default=False, description="Start the dashboard with the private local cluster.")


class MLflowConfig(_Strict):
    """Where the MLflow sink logs: a tracking URI and an MLflow experiment."""

    uri: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="MLflow tracking URI, e.g. sqlite:///runs/mlflow.db or http://host:5000 (null: a local SQLite "
        "store next to the run directories, <out>/mlflow.db).",
    )
    experiment: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="MLflow experiment to log into (null: this experiment's name)."
    )


class TrackingConfig(_Strict):
    """Experiment trackers that receive every metric row and the resolved config (metrics.jsonl stays the record)."""

    tensorboard: bool | str = Field(
        default=False,
        description="true: TensorBoard event files in RUN_DIR/tensorboard; a folder: in FOLDER/<run dir name>, so that "
        "one `tensorboard --logdir FOLDER` shows many runs; false: off. Needs pip install 'evolstm[tensorboard]'.",
    )
    mlflow: MLflowConfig | None = Field(
        default=None,
        description="true or {uri, experiment}: an MLflow run with the config as params, every metric per step and the "
        "final evaluation; a resume continues the same run; false or null: off. Needs pip install 'evolstm[mlflow]'.",
    )

    @field_validator("tensorboard", mode="plain", json_schema_input_type=bool | str)
    @classmethod
    def _switch_or_folder(cls, value: Any) -> bool | str:
        """One message for any other value (a union would report one error per member)."""
        if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
            return value
        raise ValueError("expected true, false or a folder path")

    @field_validator("mlflow", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """true is the default store and experiment ({}), false is off (null)."""
        return {} if value is True else None if value is False else value


class Experiment(_Strict):
    """One experiment: task, policy, trainer and evaluation, with the seed that makes it reproducible."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")] = Field(
        description="Run name; the run directory is named after it."
    )
    seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        default=0, description="Seeds everything: searcher, init and episodes."
    )
    threads: Annotated[int, Field(gt=0, le=MAX_THREADS)] = Field(
        default=1, description=f"torch intra-op threads of this process (at most {MAX_THREADS}: 4 per CPU)."
    )
    log_every: Annotated[int, Field(gt=0)] = Field(default=10, description="Print progress every N generations.")
    checkpoint_every: Annotated[int, Field(ge=0)] = Field(
        default=10,
        description="Checkpoint once N generations/iterations have passed since the last checkpoint (and at the start "
        "and at exit); 0: not by steps. Never sooner than 20x the last write's duration (writes cost at most ~5%).",
    )
    checkpoint_seconds: Annotated[float, Field(ge=0)] = Field(
        default=300.0,
        description="Also checkpoint once this many seconds have passed since the last one (0: never by time).",
    )
    task: TaskConfig
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    trainer: Annotated[ESConfig | ReinforceConfig, Field(discriminator="kind")]
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)


#: the trainer section's kinds, from its discriminated union (es, reinforce)
TRAINER_KINDS: tuple[str, ...] = tuple(
    section.model_fields["kind"].default for section in get_args(Experiment.model_fields["trainer"].annotation)
)
