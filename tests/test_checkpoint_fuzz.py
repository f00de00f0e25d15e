"""Property: a checkpoint whose run-level entries (counters, generator states, normalizer, best policy, config,
the searcher's captured state as a whole) are replaced by random values or removed either resumes or gives one
`error:` line and exit 2, changing nothing in the run directory; never a traceback. (The searcher's and the
network's inner state are checked by their own loaders and are not fuzzed here.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from evolstm.checkpoints import load_checkpoint, save_checkpoint
from evolstm.run import main
from evolstm.training import train
from tests.conftest import make_experiment

pytestmark = pytest.mark.properties

ENTRIES = [
    "metrics_rows", "wall_time", "config", "rng", "rng.torch", "rng.numpy", "rng.python", "trainer",
    "trainer.steps", "trainer.env_steps", "trainer.reached", "trainer.stop_at", "trainer.best", "trainer.norm_mean",
    "trainer.norm_std", "trainer.stats", "trainer.stats.total", "trainer.stats.count", "trainer.searcher",
]  # fmt: skip
TENSORS = st.builds(
    lambda shape, dtype: torch.zeros(shape, dtype=dtype),
    st.lists(st.integers(0, 4), max_size=2).map(tuple),
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]),
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=5) | TENSORS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=4,
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    return train(make_experiment(trainer={"generations": 2}), out, quiet=True).path


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@given(entry=st.sampled_from(ENTRIES), value=VALUES, delete=st.booleans())
def test_a_damaged_checkpoint_resumes_or_gives_one_line(
    finished: Path, tmp_path_factory: pytest.TempPathFactory, entry: str, value: Any, delete: bool
) -> None:
    run = tmp_path_factory.mktemp("copy") / "run"
    shutil.copytree(finished, run)
    state = load_checkpoint(run / "checkpoint.pt")
    *parents, leaf = entry.split(".")
    node = state
    for part in parents:
        node = node[part]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    save_checkpoint(run / "checkpoint.pt", {k: v for k, v in state.items() if k != "format"})
    before = _snapshot(run)
    with pytest.MonkeyPatch.context() as patch:
        errors: list[str] = []
        patch.setattr("sys.stderr.write", errors.append, raising=False)
        code = main(["--resume", str(run), "--set", "trainer.generations=3", "--allow-change", "--quiet"])
    err = "".join(errors)
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert _snapshot(run) == before
