"""Policy files from anyone: metadata checked against a strict schema before anything is built, tensors checksummed;
whatever a file holds, loading it gives a policy or one PolicyFileError line, and replaying it one `error:` line."""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from safetensors.torch import save_file

from evolstm.normalization import ObsNorm
from evolstm.policies import Policy, PolicySpec
from evolstm.policy_files import FORMAT, PolicyFileError, load_policy, save_policy
from evolstm.replay.__main__ import main

SPEC = PolicySpec("lstm", 3, 4, True, 4, 1)  # a T-maze policy: 164 parameters
INFO: dict[str, Any] = {
    "experiment": "test",
    "task": {"id": "evolstm/TMaze-v0", "kwargs": {"length": 3}, "observe": None, "max_episode_steps": None},
    "seed": 0,
    "final_episodes": 2,
    "policy": "best",
}
DTYPES = [torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.uint8, torch.bool]


@pytest.fixture(autouse=True)
def no_module_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading (and replaying) must never build an nn.Module: a hostile size would allocate it before any check."""

    def refuse(self: Policy, spec: PolicySpec) -> None:
        raise AssertionError(f"a Policy module was built for {spec}")

    monkeypatch.setattr(Policy, "__init__", refuse)


def _tensors(spec: PolicySpec = SPEC) -> dict[str, torch.Tensor]:
    return {
        "params": torch.linspace(-1, 1, spec.num_params),
        "obs_mean": torch.zeros(spec.obs_dim),
        "obs_std": torch.ones(spec.obs_dim),
    }


def _write(
    path: Path, spec: Any, info: Any, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None
) -> Path:
    """A policy file with exactly this metadata and these tensors, its checksum right for whatever tensors it has."""
    digest = hashlib.sha256()
    for name in ("params", "obs_mean", "obs_std"):
        if name in tensors:
            digest.update(tensors[name].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    header = {"format": FORMAT, "spec": json.dumps(spec), "info": json.dumps(info), "sha256": digest.hexdigest()}
    save_file(tensors, path, metadata={**header, **(meta or {})})
    return path


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert match in message and "\n" not in message, message
    return message


def _spec(**changes: Any) -> dict[str, Any]:
    return {**SPEC.to_dict(), **changes}


def _info(**changes: Any) -> dict[str, Any]:
    return {**INFO, **changes}


BAD_METADATA = {
    "hidden-string": (_spec(hidden="4"), INFO, "spec.hidden"),
    "hidden-float": (_spec(hidden=4.0), INFO, "spec.hidden"),
    "hidden-30000": (_spec(hidden=30000), INFO, "spec.hidden"),  # 14.4 GB if a module were built to count
    "hidden-4096-for-164-params": (_spec(hidden=4096), INFO, "tensor sizes do not match"),
    "layers-17": (_spec(layers=17), INFO, "spec.layers"),
    "obs-dim-huge": (_spec(obs_dim=100_001), INFO, "spec.obs_dim"),
    "discrete-string": (_spec(discrete="true"), INFO, "spec.discrete"),
    "unknown-kind": (_spec(kind="transformer"), INFO, "spec.kind: unknown policy kind 'transformer'"),
    "bounds-on-discrete": (_spec(action_low=[0.0] * 4, action_high=[1.0] * 4), INFO, "spec: action bounds"),
    "extra-spec-key": (_spec(colour="red"), INFO, "spec.colour"),
    "nvec-on-box": (_spec(discrete=False, action_nvec=[2, 2]), INFO, "spec: action_nvec is for MultiDiscrete actions"),
    "nvec-wrong-sum": (_spec(action_nvec=[2, 3]), INFO, "spec: action_nvec must sum to action_dim 4"),
    "nvec-zero": (_spec(action_nvec=[4, 0]), INFO, "spec.action_nvec.1"),
    "nvec-negative": (_spec(action_nvec=[5, -1]), INFO, "spec.action_nvec.1"),
    "nvec-empty": (_spec(action_nvec=[]), INFO, "spec.action_nvec"),
    "nvec-nested": (_spec(action_nvec=[[2, 2]]), INFO, "spec.action_nvec.0"),
    "nvec-floats": (_spec(action_nvec=[2.0, 2.0]), INFO, "spec.action_nvec.0"),
    "nvec-string": (_spec(action_nvec="22"), INFO, "spec.action_nvec"),
    "nvec-huge": (_spec(action_nvec=[1] * 100_001), INFO, "spec.action_nvec"),
    "missing-spec-key": ({k: v for k, v in SPEC.to_dict().items() if k != "layers"}, INFO, "spec.layers"),
    "spec-not-a-mapping": ([1, 2], INFO, "spec: "),
    "seed-string": (_spec(), _info(seed="0"), "info.seed"),
    "seed-negative": (_spec(), _info(seed=-1), "info.seed"),
    "seed-2**32": (_spec(), _info(seed=2**32), "info.seed"),
    "final-episodes-1e9": (_spec(), _info(final_episodes=10**9), "info.final_episodes"),
    "max-episode-steps-huge": (
        _spec(),
        _info(task={**INFO["task"], "max_episode_steps": 10**7 + 1}),
        "info.task.max_episode_steps",
    ),
    "task-not-a-mapping": (_spec(), _info(task="evolstm/TMaze-v0"), "info.task"),
    "task-id-with-a-newline": (
        _spec(),
        _info(task={**INFO["task"], "id": "evolstm/TMaze-v0\nerror: x"}),
        "info.task.id",
    ),
    "kwargs-nested-deeply": (_spec(), _info(task={**INFO["task"], "kwargs": {"a": [[[[[[[[[[1]]]]]]]]]]}}), "nested"),
    "kwargs-huge": (_spec(), _info(task={**INFO["task"], "kwargs": {"a": "x" * 20_000}}), "info.task.kwargs"),
}


@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_bad_metadata_is_one_error_before_anything_is_built(tmp_path: Path, case: str) -> None:
    spec, info, match = BAD_METADATA[case]
    _one_line_error(_write(tmp_path / "p.safetensors", spec, info, _tensors()), match)


BAD_TENSORS = {
    "params-float64": ({"params": torch.zeros(164, dtype=torch.float64)}, "params: dtype F64, expected F32"),
    "params-int32": ({"params": torch.zeros(164, dtype=torch.int32)}, "params: dtype I32, expected F32"),
    "obs-std-float16": ({"obs_std": torch.ones(3, dtype=torch.float16)}, "obs_std: dtype F16, expected F32"),
    "params-2d": ({"params": torch.zeros(2, 82)}, "tensor sizes do not match"),
    "obs-mean-too-long": ({"obs_mean": torch.zeros(4)}, "tensor sizes do not match"),
    "extra-tensor": ({"payload": torch.zeros(1)}, "tensors must be exactly"),
    "missing-tensor": ({"obs_std": None}, "tensors must be exactly"),
    "nan-params": ({"params": torch.full((164,), float("nan"))}, "not finite"),
    "zero-std": ({"obs_std": torch.zeros(3)}, "obs_std must be finite and positive"),
}


@pytest.mark.parametrize("case", list(BAD_TENSORS))
def test_bad_tensors_are_one_error(tmp_path: Path, case: str) -> None:
    changes, match = BAD_TENSORS[case]
    tensors = {name: tensor for name, tensor in {**_tensors(), **changes}.items() if tensor is not None}
    _one_line_error(_write(tmp_path / "p.safetensors", SPEC.to_dict(), INFO, tensors), match)


def _data_start(data: bytes) -> int:
    """Offset of the first tensor byte: an 8-byte little-endian header length, then the JSON header."""
    return 8 + int.from_bytes(data[:8], "little")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_flipped_tensor_byte_is_caught_by_the_checksum(tmp_path: Path, where: str) -> None:
    path = tmp_path / "p.safetensors"
    save_policy(path, SPEC, _tensors()["params"], ObsNorm.identity(3), INFO)
    data = bytearray(path.read_bytes())
    start = _data_start(data)
    offset = {"first": start, "middle": (start + len(data)) // 2, "last": len(data) - 1}[where]
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    _one_line_error(path, "corrupt: checksum mismatch")


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"sha256": ""}, "corrupt: checksum mismatch"),
        ({"format": "evolstm-policy/1"}, "written by an older evolstm (evolstm-policy/1); re-export it"),
        ({"format": "evolstm-policy/99"}, "not an evolstm policy file"),
        ({"spec": "{not json"}, "corrupt policy file (metadata spec is not JSON"),
        ({"spec": "[" * 100_000 + "]" * 100_000}, "corrupt policy file (metadata spec is not JSON"),
        ({"comment": "hello"}, "unknown metadata key 'comment'"),
    ],
)
def test_bad_header_fields_are_one_error(tmp_path: Path, meta: dict[str, str], match: str) -> None:
    _one_line_error(_write(tmp_path / "p.safetensors", SPEC.to_dict(), INFO, _tensors(), meta), match)


def test_a_file_without_checksum_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    save_file(_tensors(), path, metadata={"format": FORMAT, "spec": json.dumps(SPEC.to_dict()), "info": "{}"})
    _one_line_error(path, "corrupt: checksum missing")


def test_saved_files_carry_format_2_and_the_tensors_checksum(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    tensors = _tensors()
    save_policy(path, SPEC, tensors["params"], ObsNorm.identity(3), INFO)
    from safetensors import safe_open

    with safe_open(path, framework="pt") as handle:
        meta = handle.metadata()
    rewritten = _write(tmp_path / "q.safetensors", SPEC.to_dict(), INFO, tensors)
    with safe_open(rewritten, framework="pt") as handle:
        assert meta["sha256"] == handle.metadata()["sha256"]  # the documented checksum, recomputed independently
    assert meta["format"] == FORMAT == "evolstm-policy/2"
    assert load_policy(path).params.equal(tensors["params"])


# ---------------------------------------------------------------- property: any mutation of the metadata

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
NEAR_VALID = st.sampled_from(
    [0, 1, 2, 3, 4, 16, 17, 4096, 4097, 30000, 100_001, 10**7, 2**32, -1, "lstm", "gru", True, 3.0, [0.0] * 4, None]
)


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    """A valid file's spec, info and tensors with 1-4 random changes: values replaced, keys removed or added."""
    spec, info = SPEC.to_dict(), copy.deepcopy(INFO)
    parts = {"spec": spec, "info": info, "task": info["task"], "kwargs": info["task"]["kwargs"]}
    tensors = _tensors()
    for _ in range(draw(st.integers(1, 4))):
        part = draw(st.sampled_from([*parts, "tensors"]))
        if part == "tensors":
            name = draw(st.sampled_from(["params", "obs_mean", "obs_std", "payload"]))
            shape = draw(st.lists(st.integers(0, 5), max_size=3))
            if draw(st.booleans()):
                tensors.pop(name, None)
            else:
                tensors[name] = torch.zeros(shape, dtype=draw(st.sampled_from([torch.float32, *DTYPES])))
            continue
        target, operation = parts[part], draw(st.sampled_from(["replace", "remove", "add"]))
        value = draw(JSON_VALUES | NEAR_VALID)
        if operation == "add" or not target:
            target[draw(st.text(max_size=6))] = value
        elif operation == "remove":
            del target[draw(st.sampled_from(sorted(target)))]
        else:
            target[draw(st.sampled_from(sorted(target)))] = value
    return spec, info, tensors


@pytest.mark.properties
@given(case=mutated_files())
def test_any_metadata_loads_or_gives_one_error_and_the_cli_exit_2(
    case: tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]], capsys: pytest.CaptureFixture
) -> None:
    spec, info, tensors = case
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder) / "p.safetensors", spec, info, tensors)
        try:
            loaded = load_policy(path)
        except PolicyFileError as err:
            event("load_policy refused it")
            assert "\n" not in str(err)
            capsys.readouterr()
            assert main([str(path), "--out", f"{folder}/out"]) == 2
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1, err
            return
        assert loaded.params.numel() == loaded.spec.num_params == tensors["params"].numel()
        capsys.readouterr()
        code = main([str(path), "--episodes", "1", "--traces", "0", "--out", f"{folder}/out"])
        err = capsys.readouterr().err
        event(f"loaded; replay exit {code}")
        assert code == 0 or (code == 2 and err.startswith("error: ") and err.count("\n") == 1), err
