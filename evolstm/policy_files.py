"""Exported policy files: safetensors tensors + JSON metadata, loadable without unpickling or importing any code.

A file may come from anyone, so loading checks everything before building anything: the metadata against a strict
schema with documented limits, the tensors' names, dtypes and sizes against the spec (counted, not built), then a
SHA-256 of the tensor bytes. Every problem is one PolicyFileError line.
"""

from __future__ import annotations

import hashlib
import json
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from evolstm.atomic import write_bytes
from evolstm.config.sizes import MAX_EPISODE_STEPS, MAX_EPISODES, MAX_HIDDEN, MAX_LAYERS
from evolstm.normalization import ObsNorm
from evolstm.policies import CELLS, Policy, PolicySpec

FORMAT = "evolstm-policy/2"
OLD_FORMATS = ("evolstm-policy/1",)
#: The tensors of a policy file, in the order the checksum reads them.
TENSORS = ("params", "obs_mean", "obs_std")
METADATA_KEYS = ("format", "spec", "info", "sha256")
#: Documented limits of what a policy file may describe besides the experiment's own (`evolstm.config.sizes`):
#: observation and action sizes, nesting of the metadata's JSON and the size of the task's kwargs.
MAX_DIM, MAX_NESTING, MAX_KWARGS_CHARS, MAX_WRAPPERS = 100_000, 8, 10_000, 32


class PolicyFileError(ValueError):
    """A policy file that is missing, corrupt or does not describe a policy this version can load."""


class _Strict(BaseModel):
    """No unknown keys, no type coercion, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


_Dim = Annotated[int, Field(ge=1, le=MAX_DIM)]


class _SpecSchema(_Strict):
    """The `spec` metadata: a PolicySpec within the documented limits."""

    kind: str
    obs_dim: _Dim
    action_dim: _Dim
    discrete: bool
    hidden: Annotated[int, Field(ge=1, le=MAX_HIDDEN)]
    layers: Annotated[int, Field(ge=1, le=MAX_LAYERS)]
    action_low: Annotated[list[float], Field(max_length=MAX_DIM)] | None = None
    action_high: Annotated[list[float], Field(max_length=MAX_DIM)] | None = None
    action_nvec: Annotated[list[_Dim], Field(min_length=1, max_length=MAX_DIM)] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        """Only a registered cell can be counted (and later built)."""
        if kind not in CELLS:
            raise ValueError(f"unknown policy kind {reprlib.repr(kind)}; allowed: {', '.join(CELLS)}")
        return kind

    @model_validator(mode="after")
    def _bounds_fit(self) -> _SpecSchema:
        """Box bounds come in pairs of action_dim entries; discrete actions have none (as PolicySpec.for_spaces);
        a MultiDiscrete's nvec (discrete only) has one entry per dimension, summing to action_dim."""
        bounds = (self.action_low, self.action_high)
        if self.discrete and bounds != (None, None):
            raise ValueError("action bounds are for Box actions, not discrete ones")
        if (bounds[0] is None) != (bounds[1] is None):
            raise ValueError("action bounds need both action_low and action_high")
        if bounds[0] is not None and not len(bounds[0]) == len(bounds[1]) == self.action_dim:
            raise ValueError(f"action bounds need {self.action_dim} entries each")
        if self.action_nvec is not None and not self.discrete:
            raise ValueError("action_nvec is for MultiDiscrete actions, which are discrete")
        if self.action_nvec is not None and sum(self.action_nvec) != self.action_dim:
            raise ValueError(f"action_nvec must sum to action_dim {self.action_dim}")
        return self


def _small_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Kwargs end up in error messages and in the env's or wrapper's call: keep them small."""
    if len(json.dumps(kwargs)) > MAX_KWARGS_CHARS:
        raise ValueError(f"kwargs may take at most {MAX_KWARGS_CHARS} characters as JSON")
    return kwargs


Kwargs = Annotated[dict[str, Any], AfterValidator(_small_kwargs)]


class _WrapperSchema(_Strict):
    """One of `info.task.wrappers`: a wrapper's import path and kwargs (imported when the task is rebuilt)."""

    path: Annotated[str, Field(max_length=1000, pattern=r"^[\w.:]+$")]
    kwargs: Kwargs = Field(default_factory=dict)


class _TaskSchema(_Strict):
    """The `info.task` metadata: a task as the run's config resolved it (not validated as an env id here)."""

    id: Annotated[str, Field(max_length=1000, pattern=r"^[\w.:/-]+$")]
    kwargs: Kwargs = Field(default_factory=dict)
    observe: Annotated[list[Annotated[int, Field(ge=0, lt=MAX_DIM)]], Field(max_length=MAX_DIM)] | None = None
    max_episode_steps: Annotated[int, Field(ge=1, le=MAX_EPISODE_STEPS)] | None = None
    wrappers: Annotated[list[_WrapperSchema], Field(max_length=MAX_WRAPPERS)] = Field(default_factory=list)
    previous_action: bool = False
    previous_reward: bool = False


class _InfoSchema(_Strict):
    """The `info` metadata: where the policy comes from and how its run evaluated it."""

    experiment: str | None = None
    policy: str | None = None
    task: _TaskSchema | None = None
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    final_episodes: Annotated[int, Field(ge=0, le=MAX_EPISODES)] = 10


