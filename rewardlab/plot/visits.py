"""Where an agent went: a map of visit counts (e.g. NetHack squares from ``PositionVisits``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.plot.curves import _axes


def visit_map(
    counts: np.ndarray, *, ax: Any = None, title: str | None = None, log: bool = True, crop: bool = True
) -> Any:
    """Draw a 2-D array of visit counts, unvisited cells blank, colour on a log scale by default.

    The scale runs from the least- to the most-visited square, so a well-covered room still shows contrast.

    ``crop`` trims the rows and columns that were never visited, so a small
    MiniHack room fills the axes instead of a corner of the 21×79 map.
    Returns the axes.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> counts = np.zeros((5, 8)); counts[2, 1:6] = [1, 3, 9, 3, 1]
        >>> ax = rl.plot.visit_map(counts, ax=plt.subplots()[1], title="visits")
        >>> ax.get_title()
        'visits'
    """
    from matplotlib.colors import LogNorm, Normalize

    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a 2-D array (rows, columns), got shape {counts.shape}")
    ax = _axes(ax)
    rows, cols = np.nonzero(counts)
    r0, c0 = 0, 0
    if crop and rows.size:
        r0, c0 = max(rows.min() - 1, 0), max(cols.min() - 1, 0)
        counts = counts[r0 : rows.max() + 2, c0 : cols.max() + 2]
    shown = np.ma.masked_equal(counts, 0)
    top = max(float(counts.max()), 1.0)
    low = float(shown.min()) if shown.count() else 1.0  # least-visited square sets the bottom of the scale
    norm = LogNorm(vmin=low, vmax=max(top, low * 1.01)) if log else Normalize(vmin=0, vmax=top)
    extent = (c0 - 0.5, c0 + counts.shape[1] - 0.5, r0 + counts.shape[0] - 0.5, r0 - 0.5)
    image = ax.imshow(shown, cmap="viridis", norm=norm, extent=extent, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="visits")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title(title or f"visits ({int(counts.sum())} steps, {int((counts > 0).sum())} squares)")
    return ax
