"""Recurrent policies (LSTM, GRU, peephole LSTM, feed-forward) in two forms that share one parameter layout.

`Policy` is one network (an `nn.Module`, whole-sequence passes through `nn.LSTM`/`nn.GRU`). `PopulationPolicy` runs
P parameter sets at once, each on its own batch of episodes, with batched matmuls over per-member weights (vmap has
no rule for `aten::lstm`). A member's flat vector is `parameters_to_vector(Policy(spec).parameters())`, so both forms
load the same vector. Recurrent state is a tuple of tensors passed in and returned, never kept inside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]

#: Batched GEMM (baddbmm) with an inner size below 4 took ~10x longer than with 4 on CPU (MKL, measured: 200 us vs
#: 18 us for 256 members, 1 x 2 @ 2 x 128), so input weights are zero-padded to at least this many rows.
MIN_INNER = 4


@dataclass(frozen=True)
class PolicySpec:
    """Everything needed to build a policy: network shape and the action space it acts in."""

    kind: str
    obs_dim: int
    action_dim: int
    discrete: bool
    hidden: int
    layers: int
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None

    @classmethod
    def for_spaces(
        cls, kind: str, hidden: int, layers: int, observation_space: gymnasium.Space, action_space: gymnasium.Space
    ) -> PolicySpec:
        """Spec for a flat Box observation space and a Discrete or Box action space."""
        if not isinstance(observation_space, gymnasium.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"observations must be a flat Box, got {observation_space}")
        obs_dim = observation_space.shape[0]
        if isinstance(action_space, gymnasium.spaces.Discrete):
            return cls(kind, obs_dim, int(action_space.n), True, hidden, layers)
        if isinstance(action_space, gymnasium.spaces.Box) and len(action_space.shape) == 1:
            low, high = action_space.low.astype(float), action_space.high.astype(float)
            bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
            return cls(
                kind, obs_dim, action_space.shape[0], False, hidden, layers,
                tuple(low.tolist()) if bounded else None, tuple(high.tolist()) if bounded else None,
            )
        raise ValueError(f"actions must be Discrete or a flat Box, got {action_space}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON metadata of exported policies)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicySpec:
        """Inverse of to_dict; tuples restored."""
        data = dict(data)
        for key in ("action_low", "action_high"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


class PeepholeLSTM(nn.Module):
    """LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also see the cell state."""

    def __init__(self, input_size: int, hidden: int, layers: int) -> None:
        super().__init__()
        for layer in range(layers):
            in_size = input_size if layer == 0 else hidden
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(4 * hidden, in_size)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(4 * hidden, hidden)))
            self.register_parameter(f"bias_l{layer}", nn.Parameter(torch.empty(4 * hidden)))
            self.register_parameter(f"peephole_l{layer}", nn.Parameter(torch.empty(3, hidden)))
        bound = hidden**-0.5
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        self.layers = layers

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x [T, B, I], state (h, c) each [L, B, H] -> (outputs [T, B, H], state)."""
        named = {name: p.unsqueeze(0) for name, p in self.named_parameters()}
        weights = _layer_weights(named, "peephole", self.layers, prefix="")
        h, c = (s.unsqueeze(1) for s in state)
        outputs = []
        for x_t in x:
            y, (h, c) = _recurrent_step("peephole", weights, x_t.unsqueeze(0), (h, c))
            outputs.append(y[0])
        return torch.stack(outputs), (h.squeeze(1), c.squeeze(1))


