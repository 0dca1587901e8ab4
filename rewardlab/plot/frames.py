"""Reward along an episode drawn under the frames it was computed from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rewardlab.plot.curves import _axes


def reward_along_frames(
    frames: np.ndarray,
    rewards: Mapping[str, np.ndarray] | np.ndarray,
    *,
    ax: Any = None,
    n_thumbnails: int = 6,
    title: str | None = None,
) -> Any:
    """Plot each reward curve over the episode's steps with thumbnails of the frames above it.

    ``frames`` is ``(T, H, W, 3)``; ``rewards`` one array of length ``T`` or a mapping of named arrays.
    Thumbnails sit at evenly spaced steps, marked on the curve by dotted lines. Returns the axes.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> frames = np.zeros((20, 32, 32, 3), dtype=np.uint8)
        >>> curves = {"clip": np.linspace(0, 1, 20)}
        >>> ax = rl.plot.reward_along_frames(frames, curves, ax=plt.subplots()[1], n_thumbnails=4)
    """
    frames = np.asarray(frames)
    curves = {"reward": rewards} if not isinstance(rewards, Mapping) else dict(rewards)
    for name, values in curves.items():
        if len(values) != len(frames):
            raise ValueError(f"reward {name!r} has {len(values)} values for {len(frames)} frames")
    ax = _axes(ax)
    steps = np.arange(len(frames))
    for name, values in curves.items():
        ax.plot(steps, values, label=name)
    picks = np.linspace(0, len(frames) - 1, n_thumbnails).round().astype(int)
    width = 1.0 / n_thumbnails
    for k, t in enumerate(picks):
        ax.axvline(t, color="grey", lw=0.5, ls=":")
        inset = ax.inset_axes((k * width + 0.05 * width, 1.04, 0.9 * width, 0.9 * width * 1.6))
        inset.imshow(frames[t])
        inset.set_axis_off()
        inset.set_title(f"t={t}", fontsize=7, pad=1)
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    if len(curves) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, y=1.04 + 0.9 * width * 1.6 + 0.08)
    return ax
