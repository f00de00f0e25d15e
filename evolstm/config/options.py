"""Checks of the EvoTorch searcher options evolstm knows, so values that cannot be right (a negative stdev, a
population of -5, a CEM population without two parents) fail with the config, before any run starts. Option names
are left to evolstm/trainers/es.py, which knows what each searcher accepts."""

from __future__ import annotations

import math
from typing import Any

from evolstm.config.sizes import MAX_POPSIZE

#: CEM's parenthood_ratio unless options set one (evolstm/trainers/es.py passes the same default)
CEM_PARENTHOOD_RATIO = 0.25

#: options that are spreads, learning rates or step sizes: positive finite numbers (or lists of them)
POSITIVE = frozenset(
    {
        "stdev_init",
        "radius_init",
        "stdev_max",
        "stdev_max_change",
        "center_learning_rate",
        "stdev_learning_rate",
        "scale_learning_rate",
        "mutation_stdev",
        "eta",
        "damp_sigma",
        "c_sigma_ratio",
        "damp_sigma_ratio",
        "c_c_ratio",
        "c_1_ratio",
        "c_mu_ratio",
    }
)
#: options that may be zero: lower bounds of the spread
NON_NEGATIVE = frozenset({"stdev_min"})
#: fractions up to 1 -> whether 0 is allowed too
FRACTIONS = {
    "parenthood_ratio": False,
    "c_m": False,
    "c_sigma": True,
    "c_c": True,
    "c_1": True,
    "c_mu": True,
    "mutation_probability": True,
    "cross_over_rate": True,
    "elitism_ratio": True,
}
#: switches: true or false
FLAGS = frozenset(
    {
        "symmetric",
        "separable",
        "active",
        "csa_squared",
        "limit_C_decomposition",
        "elitist",
        "re_evaluate",
        "re_evaluate_parents_first",
        "permute_all",
        "distributed",
        "popsize_weighted_grad_avg",
    }
)

#: integer options -> (lowest, highest): "popsize" is the population's size, None no upper limit
COUNTS: dict[str, tuple[int, int | str | None]] = {
    "popsize": (2, MAX_POPSIZE),
    "popsize_max": (2, MAX_POPSIZE),
    "num_children": (1, MAX_POPSIZE),
    "tournament_size": (1, "popsize"),
    "num_elites": (0, "popsize"),
    "num_interactions": (1, None),
}


def _is_int(value: Any) -> bool:
    """Whether the value is an integer (YAML's true and false are not counts)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value: Any) -> list[float] | None:
    """A number or a non-empty list of numbers as floats; None for anything else (booleans included)."""
    values = value if isinstance(value, list) and value else [value]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return None


def check_options(options: dict[str, Any], popsize: int | None) -> None:
    """ValueError (one line) for the first option whose value cannot be right; `popsize` is trainer.popsize (None if
    it failed validation itself); options.popsize, when set, replaces it."""
    for key, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"option {key} must be a finite number, got {value}")
    if _is_int(options.get("popsize")) and 2 <= options["popsize"] <= MAX_POPSIZE:
        popsize = options["popsize"]
    for key, value in options.items():
        numbers = _numbers(value)
        if key in POSITIVE and (numbers is None or not all(0 < v < math.inf for v in numbers)):
            raise ValueError(f"option {key} must be a positive finite number (or a list of them), got {value!r}")
        if key in NON_NEGATIVE and (numbers is None or not all(0 <= v < math.inf for v in numbers)):
            raise ValueError(f"option {key} must be a finite number >= 0 (or a list of them), got {value!r}")
        if key in FRACTIONS:
            zero = FRACTIONS[key]
            if isinstance(value, list) or numbers is None or not (0 < numbers[0] <= 1 or zero and numbers[0] == 0):
                raise ValueError(f"option {key} must be a number in {'[' if zero else '('}0, 1], got {value!r}")
        if key in FLAGS and not isinstance(value, bool):
            raise ValueError(f"option {key} must be true or false, got {value!r}")
        if key in COUNTS:
            low, high = COUNTS[key]
            high = (popsize or MAX_POPSIZE) if high == "popsize" else high
            if not _is_int(value) or value < low or (high is not None and value > high):
                span = f"from {low} to {high}" if high is not None else f">= {low}"
                raise ValueError(f"option {key} must be an integer {span}, got {value!r}")


def parents_problem(algorithm: str, popsize: int, options: dict[str, Any]) -> str | None:
    """Why the searcher would have too few parents (CEM's std of one parent is NaN; Cosyne with none fails), or None.
    Expects options that passed `check_options`."""
    popsize = options.get("popsize", popsize)
    if algorithm == "cem":
        ratio = options.get("parenthood_ratio", CEM_PARENTHOOD_RATIO)
        if math.floor(popsize * ratio) < 2:
            needed = math.ceil(2 / ratio)
            while math.floor(needed * ratio) < 2:  # rounding of the product
                needed += 1
            return (
                f"cem needs at least 2 parents (popsize × parenthood_ratio): popsize {popsize} × {ratio} leaves "
                f"{math.floor(popsize * ratio)}; use popsize >= {needed} (or a larger options.parenthood_ratio)"
            )
    if algorithm == "cosyne" and popsize < 4:
        return f"cosyne takes popsize // 4 members as parents: popsize {popsize} leaves none; use popsize >= 4"
    return None
