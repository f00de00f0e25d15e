"""Animations of replayed episodes: the env's rgb_array frames, each with its episode, step and return drawn above it.

GIF needs only Pillow; MP4 (H.264) needs PyAV (`pip install "evolstm[video]"`). Files are written atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from evolstm.atomic import write_bytes

BANNER_PX = 24


class VideoSupportError(RuntimeError):
    """MP4 output was asked for but PyAV is not installed."""


def annotated_frames(frames: list[list[np.ndarray]], rewards: np.ndarray) -> list[Image.Image]:
    """One image per frame (each episode: its steps + 1 frames), with "episode e/N  step t  return R" on a banner."""
    font = ImageFont.load_default()
    width = max(frame.shape[1] for episode in frames for frame in episode)
    height = max(frame.shape[0] for episode in frames for frame in episode)
    width, height = width + width % 2, height + BANNER_PX + (height + BANNER_PX) % 2  # even sizes suit H.264
    images = []
    for episode, episode_frames in enumerate(frames):
        returns = np.concatenate([[0.0], np.cumsum(rewards[episode])])
        for step, frame in enumerate(episode_frames):
            image = Image.new("RGB", (width, height), (255, 255, 255))
            image.paste(Image.fromarray(np.ascontiguousarray(frame[..., :3]).astype(np.uint8)), (0, BANNER_PX))
            text = f"episode {episode + 1}/{len(frames)}  step {step}  return {returns[step]:.2f}"
            ImageDraw.Draw(image).text((4, 5), text, fill=(0, 0, 0), font=font)
            images.append(image)
    return images


def write_gif(path: Path, images: list[Image.Image], fps: float) -> None:
    """An endlessly looping GIF at `fps` frames per second."""
    data = io.BytesIO()
    images[0].save(data, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0)
    write_bytes(path, data.getvalue())


def require_mp4_support() -> None:
    """VideoSupportError unless PyAV can be imported (checked before a replay plays, not after)."""
    try:
        import av  # noqa: F401
    except ImportError:
        raise VideoSupportError('MP4 output needs PyAV: pip install "evolstm[video]" (or use --gif)') from None


def write_mp4(path: Path, images: list[Image.Image], fps: float) -> None:
    """An H.264 MP4 at `fps` frames per second (PyAV)."""
    require_mp4_support()
    import av

    data = io.BytesIO()
    with av.open(data, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=max(1, round(fps)))
        stream.width, stream.height, stream.pix_fmt = images[0].width, images[0].height, "yuv420p"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())
    write_bytes(path, data.getvalue())
