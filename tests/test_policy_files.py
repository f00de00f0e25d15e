"""Exported policy files: safe round trip; corrupt or mismatched files give one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec
from evolstm.policy_files import PolicyFileError, load_policy, save_policy

SPEC = PolicySpec("gru", 3, 2, True, 4, 1)


def _save(path: Path) -> torch.Tensor:
    params = torch.randn(Policy(SPEC).num_params)
    norm = ObsNorm(np.array([1, 2, 3], np.float32), np.array([0.5, 1, 2], np.float32))
    save_policy(path, SPEC, params, norm, {"task": {"id": "x"}})
    return params


def test_round_trip(tmp_path: Path) -> None:
    params = _save(tmp_path / "p.safetensors")
    loaded = load_policy(tmp_path / "p.safetensors")
    assert loaded.spec == SPEC and loaded.params.equal(params) and loaded.info == {"task": {"id": "x"}}
    np.testing.assert_array_equal(loaded.norm.std, [0.5, 1, 2])
    assert loaded.policy().flat().equal(params)
    assert [p.name for p in tmp_path.iterdir()] == ["p.safetensors"]  # no temp files left behind


def test_a_multi_discrete_policy_round_trips(tmp_path: Path) -> None:
    spec = PolicySpec("lstm", 3, 5, True, 4, 1, action_nvec=(2, 3))
    params = torch.randn(spec.num_params)
    save_policy(tmp_path / "p.safetensors", spec, params, ObsNorm.identity(3), {})
    loaded = load_policy(tmp_path / "p.safetensors")
    assert loaded.spec == spec and loaded.spec.action_nvec == (2, 3) and loaded.params.equal(params)


def test_a_wrapped_tasks_wrappers_round_trip_and_are_bounded(tmp_path: Path) -> None:
    """A run's task with `wrappers` saves and loads (replays rebuild the wrapped env); oversized kwargs are refused."""
    params, norm = torch.zeros(Policy(SPEC).num_params), ObsNorm.identity(3)
    wrapper = {"path": "popgym.wrappers.PreviousAction", "kwargs": {"null_action": 0}}
    save_policy(tmp_path / "p.safetensors", SPEC, params, norm, {"task": {"id": "x", "wrappers": [wrapper]}})
    assert load_policy(tmp_path / "p.safetensors").info["task"]["wrappers"] == [wrapper]
    huge = {"path": "a.B", "kwargs": {"x": "y" * 20_000}}
    save_policy(tmp_path / "q.safetensors", SPEC, params, norm, {"task": {"id": "x", "wrappers": [huge]}})
    with pytest.raises(PolicyFileError, match="kwargs may take at most"):
        load_policy(tmp_path / "q.safetensors")


def test_corrupt_truncated_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    _save(path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(PolicyFileError, match="corrupt policy file"):
        load_policy(path)
    path.write_bytes(b"\x00" * 5)
    with pytest.raises(PolicyFileError, match="corrupt policy file"):
        load_policy(path)
    with pytest.raises(PolicyFileError, match="no such policy file"):
        load_policy(tmp_path / "absent.safetensors")


def test_mismatched_sizes(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    save_policy(path, SPEC, torch.zeros(5), ObsNorm.identity(3), {})
    with pytest.raises(PolicyFileError, match="tensor sizes do not match the gru policy"):
        load_policy(path)


def test_metadata_describing_no_buildable_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    save_policy(path, PolicySpec("transformer", 3, 2, True, 4, 1), torch.zeros(5), ObsNorm.identity(3), {})
    with pytest.raises(PolicyFileError, match="invalid metadata: spec.kind: unknown policy kind 'transformer'"):
        load_policy(path)
