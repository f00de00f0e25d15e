"""`Policy`: one network as an `nn.Module` (its cell's core plus a linear head), for gradients and whole sequences."""

from __future__ import annotations

from torch import Tensor, nn

from evolstm.policies.cells.base import State
from evolstm.policies.spec import PolicySpec


class Policy(nn.Module):
    """One policy network: a recurrent core (or MLP) and a linear head giving logits or action means."""

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__()
        self.spec = spec
        self.core = spec.cell.build(spec.obs_dim, spec.hidden, spec.layers)
        self.head = nn.Linear(spec.hidden, spec.action_dim)

    @property
    def num_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(p.numel() for p in self.parameters())

    def flat(self) -> Tensor:
        """The parameters as one vector (the layout ES searches over)."""
        return nn.utils.parameters_to_vector(self.parameters()).detach()

    def load_flat(self, vector: Tensor) -> None:
        """Load a flat vector (as produced by `flat`) into the weights."""
        if vector.shape != (self.num_params,):
            raise ValueError(f"parameter vector has shape {tuple(vector.shape)}, expected ({self.num_params},)")
        nn.utils.vector_to_parameters(vector.to(self.head.weight), self.parameters())

    def initial_state(self, batch: int) -> State:
        """Zero recurrent state for a batch of episodes: (h, c) for LSTMs, (h,) for GRU, () for feed-forward."""
        return self.spec.zero_state((batch,), self.head.weight.device)

    def features(self, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """obs [T, B, obs_dim] -> (last layer's outputs [T, B, hidden], state after the last step)."""
        return self.spec.cell.sequence(self.core, obs, state)

    def forward(self, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """obs [T, B, obs_dim] -> (head outputs [T, B, action_dim], state after the last step)."""
        y, state = self.features(obs, state)
        return self.head(y), state
