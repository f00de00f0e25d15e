"""The EvoX throughput baseline: its LSTM policy is evolstm's, its rollout counts real steps, both figures are positive."""

import gymnasium
import pytest
import torch

pytest.importorskip("evox", reason="the EvoX baseline needs evox (the PyTorch EvoX, >= 1.0)")

from evox.utils import ParamsAndVector

from evolstm.bench.evox_baseline import EvoxLSTMPolicy, LSTMRolloutProblem, evox_throughput
from evolstm.policies import Policy, PolicySpec

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

TMAZE_1 = {"length": 1}  # T-maze length 1 truncates after 4 * (1 + 1) = 8 steps


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("obs", "hidden", "actions"), [(2, 4, 2), (5, 3, 4)])
def test_policy_has_evolstms_parameter_count_and_layout(obs: int, hidden: int, actions: int) -> None:
    spec = PolicySpec("lstm", obs, actions, True, hidden, 1)
    policy = EvoxLSTMPolicy(obs, hidden, actions)
    count = 4 * hidden * (obs + hidden) + 8 * hidden + hidden * actions + actions
    assert sum(p.numel() for p in policy.parameters()) == spec.num_params == count
    evox_layout = tuple((name, tuple(p.shape)) for name, p in policy.named_parameters())
    assert evox_layout == tuple((name, tuple(shape)) for name, shape in spec.layout)


def test_policy_gives_evolstms_outputs_for_the_same_vector() -> None:
    torch.manual_seed(0)
    spec = PolicySpec("lstm", 3, 2, True, 5, 1)
    reference = Policy(spec)
    vector = reference.flat() + 0.3 * torch.randn(spec.num_params)
    reference.load_flat(vector)
    policy = EvoxLSTMPolicy(3, 5, 2)
    params = ParamsAndVector(policy).to_params(vector)
    obs = torch.randn(7, 4, 3)  # [T, B, obs]
    expected, _ = reference(obs, reference.initial_state(4))
    state = (torch.zeros(4, 5), torch.zeros(4, 5))
    outputs = []
    for t in range(7):
        out, state = torch.func.functional_call(policy, params, (obs[t], state))
        outputs.append(out)
    torch.testing.assert_close(torch.stack(outputs), expected.detach(), rtol=1e-5, atol=1e-6)


def _episode(task_id, env_kwargs, policy, params, seed):
    """One episode of one member on a one-env batched env, stepped by hand: (length, return)."""
    env = gymnasium.make_vec(
        task_id,
        num_envs=1,
        vectorization_mode="vector_entry_point",
        device="cpu",
        autoreset_mode=gymnasium.vector.AutoresetMode.DISABLED,
        **env_kwargs,
    )
    obs, _ = env.reset(seed=[seed])
    state = (torch.zeros(1, policy.hidden), torch.zeros(1, policy.hidden))
    length, total = 0, 0.0
    while True:
        logits, state = torch.func.functional_call(policy, params, (obs, state))
        obs, reward, terminated, truncated, _ = env.step(logits.argmax(dim=-1))
        length, total = length + 1, total + float(reward[0])
        if bool(terminated[0] | truncated[0]):
            return length, total


@pytest.mark.parametrize(
    ("task_id", "env_kwargs"),
    [("evolstm/MaskedCartPole-v0", {}), ("evolstm/TMaze-v0", TMAZE_1)],
)
def test_rollout_counts_the_real_episode_lengths_and_returns(task_id: str, env_kwargs: dict) -> None:
    torch.manual_seed(0)
    pop, episodes = 3, 2
    env = gymnasium.make(task_id, **env_kwargs)
    obs_dim, actions = env.observation_space.shape[0], int(env.action_space.n)
    policy = EvoxLSTMPolicy(obs_dim, 4, actions)
    adapter = ParamsAndVector(policy)
    problem = LSTMRolloutProblem(task_id, policy, pop, episodes, env_kwargs, seed=5)
    population = 0.7 * torch.randn(pop, adapter.to_vector(dict(policy.named_parameters())).numel())
    for evaluation in range(2):  # the second evaluation runs new episodes (seeds move on)
        before = problem.env_steps
        fitness = problem.evaluate(adapter.batched_to_params(population))
        steps, means = 0, []
        for m in range(pop):
            params = adapter.to_params(population[m])
            runs = [
                _episode(task_id, env_kwargs, policy, params, 5 + evaluation * episodes + e) for e in range(episodes)
            ]
            steps += sum(length for length, _ in runs)
            means.append(sum(ret for _, ret in runs) / episodes)
        assert problem.env_steps - before == steps
        torch.testing.assert_close(fitness, torch.tensor(means, dtype=fitness.dtype), rtol=1e-5, atol=1e-6)
    assert problem.episodes_done == 2 * pop * episodes
    if task_id == "evolstm/TMaze-v0":
        assert pop * episodes <= steps <= pop * episodes * 8


def _check_row(result: dict, popsize: int, episodes: int, max_length: int) -> None:
    for part in ("eval", "step"):
        assert popsize * episodes <= result[f"{part}_env_steps"] <= popsize * episodes * max_length
        assert result[f"{part}_seconds"] > 0
        assert result[f"{part}_env_steps_per_s"] == pytest.approx(
            result[f"{part}_env_steps"] / result[f"{part}_seconds"]
        )
        assert result[f"{part}_env_steps_per_s"] > 0
    assert result["threads"] == 1
    assert result["popsize"] == popsize and result["episodes"] == episodes
    assert isinstance(result["evox_version"], str) and result["evox_version"]


@pytest.mark.parametrize("param_stdev", [None, 0.5])
def test_both_figures_are_positive_and_bounded(param_stdev) -> None:
    result = evox_throughput(
        "evolstm/TMaze-v0", 3, 4, 2, repeats=2, env_kwargs=TMAZE_1, param_stdev=param_stdev, compile=False
    )
    _check_row(result, 4, 2, 8)
    assert result["compiled"] == 0.0 and result["mirrored_sampling"] == 1.0
    spec = PolicySpec("lstm", 3, 4, True, 3, 1)  # T-maze: 3 observations, 4 actions
    assert result["solution_length"] == spec.num_params


def test_odd_popsize_runs_without_mirrored_sampling() -> None:
    result = evox_throughput("evolstm/TMaze-v0", 2, 3, 1, repeats=1, env_kwargs=TMAZE_1, compile=False)
    _check_row(result, 3, 1, 8)
    assert result["mirrored_sampling"] == 0.0


@pytest.mark.slow
def test_compiled_workflow_step() -> None:
    # torch.compile on the cpu: several seconds of compilation (more on a cold inductor cache).
    result = evox_throughput("evolstm/TMaze-v0", 2, 4, 1, repeats=1, env_kwargs=TMAZE_1, compile=True)
    _check_row(result, 4, 1, 8)
    assert result["compiled"] == 1.0
