"""Reading what the benchmarks print: the agreement check's largest difference per task, as a number."""

from __future__ import annotations

import re

AGREEMENT = re.compile(
    r"^(?P<task>\S+): largest \|return\(local\) - return\(batched (?P<device>[\w ]+)\)\| "
    r"over \d+ members x \d+ episode\(s\) = (?P<value>\S+) \((?P<same>[\d.]+)% of the returns identical\)$",
    re.MULTILINE,
)


def agreement_differences(output: str) -> dict[str, float]:
    """Task id -> the largest |local - batched| difference printed for it (float('0.0') == 0.0; nan never is)."""
    return {match["task"]: float(match["value"]) for match in AGREEMENT.finditer(output)}


def identical_shares(output: str) -> dict[tuple[str, str], float]:
    """(task id, device) -> the share of identical returns printed for it, in [0, 1]."""
    return {(match["task"], match["device"]): float(match["same"]) / 100 for match in AGREEMENT.finditer(output)}
