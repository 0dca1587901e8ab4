"""Heatmaps of reward landscapes, with visited states, and NetHack-sized position maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rewardlab.analysis.landscape import Landscape, position_map
from rewardlab.analysis.landscape import landscape as compute_landscape
from rewardlab.core.term import RewardTerm
from rewardlab.plot.curves import _axes


def _visited_points(visited: Any, dims: tuple[int, int]) -> np.ndarray | None:
    """``(n, 2)`` points from an array of observations (full or already 2-D) or a Rollout."""
    if visited is None:
        return None
    if hasattr(visited, "visited"):
        return visited.visited(dims)
    arr = np.asarray(visited, dtype=np.float64)
    return arr if arr.shape[1] == 2 else arr[:, list(dims)]


def colorbar_label(name: str) -> str:
    """What a landscape panel's colour means: a potential ``Φ(s)``, the total reward, or one term's reward."""
    if name.startswith("Φ "):
        return f"potential Φ(s) of {name.removeprefix('Φ ')}"
    return "total reward per step" if name == "total" else f"{name} reward per step"


def draw_landscape(
    land: Landscape,
    name: str = "total",
    *,
    ax: Any = None,
    kind: str = "heatmap",
    visited: Any = None,
    cmap: str = "viridis",
) -> Any:
    """Draw one named surface of a computed :class:`Landscape`; returns the axes.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> land = rl.analysis.landscape(rl.shaping.potential("mountaincar_height"), env="MountainCar-v0",
        ...                              axes=("position", "velocity"), resolution=20)
        >>> ax = rl.plot.draw_landscape(land, ax=plt.subplots()[1])
    """
    if kind not in ("heatmap", "contour"):
        raise ValueError(f"unknown kind {kind!r}; valid: 'heatmap', 'contour'")
    ax = _axes(ax)
    values = land[name]
    if kind == "heatmap":
        image = ax.pcolormesh(land.x, land.y, values, shading="auto", cmap=cmap)
    else:
        image = ax.contourf(land.x, land.y, values, levels=20, cmap=cmap)
    ax.figure.colorbar(image, ax=ax, shrink=0.85, label=colorbar_label(name))
    points = _visited_points(visited, land.dims)
    if points is not None and len(points):
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=3,
            c="white",
            edgecolors="black",
            linewidths=0.2,
            alpha=0.6,
            label=f"visited states ({len(points)})",
        )
        ax.set_xlim(land.x[0], land.x[-1])
        ax.set_ylim(land.y[0], land.y[-1])
        ax.legend(loc="upper right", fontsize=7, markerscale=3, framealpha=0.8)
    ax.set_xlabel(land.labels[0])
    ax.set_ylabel(land.labels[1])
    ax.set_title(name)
    return ax


def landscape(
    reward: RewardTerm | Landscape,
    *,
    term: str = "total",
    ax: Any = None,
    kind: str = "heatmap",
    visited: Any = None,
    cmap: str = "viridis",
    **landscape_kwargs: Any,
) -> Any:
    """Heatmap (or contour) of a reward, or of one of its components, over two state dimensions.

    ``rl.plot.landscape(reward, env="MountainCar-v0", axes=("position", "velocity"))``.
    Keyword arguments go to :func:`rewardlab.analysis.landscape`; ``visited``
    overlays states (an ``(n, d)`` or ``(n, 2)`` array, or a Rollout).

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, rewardlab as rl
        >>> fig, ax = plt.subplots()
        >>> _ = rl.plot.landscape(rl.shaping.potential("mountaincar_energy"), env="MountainCar-v0",
        ...                       axes=("position", "velocity"), resolution=20, ax=ax)
    """
    land = reward if isinstance(reward, Landscape) else compute_landscape(reward, **landscape_kwargs)
    return draw_landscape(land, term, ax=ax, kind=kind, visited=visited, cmap=cmap)


def landscapes(
    rewards: RewardTerm | Mapping[str, RewardTerm],
    *,
    fig: Any = None,
    kind: str = "heatmap",
    visited: Any = None,
    use_potentials: bool = True,
    panel_size: float = 3.6,
    **landscape_kwargs: Any,
) -> np.ndarray:
    """Side-by-side panels: each component of one reward (shaping shown as its potential Φ), or each named reward.

    Returns the array of axes.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> axes = rl.plot.landscapes({"height": rl.shaping.potential("mountaincar_height"),
        ...                              "energy": rl.shaping.potential("mountaincar_energy")},
        ...                             env="MountainCar-v0", axes=("position", "velocity"), resolution=20)
        >>> axes.size
        2
    """
    import matplotlib.pyplot as plt

    if isinstance(rewards, RewardTerm):
        land = compute_landscape(rewards, **landscape_kwargs)
        panels = [(land, name) for name in land.panels(use_potentials)]
    else:
        panels = [(compute_landscape(r, **landscape_kwargs), "total") for r in rewards.values()]
    if fig is None:
        fig = plt.figure(figsize=(panel_size * 1.25 * len(panels), panel_size))
    axs = np.atleast_1d(fig.subplots(1, len(panels)))
    titles = list(rewards) if isinstance(rewards, Mapping) else [name for _, name in panels]
    for ax, (land, name), title in zip(axs, panels, titles):
        draw_landscape(land, name, ax=ax, kind=kind, visited=visited)
        ax.set_title(title)
    fig.tight_layout()
    return axs


def nethack_map(
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    *,
    reduce: str = "mean",
    ax: Any = None,
    cmap: str = "magma",
    title: str | None = None,
    label: str | None = None,
) -> Any:
    """A 21×79 NetHack/MiniHack map coloured by a per-position value (unvisited cells blank).

    ``label`` names the colour bar (default: ``"<reduce> per position"``).

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> x, y = np.array([3, 4, 4]), np.array([5, 5, 6])          # hero positions (column, row)
        >>> ax = rl.plot.nethack_map(x, y, np.array([1.0, 0.5, 0.2]), ax=plt.subplots()[1], label="bonus")
    """
    grid = position_map(x, y, values, reduce=reduce)
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, interpolation="nearest", aspect="equal")
    ax.figure.colorbar(image, ax=ax, shrink=0.6, orientation="horizontal", label=label or f"{reduce} per position")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or f"{reduce} per position")
    return ax