class Policy(nn.Module):
    """One policy network: a recurrent core (or MLP) and a linear head giving logits or action means."""

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__()
        self.spec = spec
        if spec.kind == "lstm":
            self.core: nn.Module = nn.LSTM(spec.obs_dim, spec.hidden, spec.layers)
        elif spec.kind == "gru":
            self.core = nn.GRU(spec.obs_dim, spec.hidden, spec.layers)
        elif spec.kind == "peephole":
            self.core = PeepholeLSTM(spec.obs_dim, spec.hidden, spec.layers)
        elif spec.kind == "feedforward":
            sizes = [spec.obs_dim] + [spec.hidden] * spec.layers
            self.core = nn.Sequential(*(m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.Tanh())))
        else:
            raise ValueError(f"unknown policy kind {spec.kind!r}; allowed: lstm, gru, peephole, feedforward")
        self.head = nn.Linear(spec.hidden, spec.action_dim)
        if spec.kind in ("lstm", "peephole"):
            self._open_forget_gates()

    @torch.no_grad()
    def _open_forget_gates(self) -> None:
        """Start forget-gate biases at +1 (Gers et al. 2000) so that memories persist before learning shapes them."""
        hidden = self.spec.hidden
        for name, param in self.core.named_parameters():
            if name.startswith(("bias_ih", "bias_l")):
                param[hidden : 2 * hidden] = 1.0
            elif name.startswith("bias_hh"):
                param[hidden : 2 * hidden] = 0.0

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
        return _zero_state(self.spec, (batch,), self.head.weight.device)

    def features(self, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """obs [T, B, obs_dim] -> (last layer's outputs [T, B, hidden], state after the last step)."""
        if self.spec.kind == "feedforward":
            return self.core(obs), state
        if self.spec.kind == "gru":
            y, h = self.core(obs, state[0])
            return y, (h,)
        y, (h, c) = self.core(obs, state)
        return y, (h, c)

    def forward(self, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """obs [T, B, obs_dim] -> (head outputs [T, B, action_dim], state after the last step)."""
        y, state = self.features(obs, state)
        return self.head(y), state


class PopulationPolicy:
    """P parameter sets run at once: obs [P, B, obs_dim] -> outputs [P, B, action_dim], member p with its own weights."""

    def __init__(self, spec: PolicySpec, params: Tensor) -> None:
        layout = [(name, p.shape) for name, p in Policy(spec).named_parameters()]
        expected = sum(int(np.prod(shape)) for _, shape in layout)
        if params.ndim != 2 or params.shape[1] != expected:
            raise ValueError(f"params must be [P, {expected}], got {tuple(params.shape)}")
        self.spec = spec
        self.popsize = params.shape[0]
        named: dict[str, Tensor] = {}
        offset = 0
        for name, shape in layout:
            size = int(np.prod(shape))
            named[name] = params[:, offset : offset + size].reshape(self.popsize, *shape)
            offset += size
        self._weights = _layer_weights(named, spec.kind, spec.layers, prefix="core.")
        self._head_w = named["head.weight"].transpose(1, 2).contiguous()
        self._head_b = named["head.bias"].unsqueeze(1)

    def initial_state(self, batch: int) -> State:
        """Zero state for `batch` episodes per member, each tensor [L, P, batch, H]."""
        return _zero_state(self.spec, (self.popsize, batch), self._head_w.device)

    def step(self, obs: Tensor, state: State, probe: list[dict[str, Tensor]] | None = None) -> tuple[Tensor, State]:
        """One time step for every member and episode; `probe` (if given) gets each layer's gate activations."""
        y, state = _recurrent_step(self.spec.kind, self._weights, obs, state, probe)
        return torch.baddbmm(self._head_b, y, self._head_w), state


def select_action(spec: PolicySpec, out: Tensor) -> Tensor:
    """Deterministic action from head outputs: argmax for discrete, tanh squashed into bounds for Box."""
    if spec.discrete:
        return out.argmax(dim=-1)
    if spec.action_low is None:
        return out
    low = torch.tensor(spec.action_low, dtype=out.dtype, device=out.device)
    high = torch.tensor(spec.action_high, dtype=out.dtype, device=out.device)
    return low + (torch.tanh(out) + 1.0) * 0.5 * (high - low)


def _zero_state(spec: PolicySpec, batch_shape: tuple[int, ...], device: torch.device) -> State:
    """Zero recurrent state shaped [L, *batch_shape, H] per tensor."""
    count = {"lstm": 2, "peephole": 2, "gru": 1, "feedforward": 0}[spec.kind]
    return tuple(torch.zeros(spec.layers, *batch_shape, spec.hidden, device=device) for _ in range(count))


def _layer_weights(named: dict[str, Tensor], kind: str, layers: int, prefix: str) -> list[dict[str, Tensor]]:
    """Per-layer weights as [P, in, out] matrices and [P, 1, out] biases from `named` tensors [P, *shape]."""
    result = []
    for layer in range(layers):
        if kind == "feedforward":
            w = {"w_in": named[f"{prefix}{2 * layer}.weight"], "b": named[f"{prefix}{2 * layer}.bias"]}
        else:
            w = {"w_in": named[f"{prefix}weight_ih_l{layer}"], "w_h": named[f"{prefix}weight_hh_l{layer}"]}
            if kind == "peephole":
                w["b"] = named[f"{prefix}bias_l{layer}"]
                w["peep"] = named[f"{prefix}peephole_l{layer}"].unsqueeze(2)  # [P, 3, 1, H]
            elif kind == "gru":
                w["b"] = named[f"{prefix}bias_ih_l{layer}"]
                w["b_h"] = named[f"{prefix}bias_hh_l{layer}"].unsqueeze(1)
            else:
                w["b"] = named[f"{prefix}bias_ih_l{layer}"] + named[f"{prefix}bias_hh_l{layer}"]
            w["w_h"] = w["w_h"].transpose(1, 2).contiguous()
        w_in = w["w_in"].transpose(1, 2)
        w["w_in"] = torch.nn.functional.pad(w_in, (0, 0, 0, max(0, MIN_INNER - w_in.shape[1]))).contiguous()
        w["b"] = w["b"].unsqueeze(1)
        result.append(w)
    return result


def _pad_inputs(x: Tensor, w_in: Tensor) -> Tensor:
    """Zero-pad inputs to the (padded) inner size of w_in (see MIN_INNER)."""
    missing = w_in.shape[1] - x.shape[-1]
    return torch.nn.functional.pad(x, (0, missing)) if missing else x


def _recurrent_step(
    kind: str, weights: list[dict[str, Tensor]], x: Tensor, state: State, probe: list[dict[str, Tensor]] | None = None
) -> tuple[Tensor, State]:
    """One step of every layer for every member: x [P, B, I], state tensors [L, P, B, H].

    With `probe`, each layer appends its gate activations (LSTM: input/forget/output gates and the cell input;
    GRU: reset/update gates and the candidate; feed-forward: the layer's output as "hidden"), each [P, B, H].
    """
    new_h, new_c = [], []
    for layer, w in enumerate(weights):
        x = _pad_inputs(x, w["w_in"])
        if kind == "feedforward":
            x = torch.tanh(torch.baddbmm(w["b"], x, w["w_in"]))
            if probe is not None:
                probe.append({"hidden": x})
            continue
        h = state[0][layer]
        if kind == "gru":
            gi = torch.baddbmm(w["b"], x, w["w_in"])
            gh = torch.baddbmm(w["b_h"], h, w["w_h"])
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            x = torch.lerp(n, h, z)
            new_h.append(x)
            if probe is not None:
                probe.append({"reset_gate": r, "update_gate": z, "candidate": n})
            continue
        c = state[1][layer]
        gates = torch.baddbmm(torch.baddbmm(w["b"], x, w["w_in"]), h, w["w_h"])
        i, f, g, o = gates.chunk(4, dim=-1)
        if kind == "peephole":
            peep = w["peep"]
            i, f = i + peep[:, 0] * c, f + peep[:, 1] * c
        input_gate, forget_gate, cell_input = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
        c = forget_gate * c + input_gate * cell_input
        if kind == "peephole":
            o = o + peep[:, 2] * c
        output_gate = torch.sigmoid(o)
        x = output_gate * torch.tanh(c)
        new_h.append(x)
        new_c.append(c)
        if probe is not None:
            probe.append(
                {"input_gate": input_gate, "forget_gate": forget_gate, "output_gate": output_gate,
                 "cell_input": cell_input}
            )
    if kind == "feedforward":
        return x, state
    if kind == "gru":
        return x, (torch.stack(new_h),)
    return x, (torch.stack(new_h), torch.stack(new_c))
