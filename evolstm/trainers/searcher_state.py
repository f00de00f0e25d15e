"""An EvoTorch searcher's state as plain data (tensors, numbers, strings, lists, dicts) and back, so that a
checkpoint loads with `torch.load(weights_only=True)` and nothing in it can run code.

EvoTorch keeps no `state_dict`; its searchers are objects whose attributes hold the distribution, optimizer,
population and counters. `capture` walks those attributes; `restore` writes them into a freshly built searcher of
the same configuration (which supplies everything structural: the problem, hooks, bound methods, dtypes, devices).
Those attributes are EvoTorch internals, so `capture` knows each class's full attribute set (KNOWN, read from
evotorch 0.6.0 and 0.6.1, whose internals are identical) and refuses any other attribute or class rather than
silently leave state out of a checkpoint that would then not resume bit for bit.
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

#: The EvoTorch releases whose internals KNOWN describes (pyproject pins evotorch>=0.6,<0.7 accordingly).
KNOWN_EVOTORCH = "0.6.0 and 0.6.1"
_SEARCH_ALGORITHM = (
    "_LazyReporter__computed", "_LazyReporter__getters", "_SinglePopulationAlgorithmMixin__exclude",
    "_after_step_hook", "_before_step_hook", "_end_of_run_hook", "_first_step_datetime", "_log_hook", "_population",
    "_problem", "_steps_count",
)  # fmt: skip
_GAUSSIAN = (
    *_SEARCH_ALGORITHM, "_center_learning_rate", "_distribution", "_ensure_even_popsize", "_first_iter", "_mean_eval",
    "_num_interactions", "_obj_index", "_optimizer", "_popsize", "_popsize_max", "_popsize_weighted_grad_avg",
    "_ranking_method", "_stdev_learning_rate", "_stdev_max", "_stdev_max_change", "_stdev_min", "_step",
)  # fmt: skip
_DISTRIBUTION = (
    "_Distribution__device",
    "_Distribution__dtype",
    "_Distribution__parameters",
    "_Distribution__solution_length",
)
#: Every attribute (captured, or rebuilt and left out) of each EvoTorch class a supported searcher's state holds.
KNOWN: dict[str, frozenset[str]] = {
    name: frozenset(attrs)
    for name, attrs in {
        "evotorch.algorithms.distributed.gaussian:PGPE": (*_GAUSSIAN, "DISTRIBUTION_PARAMS", "DISTRIBUTION_TYPE"),
        "evotorch.algorithms.distributed.gaussian:CEM": (*_GAUSSIAN, "DISTRIBUTION_PARAMS"),
        "evotorch.algorithms.distributed.gaussian:SNES": _GAUSSIAN,
        "evotorch.algorithms.distributed.gaussian:XNES": _GAUSSIAN,
        "evotorch.algorithms.cmaes:CMAES": (
            *_SEARCH_ALGORITHM, "A", "C", "_obj_index", "active", "c_1", "c_c", "c_m", "c_mu", "c_sigma",
            "csa_squared", "damp_sigma", "decompose_C_freq", "last_ex", "m", "mu", "mu_eff", "p_c", "p_sigma",
            "popsize", "separable", "sigma", "stdev_max", "stdev_min", "unbiased_expectation",
            "variance_discount_c", "variance_discount_sigma", "weights",
        ),
        "evotorch.algorithms.ga:GeneticAlgorithm": (
            *_SEARCH_ALGORITHM, "_elitist", "_first_iter", "_operators", "_popsize", "_re_evaluate",
            "_re_evaluate_parents_first", "_using_cross_over",
        ),
        "evotorch.algorithms.ga:Cosyne": (
            *_SEARCH_ALGORITHM, "_cross_over_op", "_first_generation", "_num_elites", "_permutation_op", "_popsize",
            "mutation_op",
        ),
        "evotorch.core:SolutionBatch": ("_data", "_descending", "_evdata", "_num_objs", "_slice"),
        "evotorch.distributions:SeparableGaussian": _DISTRIBUTION,
        "evotorch.distributions:SymmetricSeparableGaussian": _DISTRIBUTION,
        "evotorch.distributions:ExpSeparableGaussian": _DISTRIBUTION,
        "evotorch.distributions:ExpGaussian": (*_DISTRIBUTION, "eye"),
        "evotorch.optimizers:ClipUp": (
            "_device", "_dtype", "_max_speed", "_momentum", "_param_groups", "_stepsize", "_velocity",
        ),
        "evotorch.optimizers:ClipUpParameterGroup": ("clipup",),
        "evotorch.operators.real:GaussianMutation": ("_lb", "_mutation_probability", "_problem", "_stdev", "_ub"),
        "evotorch.operators.real:SimulatedBinaryCrossOver": (
            "_cross_over_rate", "_eta", "_lb", "_num_children", "_obj_index", "_problem", "_tournament_size", "_ub",
        ),
    }.items()
}  # fmt: skip


class UnknownStateError(TypeError):
    """A searcher holds an EvoTorch class or attribute that KNOWN does not list: saving it would lose state."""


def capture(value: Any, _path: tuple[int, ...] = (), _where: str = "") -> Any:
    """Plain-data form of `value`, leaving out what a constructor rebuilds (see SKIPPED, STRUCTURAL) and back
    references to an object being captured (e.g. ClipUp's parameter groups point back to ClipUp); `_where` names
    the value from the searcher down (SNES._distribution) for UnknownStateError."""
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
        items = [capture(item, path, f"{_where}[{i}]") for i, item in enumerate(value)]
        return {"__sequence__": type(value).__name__, "items": items}
    if isinstance(value, dict):
        return {"__dict__": {str(key): capture(item, path, f"{_where}[{key!r}]") for key, item in value.items()}}
    if type(value).__module__.startswith("evotorch") and not _is_problem_or_hook(value):
        where = _where or type(value).__qualname__
        attrs = {
            key: capture(item, path, f"{where}.{key}")
            for key, item in _known_attrs(value, where).items()
            if key not in SKIPPED and _kept(item)
        }
        return {"__object__": f"{type(value).__module__}:{type(value).__qualname__}", "attrs": attrs}
    raise TypeError(f"cannot checkpoint a {type(value).__qualname__}")


def _known_attrs(value: Any, where: str) -> dict[str, Any]:
    """`value`'s attributes, or UnknownStateError naming the first one (or the class) that KNOWN does not list."""
    cls = type(value)
    known = KNOWN.get(f"{cls.__module__}:{cls.__qualname__}")
    what = cls.__qualname__ if where == cls.__qualname__ else f"{where} ({cls.__qualname__})"
    versions = f"evolstm knows EvoTorch {KNOWN_EVOTORCH}; installed: {_evotorch_version()}"
    if known is None:
        raise UnknownStateError(
            f"cannot checkpoint {what}: {cls.__module__}.{cls.__qualname__} is not a class whose state evolstm "
            f"knows how to save ({versions})"
        )
    unknown = sorted(set(vars(value)) - known)
    if unknown:
        raise UnknownStateError(
            f"cannot checkpoint {what}: attribute {unknown[0]!r} is state evolstm does not know how to save "
            f"({versions})"
        )
    return vars(value)


def _evotorch_version() -> str:
    import evotorch

    return str(getattr(evotorch, "__version__", "unknown"))


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