@dataclass(frozen=True)
class PolicyFile:
    """What a policy file holds: the network spec, its flat parameters, the normalizer and the run's info."""

    spec: PolicySpec
    params: torch.Tensor
    norm: ObsNorm
    info: dict[str, Any]

    def policy(self) -> Policy:
        """The single-member network with these parameters loaded."""
        policy = Policy(self.spec)
        policy.load_flat(self.params)
        return policy


def checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of the tensors' bytes, params then obs_mean then obs_std."""
    digest = hashlib.sha256()
    for name in TENSORS:
        digest.update(tensors[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_policy(path: Path, spec: PolicySpec, params: torch.Tensor, norm: ObsNorm, info: dict[str, Any]) -> None:
    """Write a policy file atomically."""
    tensors = {
        "params": params.detach().float().cpu().contiguous(),
        "obs_mean": torch.as_tensor(norm.mean, dtype=torch.float32),
        "obs_std": torch.as_tensor(norm.std, dtype=torch.float32),
    }
    meta = {"format": FORMAT, "spec": json.dumps(spec.to_dict()), "info": json.dumps(info), "sha256": checksum(tensors)}
    write_bytes(path, save(tensors, metadata=meta))


def load_policy(path: Path) -> PolicyFile:
    """Read a policy file, checking every part before building anything; PolicyFileError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise PolicyFileError(f"{path}: no such policy file")
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
            spec, info = _metadata(path, meta)
            _check_tensors(path, spec, {name: handle.get_slice(name) for name in handle.keys()})
            tensors = {name: handle.get_tensor(name) for name in TENSORS}
    except (SafetensorError, OSError) as err:
        raise PolicyFileError(f"{path}: corrupt policy file ({' '.join(str(err).split())})") from None
    if meta["sha256"] != checksum(tensors):
        raise PolicyFileError(f"{path}: corrupt: checksum mismatch (its tensors are not the ones it was saved with)")
    params, mean, std = (tensors[name] for name in TENSORS)
    if not (params.isfinite().all() and mean.isfinite().all()):
        raise PolicyFileError(f"{path}: its parameters or obs_mean are not finite")
    if not (std.isfinite().all() and (std > 0).all()):
        raise PolicyFileError(f"{path}: its obs_std must be finite and positive")
    return PolicyFile(spec, params, ObsNorm(mean.numpy(), std.numpy()), info)


def _metadata(path: Path, meta: dict[str, str]) -> tuple[PolicySpec, dict[str, Any]]:
    """The spec and info of a file's metadata, validated; PolicyFileError for the first problem."""
    if meta.get("format") in OLD_FORMATS:
        raise PolicyFileError(
            f"{path}: written by an older evolstm ({meta['format']}); re-export it by re-running its experiment "
            "(the same YAML and seed give the same weights) or by resuming its run if it is unfinished"
        )
    if meta.get("format") != FORMAT:
        raise PolicyFileError(f"{path}: not an evolstm policy file (format {reprlib.repr(meta.get('format'))})")
    unknown = sorted(set(meta) - set(METADATA_KEYS))
    if unknown:
        raise PolicyFileError(f"{path}: unknown metadata key {reprlib.repr(unknown[0])}")
    if "sha256" not in meta:
        raise PolicyFileError(f"{path}: corrupt: checksum missing")
    parsed = {}
    for key, schema in (("spec", _SpecSchema), ("info", _InfoSchema)):
        try:
            parsed[key] = json.loads(meta[key])
        except KeyError:
            raise PolicyFileError(f"{path}: corrupt policy file (no {key} in its metadata)") from None
        except (ValueError, RecursionError) as err:
            raise PolicyFileError(f"{path}: corrupt policy file (metadata {key} is not JSON: {err})") from None
        if _nesting(parsed[key]) > MAX_NESTING:
            raise PolicyFileError(f"{path}: metadata {key} is nested deeper than {MAX_NESTING} levels")
        try:
            schema.model_validate(parsed[key])
        except pydantic.ValidationError as err:
            raise PolicyFileError(f"{path}: invalid metadata: {_first_error(key, err)}") from None
    return PolicySpec.from_dict(parsed["spec"]), parsed["info"]


def _nesting(value: Any) -> int:
    """How deeply lists and mappings nest in parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, (dict, list)):
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _first_error(section: str, err: pydantic.ValidationError) -> str:
    """The first validation error as one line: `spec.hidden: message (got 30000)`."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in (section, *first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    got = "" if first["type"] == "missing" else f" (got {reprlib.repr(first['input'])})"
    return " ".join(f"{where}: {message}{got}".split())


def _check_tensors(path: Path, spec: PolicySpec, slices: dict[str, Any]) -> None:
    """Tensor names, dtypes and sizes against the spec, from the header alone (nothing is read or built)."""
    if sorted(slices) != sorted(TENSORS):
        have = reprlib.repr(sorted(slices))
        raise PolicyFileError(f"{path}: its tensors must be exactly {', '.join(TENSORS)} (it has {have})")
    for name in TENSORS:
        if slices[name].get_dtype() != "F32":
            raise PolicyFileError(f"{path}: tensor {name}: dtype {slices[name].get_dtype()}, expected F32")
    expected = {"params": [spec.num_params], "obs_mean": [spec.obs_dim], "obs_std": [spec.obs_dim]}
    if any(list(slices[name].get_shape()) != shape for name, shape in expected.items()):
        raise PolicyFileError(f"{path}: tensor sizes do not match the {spec.kind} policy it describes")
