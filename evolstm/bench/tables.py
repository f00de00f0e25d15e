"""The throughput rows as a markdown table (what the README shows): env steps/s per path, one line per task and
population, and the ratios that say where a speed-up comes from."""

from __future__ import annotations

from typing import Any

#: (column title, path) in the order the table shows them
PATHS = (
    ("evolstm local", "evolstm local"),
    ("batched eager", "evolstm batched cpu"),
    ("batched compiled", "evolstm compiled cpu"),
    ("bare step (all alive)", "bare step cpu"),
    ("GymNE", "evotorch GymNE"),
    ("VecGymNE", "evotorch VecGymNE"),
    ("VecGymNE + evolstm env", "evotorch VecGymNE + evolstm env"),
    ("EvoX evaluate", "evox OpenES evaluate"),
    ("EvoX step", "evox OpenES workflow.step"),
)


def _rate(value: float | None) -> str:
    """Env steps/s as 12k, 1.2M or '-'."""
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    """numerator / denominator as 1.23x, or '-' when either is missing."""
    return "-" if numerator is None or not denominator else f"{numerator / denominator:.2f}x"


def throughput_markdown(rows: list[dict[str, Any]]) -> str:
    """Two tables: env steps/s of every path; then the ratios and evolstm's memory per member."""
    groups: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["popsize"]), {})[row["path"]] = row
    titles = [title for title, _ in PATHS]
    rates = ["| task | pop | " + " | ".join(titles) + " |", "|---|---:|" + "---:|" * len(titles)]
    ratios = [
        "| task | pop | eager step / bare step | compiled / eager | VecGymNE: evolstm env / scalar envs "
        "| eager / VecGymNE + evolstm env | eager / EvoX evaluate | compiled / EvoX evaluate | KB per member (eager) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (task, popsize), paths in groups.items():

        def rate(path: str) -> float | None:
            """The path's env steps/s in this group, if it ran."""
            return paths[path]["env_steps_per_s"] if path in paths else None

        name = task.split("/")[-1]
        rates.append(f"| {name} | {popsize:,} | " + " | ".join(_rate(rate(path)) for _, path in PATHS) + " |")
        eager = paths.get("evolstm batched cpu", {})
        bare = paths.get("bare step cpu", {})
        cells = [
            _ratio(eager.get("step_ms"), bare.get("step_ms")),
            _ratio(rate("evolstm compiled cpu"), rate("evolstm batched cpu")),
            _ratio(rate("evotorch VecGymNE + evolstm env"), rate("evotorch VecGymNE")),
            _ratio(rate("evolstm batched cpu"), rate("evotorch VecGymNE + evolstm env")),
            _ratio(rate("evolstm batched cpu"), rate("evox OpenES evaluate")),
            _ratio(rate("evolstm compiled cpu"), rate("evox OpenES evaluate")),
            f"{eager['kb_per_member']:.0f}" if "kb_per_member" in eager else "-",
        ]
        ratios.append(f"| {name} | {popsize:,} | " + " | ".join(cells) + " |")
    return "\n".join(rates) + "\n\n" + "\n".join(ratios) + "\n"
