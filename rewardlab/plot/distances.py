"""Heatmap of a reward distance matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.analysis.distances import DistanceMatrix
from rewardlab.plot.curves import _axes


def distance_matrix(matrix: DistanceMatrix, *, ax: Any = None, annotate: bool = True, cmap: str = "magma_r") -> Any:
    """Distances between rewards as a heatmap in [0, 1]; undefined (NaN) cells are grey and marked ``n/a``.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> m = rl.analysis.epic_matrix({"task": rl.extrinsic(), "negated": -1.0 * rl.extrinsic()},
        ...                             env="MountainCar-v0", n_transitions=256, bootstrap=20)
        >>> ax = rl.plot.distance_matrix(m, ax=plt.subplots()[1])
    """
    import matplotlib as mpl

    ax = _axes(ax)
    colormap = mpl.colormaps[cmap].with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(matrix.values), cmap=colormap, vmin=0.0, vmax=1.0)
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label=f"{matrix.method} distance")
    k = len(matrix.names)
    ax.set_xticks(range(k), matrix.names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), matrix.names, fontsize=8)
    if annotate:
        for i in range(k):
            for j in range(k):
                v = matrix.values[i, j]
                text = "n/a" if np.isnan(v) else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "black")
    ax.set_title(f"{matrix.method} distances")
    return ax
