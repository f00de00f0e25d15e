"""Memory-dependent Gymnasium tasks, registered under the ``evolstm/`` namespace."""

from typing import Any

import gymnasium

_SPECS: dict[str, dict[str, Any]] = {
    "evolstm/TMaze-v0": {
        "entry_point": "evolstm.tasks.tmaze:TMazeEnv",
        "vector_entry_point": "evolstm.tasks.tmaze:TMazeVectorEnv",
    },
    "evolstm/MaskedCartPole-v0": {
        "entry_point": "evolstm.tasks.cartpole:MaskedCartPoleEnv",
        "vector_entry_point": "evolstm.tasks.cartpole:MaskedCartPoleVectorEnv",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
    },
    "evolstm/RepeatPrevious-v0": {
        "entry_point": "evolstm.tasks.recall:RepeatPreviousEnv",
        "vector_entry_point": "evolstm.tasks.recall:RepeatPreviousVectorEnv",
    },
    "evolstm/DoublePoleNoVel-v0": {
        "entry_point": "evolstm.tasks.poles:PoleBalancingEnv",
        "vector_entry_point": "evolstm.tasks.poles:PoleBalancingVectorEnv",
        "kwargs": {"poles": 2, "velocities": False},
    },
    "evolstm/SinglePoleNoVel-v0": {
        "entry_point": "evolstm.tasks.poles:PoleBalancingEnv",
        "vector_entry_point": "evolstm.tasks.poles:PoleBalancingVectorEnv",
        "kwargs": {"poles": 1, "velocities": False},
    },
    "evolstm/PassiveTMaze-v0": {
        "entry_point": "evolstm.tasks.passive_tmaze:PassiveTMazeEnv",
        "vector_entry_point": "evolstm.tasks.passive_tmaze:PassiveTMazeVectorEnv",
    },
}

TASK_IDS: tuple[str, ...] = tuple(_SPECS)
#: tasks whose episodes start from one fixed state whatever the seed (the pole-balancing benchmark's standard start)
FIXED_START_TASKS: frozenset[str] = frozenset({"evolstm/DoublePoleNoVel-v0", "evolstm/SinglePoleNoVel-v0"})

for _task_id, _kwargs in _SPECS.items():
    if _task_id not in gymnasium.registry:
        gymnasium.register(id=_task_id, **_kwargs)
