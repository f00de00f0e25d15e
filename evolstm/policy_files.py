"""Exported policy files: safetensors tensors + JSON metadata, loadable without unpickling any code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from evolstm.atomic import write_bytes
from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec

FORMAT = "evolstm-policy/1"


class PolicyFileError(ValueError):
    """A policy file that is missing, corrupt or does not describe a policy this version can load."""


@dataclass(frozen=True)
class PolicyFile:
    """What a policy file holds: the network spec, its flat parameters, the normalizer and free-form info."""

    spec: PolicySpec
    params: torch.Tensor
    norm: ObsNorm
    info: dict[str, Any]

    def policy(self) -> Policy:
        """The single-member network with these parameters loaded."""
        policy = Policy(self.spec)
        policy.load_flat(self.params)
        return policy


def save_policy(path: Path, spec: PolicySpec, params: torch.Tensor, norm: ObsNorm, info: dict[str, Any]) -> None:
    """Write a policy file atomically."""
    tensors = {
        "params": params.detach().float().cpu().contiguous(),
        "obs_mean": torch.as_tensor(norm.mean, dtype=torch.float32),
        "obs_std": torch.as_tensor(norm.std, dtype=torch.float32),
    }
    meta = {"format": FORMAT, "spec": json.dumps(spec.to_dict()), "info": json.dumps(info)}
    write_bytes(path, save(tensors, metadata=meta))


def load_policy(path: Path) -> PolicyFile:
    """Read a policy file, checking that every part is present and consistent; PolicyFileError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise PolicyFileError(f"{path}: no such policy file")
    try:
        with safe_open(path, framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        if meta.get("format") != FORMAT:
            raise PolicyFileError(f"{path}: not an evolstm policy file (format {meta.get('format')!r})")
        spec = PolicySpec.from_dict(json.loads(meta["spec"]))
        info = json.loads(meta["info"])
        params, mean, std = tensors["params"], tensors["obs_mean"], tensors["obs_std"]
    except PolicyFileError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as err:
        raise PolicyFileError(f"{path}: corrupt policy file ({err})") from None
    try:
        expected = Policy(spec).num_params
    except (ValueError, RuntimeError) as err:  # e.g. an unknown kind or a negative size in the metadata
        raise PolicyFileError(f"{path}: describes no policy this version can build ({err})") from None
    if params.shape != (expected,) or mean.shape != (spec.obs_dim,) or std.shape != (spec.obs_dim,):
        raise PolicyFileError(f"{path}: tensor sizes do not match the {spec.kind} policy it describes")
    return PolicyFile(spec, params, ObsNorm(mean.numpy(), std.numpy()), info)
