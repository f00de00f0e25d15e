"""evolstm: train LSTM policies by evolution strategies and REINFORCE on memory tasks."""

from evolstm import tasks as _tasks  # noqa: F401  (registers the evolstm/... Gymnasium ids)
