"""Documented upper limits of every size in an experiment, checked by the schema before anything is allocated."""

from __future__ import annotations

import os

#: trainer.popsize (and the searcher options popsize, popsize_max): members of one ES generation
MAX_POPSIZE = 1_000_000
#: policy.hidden: units per layer (an LSTM layer of 4,096 units has 134 million weights)
MAX_HIDDEN = 4096
#: policy.layers: stacked recurrent (or hidden) layers
MAX_LAYERS = 16
#: threads: torch intra-op threads; 4 per CPU of this machine (torch crashed with 100,000)
MAX_THREADS = 4 * (os.cpu_count() or 1)
#: trainer.episodes (per member, or per REINFORCE update), evaluation.greedy_episodes and final_episodes
MAX_EPISODES = 100_000
#: task.max_episode_steps and trainer.bptt: steps of one episode
MAX_EPISODE_STEPS = 10_000_000
