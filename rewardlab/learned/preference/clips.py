"""Two segments side by side in one clip (GIF, or MP4 with imageio-ffmpeg), for a person to compare.

The left segment is σ¹, the right one σ²; steps after an episode ended inside
a segment are shown dark (the segment is over).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GAP = 6  # pixels between the two clips


def side_by_side(frames_1: np.ndarray, frames_2: np.ndarray, mask_1: np.ndarray, mask_2: np.ndarray) -> np.ndarray:
    """Frames ``(H_steps, height, width·2 + gap, 3)`` with the two segments next to each other."""
    f1 = np.where(mask_1[:, None, None, None] > 0, frames_1, frames_1 // 4)
    f2 = np.where(mask_2[:, None, None, None] > 0, frames_2, frames_2 // 4)
    steps, height = f1.shape[0], f1.shape[1]
    gap = np.full((steps, height, GAP, 3), 255, dtype=np.uint8)
    return np.concatenate([f1.astype(np.uint8), gap, f2.astype(np.uint8)], axis=2)


def write_pair_clip(
    path: str | Path,
    frames_1: np.ndarray,
    frames_2: np.ndarray,
    mask_1: np.ndarray,
    mask_2: np.ndarray,
    *,
    fps: int = 10,
) -> Path:
    """Write the pair as an animated GIF (or MP4 when ``path`` ends in ``.mp4``); return the path."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = side_by_side(frames_1, frames_2, mask_1, mask_2)
    if path.suffix == ".mp4":
        imageio.mimsave(path, list(frames), fps=fps)
    else:
        imageio.mimsave(path, list(frames), duration=1000.0 / fps, loop=0)
    return path
