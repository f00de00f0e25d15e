"""An EvoTorch searcher's state as plain data (tensors, numbers, strings, lists, dicts) and back, so that a
checkpoint loads with `torch.load(weights_only=True)` and nothing in it can run code.

EvoTorch keeps no `state_dict`; its searchers are objects whose attributes hold the distribution, optimizer,
population and counters. `capture` walks those attributes; `restore` writes them into a freshly built searcher of
the same configuration (which supplies everything structural: the problem, hooks, bound methods, dtypes, devices).
"""

from __future__ import annotations

import datetime
import sys
from typing import Any

import numpy as np
import torch

#: Attributes rebuilt by the constructor or only used for reporting; never captured.
SKIPPED = ("_problem", "_LazyReporter__getters", "_LazyReporter__computed", "_first_step_datetime")
STRUCTURAL = (torch.dtype, torch.device, datetime.datetime, type, set, frozenset)


def capture(value: Any, _path: tuple[int, ...] = ()) -> Any:
    """Plain-data form of `value`, leaving out what a constructor rebuilds (see SKIPPED, STRUCTURAL) and back
    references to an object being captured (e.g. ClipUp's parameter groups point back to ClipUp)."""
    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor).detach().clone()
    if isinstance(value, torch.Generator):
        return {"__generator__": value.get_state()}
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
        return {"__numpy__": value.dtype.str, "value": value.item()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(value.copy())}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if id(value) in _path:
        return {"__back_reference__": True}
    path = (*_path, id(value))
    if isinstance(value, (list, tuple)):
        return {"__sequence__": type(value).__name__, "items": [capture(item, path) for item in value]}
    if isinstance(value, dict):
        return {"__dict__": {str(key): capture(item, path) for key, item in value.items()}}
    if type(value).__module__.startswith("evotorch") and not _is_problem_or_hook(value):
        attrs = {key: capture(item, path) for key, item in vars(value).items() if key not in SKIPPED and _kept(item)}
        return {"__object__": f"{type(value).__module__}:{type(value).__qualname__}", "attrs": attrs}
    raise TypeError(f"cannot checkpoint a {type(value).__qualname__}")


def restore(live: Any, saved: Any) -> Any:
    """The value `saved` stands for, written into `live` (the fresh object's value) where it is an object."""
    if isinstance(saved, torch.Tensor):
        return saved.as_subclass(type(live)) if isinstance(live, torch.Tensor) else saved
    if not isinstance(saved, dict):
        return saved
    if "__back_reference__" in saved:
        return live
    if "__generator__" in saved:
        live.set_state(saved["__generator__"])
        return live
    if "__ndarray__" in saved:
        return saved["__ndarray__"].numpy()
    if "__numpy__" in saved:
        return np.dtype(saved["__numpy__"]).type(saved["value"])
    if "__sequence__" in saved:
        items = [restore(_item(live, i), item) for i, item in enumerate(saved["items"])]
        return tuple(items) if saved["__sequence__"] == "tuple" else items
    if "__dict__" in saved:
        old = live if isinstance(live, dict) else {}
        return {key: restore(old.get(key), item) for key, item in saved["__dict__"].items()}
    module, _, name = str(saved["__object__"]).partition(":")
    loaded = sys.modules.get(module) if module == "evotorch" or module.startswith("evotorch.") else None
    cls = getattr(loaded, name, None)  # only classes of EvoTorch modules already imported: a file imports nothing
    if not isinstance(cls, type):
        raise ValueError(f"checkpoint names {saved['__object__']!r:.80}, not an EvoTorch class")
    target = live if type(live) is cls else cls.__new__(cls)
    for key, item in saved["attrs"].items():
        setattr(target, key, restore(getattr(target, key, None), item))
    return target


def capture_searcher(searcher: Any) -> dict[str, Any]:
    """The searcher's state and its problem's random generator."""
    return {"searcher": capture(searcher), "generator": capture(searcher.problem.generator)}


def restore_searcher(searcher: Any, state: dict[str, Any]) -> None:
    """Put a captured state into a fresh searcher built from the same configuration (ValueError for a state that is
    not a captured searcher)."""
    saved = state.get("searcher") if isinstance(state, dict) else None
    if not isinstance(saved, dict) or "__object__" not in saved or not isinstance(saved.get("attrs"), dict):
        raise ValueError("searcher: not a captured EvoTorch searcher")
    restore(searcher, state["searcher"])
    restore(searcher.problem.generator, state["generator"])
    searcher.clear_status()  # cached status values belong to the fresh searcher


def _is_problem_or_hook(value: Any) -> bool:
    from evotorch import Problem
    from evotorch.tools.hook import Hook

    return isinstance(value, (Problem, Hook))


def _kept(value: Any) -> bool:
    """Whether an attribute holds state rather than structure (callables, problems, hooks, dtypes...)."""
    return not (callable(value) or isinstance(value, STRUCTURAL) or _is_problem_or_hook(value))


def _item(live: Any, index: int) -> Any:
    return live[index] if isinstance(live, (list, tuple)) and index < len(live) else None
