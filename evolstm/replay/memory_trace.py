"""The memory-trace figure of one replayed episode: what the policy saw, did and got, and, unit by unit, what its
memory held (LSTM cell state; GRU/RNN/feed-forward hidden state) and how its gates opened, with memory events marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evolstm.plots import save_png  # noqa: E402

#: (array, panel title, value range) per policy family; None means symmetric around 0 at the data's extent.
STATE_PANELS = {
    "lstm": [
        ("cell", "cell state c", None),
        ("input_gate", "input gate i", (0, 1)),
        ("forget_gate", "forget gate f", (0, 1)),
        ("output_gate", "output gate o", (0, 1)),
    ],
    "gru": [
        ("hidden", "hidden state h", (-1, 1)),
        ("update_gate", "update gate z (1 = keep h)", (0, 1)),
        ("reset_gate", "reset gate r", (0, 1)),
    ],
    "feedforward": [("hidden", "hidden activation (no memory)", (-1, 1))],
    "rnn": [("hidden", "hidden state h", (-1, 1)), ("pre_activation", "pre-activation (before tanh)", None)],
}
STATE_PANELS["peephole"] = STATE_PANELS["lstm"]
EVENT_COLORS = {"cue": "tab:orange", "decision": "tab:purple"}


def plot_memory_trace(
    arrays: dict[str, np.ndarray],
    episode: int,
    events: dict[int, str],
    kind: str,
    discrete: bool,
    title: str,
    path: Path,
) -> None:
    """Write the trace of `episode` of a replay (arrays as in recording.ARRAYS) as a PNG; x is the step t."""
    steps = int(arrays["lengths"][episode])
    state_panels = STATE_PANELS[kind]
    rows = 3 + len(state_panels)
    figure, axes = plt.subplots(
        rows, 2, figsize=(11, 1.2 + 1.45 * rows), sharex="col", gridspec_kw={"width_ratios": [60, 1]}, squeeze=False
    )
    extent = (-0.5, steps - 0.5)

    def heatmap(row: int, data: np.ndarray, label: str, limits: tuple[float, float] | None, cmap: str) -> None:
        if limits is None:
            reach = float(np.abs(data).max()) or 1.0
            limits = (-reach, reach)
        image = axes[row, 0].imshow(
            data,
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=limits[0],
            vmax=limits[1],
            extent=(*extent, data.shape[0] - 0.5, -0.5),
        )
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
        figure.colorbar(image, cax=axes[row, 1])

    observations = arrays["observations"][episode, :steps].T
    heatmap(0, observations, "observation", (float(observations.min()), float(observations.max()) or 1.0), "Greys")
    outputs = arrays["outputs"][episode, :steps]
    if discrete:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        heatmap(
            1, (shifted / shifted.sum(axis=1, keepdims=True)).T, "action\n(probability,\ndot: taken)", (0, 1), "Blues"
        )
        axes[1, 0].scatter(np.arange(steps), arrays["actions"][episode, :steps], s=12, c="tab:red")
    else:
        axes[1, 0].plot(arrays["actions"][episode, :steps].reshape(steps, -1), drawstyle="steps-mid")
        axes[1, 0].set_ylabel("action", rotation=0, ha="right", va="center")
        axes[1, 1].axis("off")
    rewards = arrays["rewards"][episode, :steps]
    axes[2, 0].bar(np.arange(steps), rewards, color=np.where(rewards >= 0, "tab:green", "tab:red"), width=0.8)
    axes[2, 0].set_ylabel(f"reward\n(return {rewards.sum():.2f})", rotation=0, ha="right", va="center")
    axes[2, 1].axis("off")
    for row, (name, label, limits) in enumerate(state_panels, start=3):
        values = arrays[name][episode, :steps]  # [T, L, H]
        cmap = "viridis" if limits == (0, 1) else "RdBu_r"
        heatmap(row, values.reshape(steps, -1).T, f"{label}\n(unit)", limits, cmap)
        for layer in range(1, values.shape[1]):
            axes[row, 0].axhline(layer * values.shape[2] - 0.5, color="white", linewidth=1)
    for step, event in sorted(events.items()):
        if step < steps:
            for axis in axes[:, 0]:
                axis.axvline(step, color=EVENT_COLORS.get(event, "tab:gray"), linestyle="--", linewidth=1)
            axes[0, 0].annotate(
                event,
                (step, 1.02),
                xycoords=("data", "axes fraction"),
                ha="center",
                fontsize=8,
                color=EVENT_COLORS.get(event, "tab:gray"),
            )
    axes[-1, 0].set_xlabel("step t (observation o_t, action a_t, reward r_t; state after step t)")
    figure.suptitle(title)
    figure.tight_layout()
    save_png(figure, path)
