"""evolstm: train LSTM policies by evolution strategies and REINFORCE on memory tasks.

From Python: `evolstm.train(experiment)` returns a `RunHandle`; `evolstm.load_policy(run)` an `Agent` whose
`act(obs, state)` drives a Gymnasium env of the policy's task (see the README's "From Python").
"""

from evolstm import tasks as _tasks  # noqa: F401  (registers the evolstm/ Gymnasium ids)
from evolstm.agent import Agent, AgentState
from evolstm.api import RunHandle, load_policy, load_run, train
from evolstm.config import ConfigError, Experiment

__all__ = ["Agent", "AgentState", "ConfigError", "Experiment", "RunHandle", "load_policy", "load_run", "train"]
