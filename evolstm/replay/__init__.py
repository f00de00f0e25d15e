"""Replays of trained policies: episodes as data (trajectories with LSTM states and gates), animations, memory-trace
and learning-curve figures. Command line: `python -m evolstm.replay` (see __main__)."""
