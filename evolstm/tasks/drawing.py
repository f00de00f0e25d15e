"""Tiny pure-numpy raster helpers shared by the task renderers.

All functions draw in place on an ``(H, W, 3)`` ``uint8`` canvas. Pixel coordinates are
``(x, y)`` with ``x`` the column and ``y`` the row (``y`` grows downwards); shapes that
reach past the canvas are clipped.
"""

import gymnasium as gym
import numpy as np

Color = tuple[int, int, int]


def warn_no_render_mode(task_id: str) -> None:
    """Gymnasium's warning for render() on an env made without a render mode (the caller then returns None)."""
    gym.logger.warn(
        "You are calling render method without specifying any render mode, "
        f'e.g. gym.make("{task_id}", render_mode="rgb_array")'
    )


def canvas(height: int, width: int, color: Color) -> np.ndarray:
    """Return a new ``(height, width, 3)`` uint8 image filled with ``color``."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = color
    return image


def fill_rect(image: np.ndarray, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
    """Fill the axis-aligned rectangle from corner ``(x0, y0)`` to ``(x1, y1)`` (exclusive)."""
    height, width = image.shape[:2]
    left, right = sorted((int(round(x0)), int(round(x1))))
    top, bottom = sorted((int(round(y0)), int(round(y1))))
    image[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)] = color


def _grid(
    image: np.ndarray, x0: float, y0: float, x1: float, y1: float
) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]] | None:
    """Pixel-centre coordinates of the clipped bounding box, or None when it is empty."""
    height, width = image.shape[:2]
    left, right = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)) + 1, width)
    top, bottom = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)) + 1, height)
    if left >= right or top >= bottom:
        return None
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float64)
    return xs, ys, (slice(top, bottom), slice(left, right))


def fill_circle(image: np.ndarray, cx: float, cy: float, radius: float, color: Color) -> None:
    """Fill the disc of ``radius`` pixels centred on ``(cx, cy)``."""
    grid = _grid(image, cx - radius, cy - radius, cx + radius, cy + radius)
    if grid is None:
        return
    xs, ys, window = grid
    inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    image[window][inside] = color


def draw_line(
    image: np.ndarray,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    thickness: float,
    color: Color,
) -> None:
    """Draw a ``thickness``-pixel-wide segment from ``(x0, y0)`` to ``(x1, y1)``."""
    half = thickness / 2.0
    grid = _grid(
        image,
        min(x0, x1) - half,
        min(y0, y1) - half,
        max(x0, x1) + half,
        max(y0, y1) + half,
    )
    if grid is None:
        return
    xs, ys, window = grid
    dx, dy = x1 - x0, y1 - y0
    length_sq = dx * dx + dy * dy
    along = ((xs - x0) * dx + (ys - y0) * dy) / length_sq if length_sq > 0 else 0.0
    along = np.clip(along, 0.0, 1.0)
    distance_sq = (xs - (x0 + along * dx)) ** 2 + (ys - (y0 + along * dy)) ** 2
    image[window][distance_sq <= half * half] = color
