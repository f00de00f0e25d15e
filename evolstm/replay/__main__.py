"""python -m evolstm.replay RUN_DIR|POLICY_FILE [--policy best|center|final|PATH] [--task ID] [--episodes N]
[--seed S] [--gif FILE | --mp4 FILE] [--video-episodes V] [--out DIR]: play a trained policy and keep its episodes as
data and pictures.

Without --seed the replay plays the run's final-evaluation episodes, so its mean return is the one the run reported;
with --seed S, episode i is reset with seed S + i. The same arguments always give the same replay, bit for bit.
The GIF or MP4 shows the first episode (the first V with --video-episodes V, replayed on their own with the same
seeds); an env that cannot render rgb_array frames is an error before anything is played or written.
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
from evolstm.config.sizes import MAX_EPISODES
from evolstm.environment import EnvStartError, make_env
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
    video.add_argument("--gif", type=Path, metavar="FILE", help="write an animated GIF of the first episode(s)")
    video.add_argument(
        "--mp4", type=Path, metavar="FILE", help="write an MP4 of the first episode(s) (needs evolstm[video])"
    )
    parser.add_argument(
        "--video-episodes",
        type=int,
        metavar="V",
        help="episodes in the GIF/MP4: the first V of --episodes (default 1; the npz and returns keep all)",
    )
    parser.add_argument(
        "--traces", type=int, default=1, metavar="K", help="memory-trace figures for the first K episodes (default 1)"
    )
    parser.add_argument("--fps", type=float, help="animation frames per second (default: the env's render_fps)")
    parser.add_argument("--out", type=Path, help="folder for trajectories and figures (default: RUN_DIR/replays)")
    return parser


def _render_fps(source: ReplaySource, flag: str) -> float:
    """The env's frame rate, or a ReplayError naming the env and why it gives no rgb_array frames (before any play)."""
    env = make_env(source.task)
    modes, fps = env.metadata.get("render_modes", []), float(env.metadata.get("render_fps") or 10)
    env.close()
    cannot = f"{flag}: {source.task.id} cannot be animated"
    if "rgb_array" not in modes:
        raise ReplayError(f"{cannot}: it has no rgb_array render mode (its render modes: {list(modes)})")
    try:
        env = make_env(source.task, "rgb_array")
        try:
            env.reset(seed=0)
            frame = env.render()
        finally:
            env.close()
    except Exception as err:  # noqa: BLE001  (any renderer failure, e.g. its optional dependency pygame is missing)
        line = str(err).splitlines()[0] if str(err) else type(err).__name__
        hint = " (pip install pygame)" if "pygame" in line and "pip install" not in line else ""
        raise ReplayError(f"{cannot}: rendering failed: {line}{hint}") from None
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise ReplayError(f"{cannot}: its rgb_array render gave no image")
    return fps


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
    animation, flag = args.gif or args.mp4, "--gif" if args.gif else "--mp4"
    filmed = _video_episodes(args.video_episodes, episodes, animation is not None)
    if animation and animation.is_dir():
        raise ReplayError(f"{flag} {animation}: is a directory; give a file name")
    if args.mp4:
        require_mp4_support()
    fps = _render_fps(source, flag) if animation else 0.0  # checked before anything is played or written
    out = args.out or (args.source / "replays" if args.source.is_dir() else Path("replays"))
    for folder in (*([animation.parent] if animation else []), out):
        make_folder(folder)
    played = replay(source.policy, source.task, seeds, frames=animation is not None and filmed == episodes)
    if animation and filmed < episodes:  # only the filmed episodes keep frames (100 CartPole episodes: gigabytes)
        video = replay(source.policy, source.task, seeds[:filmed], frames=True)
    else:
        video = played
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
        images = annotated_frames(video.frames, video.arrays["rewards"])
        (write_gif if args.gif else write_mp4)(animation, images, args.fps or fps)
    files = {
        "trajectories": f"{stem}.npz",
        "memory_traces": traces,
        "animation": str(animation) if animation else None,
        "animation_episodes": filmed,
    }
    write_text(out / f"{stem}.json", json.dumps(_index(source, played, files, args.seed), indent=1) + "\n")
    filmed_note = f", {animation} ({filmed} episode{'s' * (filmed > 1)})" if animation else ""
    print(f"wrote {out / stem}.npz, .json, {len(traces)} memory trace(s){filmed_note}")


def _video_episodes(asked: int | None, episodes: int, animated: bool) -> int:
    """How many first episodes the GIF/MP4 shows (0 without one); default 1, so a 100-episode replay stays small."""
    if asked is None:
        return 1 if animated else 0
    if not animated:
        raise ReplayError("--video-episodes is for --gif or --mp4")
    if not 1 <= asked <= episodes:
        raise ReplayError(f"--video-episodes must be in [1, --episodes] = [1, {episodes}], got {asked}")
    return asked


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
