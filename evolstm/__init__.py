"""evolstm: train LSTM policies by evolution strategies and REINFORCE on memory tasks.

From Python: `evolstm.train(experiment)` returns a `RunHandle`; `evolstm.load_policy(run)` an `Agent` whose
`act(obs, state)` drives a Gymnasium env of the policy's task (see the README's "From Python"). The API is imported
on first use, so that `import evolstm` (which registers the evolstm/ Gymnasium ids) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from evolstm import tasks as _tasks  # noqa: F401  (registers the evolstm/ Gymnasium ids)

#: public name -> the module that defines it
_API = {
    "Agent": "evolstm.agent",
    "AgentState": "evolstm.agent",
    "RunHandle": "evolstm.api",
    "load_policy": "evolstm.api",
    "load_run": "evolstm.api",
    "train": "evolstm.api",
    "ConfigError": "evolstm.config",
    "Experiment": "evolstm.config",
    "RunFailed": "evolstm.training",
    "RunStopped": "evolstm.stopping",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """The API's names, imported when first asked for (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'evolstm' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
