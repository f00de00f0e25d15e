"""python -m evolstm.replay RUN_DIR|POLICY_FILE [--policy best|center|final|PATH] [--task ID] [--episodes N]
[--seed S] [--gif FILE | --mp4 FILE] [--out DIR]: play a trained policy and keep its episodes as data and pictures.

Without --seed the replay plays the run's final-evaluation episodes, so its mean return is the one the run reported;
with --seed S, episode i is reset with seed S + i. The same arguments always give the same replay, bit for bit.
A policy file never imports code: a task id in its metadata that names a module ("module:Env-v0") is refused; pass
--task ID if you trust that module, or replay from the run directory (whose config.yaml you ran).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from evolstm import cli
from evolstm.atomic import write_bytes, write_text
from evolstm.environment import EnvStartError, make_env
from evolstm.config.sizes import MAX_EPISODES
from evolstm.policy_files import PolicyFileError
from evolstm.replay.animation import (
    VideoSupportError,
    annotated_frames,
    require_mp4_support,
    write_gif,
    write_mp4,
)
from evolstm.replay.memory_trace import plot_memory_trace
from evolstm.replay.recording import ARRAYS, Replay, replay
from evolstm.replay.source import ReplayError, ReplaySource, resolve
from evolstm.rollout import EpisodeError
from evolstm.seeding import final_episode_seeds


def _parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m evolstm.replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="a run directory, or a policy file (.safetensors) on its own")
    parser.add_argument("--policy", default="best", help="exported policy name (best, center, final) or a file path")
    parser.add_argument(
        "--task", metavar="ID", help="a policy file's task id, instead of its metadata's (kwargs still from there)"
    )
    parser.add_argument(
        "--episodes", type=int, help=f"episodes to play, at most {MAX_EPISODES} (default: the run's final_episodes)"
    )
    parser.add_argument("--seed", type=int, help="reset seed of the first episode (default: the run's final episodes)")
    video = parser.add_mutually_exclusive_group()
    video.add_argument("--gif", type=Path, metavar="FILE", help="write an animated GIF of the episodes")
    video.add_argument("--mp4", type=Path, metavar="FILE", help="write an MP4 of the episodes (needs evolstm[video])")
    parser.add_argument(
        "--traces", type=int, default=1, metavar="K", help="memory-trace figures for the first K episodes (default 1)"
    )
    parser.add_argument("--fps", type=float, help="animation frames per second (default: the env's render_fps)")
    parser.add_argument("--out", type=Path, help="folder for trajectories and figures (default: RUN_DIR/replays)")
    return parser


def _renders(source: ReplaySource) -> tuple[str | None, float]:
    """(why the task cannot give rgb_array frames, or None; the env's frame rate)."""
    env = make_env(source.task)
    modes, fps = env.metadata.get("render_modes", []), float(env.metadata.get("render_fps") or 10)
    env.close()
    if "rgb_array" not in modes:
        return "it has no rgb_array render mode", fps
    env = make_env(source.task, "rgb_array")
    try:
        env.reset(seed=0)
        frame = env.render()
    except Exception as err:  # e.g. a renderer whose optional dependency (pygame) is missing
        return f"rendering failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}", fps
    finally:
        env.close()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        return "its rgb_array render gave no image", fps
    return None, fps


def _index(source: ReplaySource, played: Replay, files: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The replay's JSON index: what was played, what came out, and what each array holds."""
    arrays = played.arrays
    return {
        "policy": source.name,
        "policy_kind": source.policy.spec.kind,
        "task": source.task.model_dump(mode="json"),
        "episodes": "final evaluation" if seed is None else f"seed {seed} + i",
        "seeds": arrays["seeds"].tolist(),
        "returns": arrays["returns"].tolist(),
        "lengths": arrays["lengths"].tolist(),
        "mean_return": float(arrays["returns"].mean()),
        "reported_mean_return": source.reported_return,
        "events": [{str(step): event for step, event in events.items()} for events in played.events],
        "files": files,
        "arrays": {name: doc for name, doc in ARRAYS.items() if name in arrays},
    }


def run_replay(args: argparse.Namespace) -> None:
    """Resolve, play, print and write; raises ReplayError or VideoSupportError for user mistakes."""
    source = resolve(args.source, args.policy, args.task)
    episodes = args.episodes if args.episodes is not None else source.final_episodes or 10
    if not 1 <= episodes <= MAX_EPISODES:
        raise ReplayError(
            f"--episodes must be in [1, {MAX_EPISODES}] (default: the run's final_episodes), got {episodes}"
        )
    if args.traces < 0:
        raise ReplayError(f"--traces must be at least 0, got {args.traces}")
    if args.seed is not None and not 0 <= args.seed <= 2**32 - episodes:
        raise ReplayError(f"--seed must be in [0, 2**32 - episodes], got {args.seed}")
    if args.fps is not None and not 0 < args.fps <= 1000:
        raise ReplayError(f"--fps must be in (0, 1000], got {args.fps}")
    seeds = (
        final_episode_seeds(source.run_seed, episodes)[0]
        if args.seed is None
        else args.seed + np.arange(episodes, dtype=np.int64)
    )
    animation = args.gif or args.mp4
    if animation and animation.is_dir():
        raise ReplayError(f"--{'gif' if args.gif else 'mp4'} {animation}: is a directory; give a file name")
    if args.mp4:
        require_mp4_support()
    out = args.out or (args.source / "replays" if args.source.is_dir() else Path("replays"))
    for folder in (*([animation.parent] if animation else []), out):
        make_folder(folder)
    why_not, fps = _renders(source) if animation else (None, 0.0)
    if why_not:
        print(f"warning: no animation: {source.task.id}: {why_not}", file=sys.stderr)
        animation = None
    played = replay(source.policy, source.task, seeds, frames=animation is not None)
    arrays = played.arrays
    for i, (seed, ret, length) in enumerate(zip(arrays["seeds"], arrays["returns"], arrays["lengths"])):
        print(f"episode {i:>4}  seed {seed:>10}  return {ret:10.3f}  steps {length:>6}")
    reported = (
        ""
        if source.reported_return is None or args.seed is not None or episodes != source.final_episodes
        else f" (the run reported {source.reported_return:.3f})"
    )
    print(f"mean return {arrays['returns'].mean():.3f} over {episodes} episodes{reported}")

    stem = f"{source.name}-{'final' if args.seed is None else f'seed{args.seed}'}-{episodes}"
    data = io.BytesIO()
    np.savez_compressed(data, **arrays)
    write_bytes(out / f"{stem}.npz", data.getvalue())
    spec = source.policy.spec
    traces = []
    for i in range(min(args.traces, episodes)):
        title = (
            f"{source.task.id} | {spec.kind} {spec.hidden}x{spec.layers} | {source.name} policy | episode {i} "
            f"(seed {arrays['seeds'][i]}) return {arrays['returns'][i]:.2f}"
        )
        traces.append(f"{stem}-memory-{i}.png")
        one_choice = spec.discrete and spec.action_nvec is None  # several choices per step plot as lines
        plot_memory_trace(arrays, i, played.events[i], spec.kind, one_choice, title, out / traces[-1])
    if animation:
        images = annotated_frames(played.frames, arrays["rewards"])
        (write_gif if args.gif else write_mp4)(animation, images, args.fps or fps)
    files = {"trajectories": f"{stem}.npz", "memory_traces": traces, "animation": str(animation) if animation else None}
    write_text(out / f"{stem}.json", json.dumps(_index(source, played, files, args.seed), indent=1) + "\n")
    print(f"wrote {out / stem}.npz, .json, {len(traces)} memory trace(s)" + (f", {animation}" if animation else ""))


def make_folder(folder: Path) -> None:
    """Create an output folder (and its parents) or say in one line why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReplayError(f"{folder}: cannot write there ({err.strerror or err})") from None


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 2 on a user mistake, 1 when the task's env fails (one line on stderr either way)."""
    args = _parser().parse_args(argv)
    try:
        run_replay(args)
    except (ReplayError, PolicyFileError, VideoSupportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (EnvStartError, EpisodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
