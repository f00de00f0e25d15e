"""The registry of network kinds: a policy kind names a cell; adding a kind is one cell module plus one entry here."""

from __future__ import annotations

from evolstm.policies.cells.base import Cell
from evolstm.policies.cells.feedforward import FeedForwardCell
from evolstm.policies.cells.gru import GRUCell
from evolstm.policies.cells.lstm import LSTMCell
from evolstm.policies.cells.peephole import PeepholeCell
from evolstm.policies.cells.rnn import RNNCell

#: Policy kind (as `PolicyConfig.kind` spells it) -> its cell.
CELLS: dict[str, type[Cell]] = {
    "lstm": LSTMCell,
    "gru": GRUCell,
    "peephole": PeepholeCell,
    "feedforward": FeedForwardCell,
    "rnn": RNNCell,
}


def cell_for(kind: str) -> type[Cell]:
    """The cell of `kind`; ValueError names the allowed kinds."""
    cell = CELLS.get(kind) if isinstance(kind, str) else None  # a corrupt file may hold any JSON value here
    if cell is None:
        raise ValueError(f"unknown policy kind {kind!r}; allowed: {', '.join(CELLS)}")
    return cell
