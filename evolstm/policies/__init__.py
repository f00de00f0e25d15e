"""Recurrent policies (LSTM, GRU, peephole LSTM, feed-forward) in two forms that share one parameter layout.

Each kind is a cell (`cells/`, registered in `CELLS`). `Policy` is one network (an `nn.Module`, whole-sequence passes
through `nn.LSTM`/`nn.GRU`). `PopulationPolicy` runs P parameter sets at once with batched matmuls. A member's flat
vector is `parameters_to_vector(Policy(spec).parameters())`, laid out as `PolicySpec.layout`, so both forms load the
same vector. Recurrent state is a tuple of tensors passed in and returned, never kept inside.
"""

from evolstm.policies.cells import CELLS
from evolstm.policies.cells.base import MIN_INNER, State
from evolstm.policies.cells.peephole import PeepholeLSTM
from evolstm.policies.network import Policy
from evolstm.policies.population import PopulationPolicy
from evolstm.policies.spec import PolicySpec, select_action

__all__ = ["CELLS", "MIN_INNER", "PeepholeLSTM", "Policy", "PolicySpec", "PopulationPolicy", "State", "select_action"]
