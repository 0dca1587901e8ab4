"""Reward landscapes: a reward evaluated on a 2-D grid of states.

Convention for a grid point ``g`` (a full observation: the two axes from the
grid, the other dimensions from ``fixed`` or averaged over ``background``
observations):

* the transition is ``s = g → s' = next_obs_fn(g)``; without a one-step
  model it is ``s = s' = g`` (a term of ``s'`` -- bonuses, progress, goal
  rewards -- shows its value *on arriving at* ``g``);
* the action is ``action`` (default: the zero action / action 0);
* the extrinsic reward and the termination come from the env's reward model.

Potential shaping ``F = γΦ(s') − Φ(s)`` on ``s = s'`` is ``(γ−1)Φ(g)``, a
faint copy of −Φ; so every shaping component also gets its potential
``Φ(g)`` (times its weight) under ``"Φ <name>"``, which is what a reader wants
to see. Terms run as frozen copies (eval mode, no counting of grid points).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.analysis.env_rewards import EnvRewardModel
from rewardlab.analysis.evaluation import DEFAULT_CHUNK, RewardEvaluator, resolve_env
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm, WeightedSum

Dim = int | str


@dataclass
class Landscape:
    """Values of a reward's components on a grid: ``values[name]`` has shape ``(len(y), len(x))``.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.shaping.potential("mountaincar_energy", gamma=0.99)
        >>> land = rl.analysis.landscape(reward, env="MountainCar-v0", axes=("position", "velocity"), resolution=20)
        >>> land.labels, land["shaping"].shape
        (('position', 'velocity'), (20, 20))
    """

    x: np.ndarray
    y: np.ndarray
    values: dict[str, np.ndarray]
    labels: tuple[str, str]
    dims: tuple[int, int]
    env_id: str | None = None
    potentials: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.values:
            raise KeyError(f"no landscape {name!r}; valid: {list(self.values)}")
        return self.values[name]

    def panels(self, use_potentials: bool = True) -> list[str]:
        """Names to draw one panel each: components (shaping ones as Φ when ``use_potentials``) and the total."""
        shaped = {p.removeprefix("Φ ") for p in self.potentials} if use_potentials else set()
        out = []
        for name in self.values:
            if name in self.potentials or name == "total":
                continue
            out.append(f"Φ {name}" if name in shaped else name)
        return [*out, "total"] if len(out) > 1 else out


def _dim_index(env: EnvInfo | None, dim: Dim) -> int:
    if isinstance(dim, (int, np.integer)):
        return int(dim)
    if env is None:
        raise ValueError(f"axis {dim!r} is a name; give env= so its observation names are known, or use an index")
    return env.obs_index(dim)


def _dim_label(env: EnvInfo | None, index: int) -> str:
    names = env.obs_names if env is not None else None
    return names[index] if names and index < len(names) else f"obs[{index}]"


def _default_action(env: EnvInfo | None) -> np.ndarray:
    space = env.action_space if env is not None else None
    if space is None or not hasattr(space, "shape") or space.shape is None:
        return np.zeros(())
    start = getattr(space, "start", 0)
    return np.zeros(space.shape, dtype=space.dtype) + start


def shaping_potentials(reward: RewardTerm) -> dict[str, tuple[float, Any]]:
    """Shaping components (:class:`~rewardlab.shaping.PotentialShaping`) of ``reward`` by name, with their weights."""
    # imported here: rewardlab.shaping needs rewardlab.config, which the package imports after analysis
    from rewardlab.shaping.potential_shaping import PotentialShaping

    if isinstance(reward, PotentialShaping):
        return {reward.name: (1.0, reward)}
    if isinstance(reward, WeightedSum):
        return {name: (w, t) for name, w, t in reward.items() if isinstance(t, PotentialShaping)}
    return {}


def landscape(
    reward: RewardTerm,
    *,
    env: str | EnvInfo | Any | None = None,
    axes: tuple[Dim, Dim] = (0, 1),
    bounds: Sequence[tuple[float, float]] | None = None,
    resolution: int | tuple[int, int] = 100,
    fixed: Mapping[Dim, float] | None = None,
    background: np.ndarray | None = None,
    action: Any = None,
    next_obs_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    env_reward: EnvRewardModel | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> Landscape:
    """Evaluate every component of ``reward`` (and the total) on a grid over two observation dimensions.

    Args:
        reward: the reward term (a frozen copy is evaluated).
        env: env id, :class:`EnvInfo` or env: names of dimensions, bounds, reward model.
        axes: the two dimensions, by index or by preset name (``("position", "velocity")``).
        bounds: ``((x_low, x_high), (y_low, y_high))``; default: the observation
            space's bounds, or the 1st-99th percentiles of ``background``.
        resolution: grid points per axis (or ``(nx, ny)``).
        fixed: values of the other dimensions, by index or name (default: the
            middle of their bounds, or 0 when unbounded).
        background: observations ``(K, d)`` (e.g. visited states); the other
            dimensions are taken from each row in turn and the values averaged.
        action: action of every transition (default: zeros / action 0).
        next_obs_fn: one-step model ``obs (n, d) -> next_obs (n, d)``; default ``s' = s``.
        env_reward: the env's reward model (see :class:`RewardEvaluator`).
        chunk_size: rows per reward call (``1`` evaluates point by point).

    Examples:
        >>> import rewardlab as rl
        >>> land = rl.analysis.landscape(rl.shaping.potential("mountaincar_height", gamma=0.99), env="MountainCar-v0",
        ...                              axes=("position", "velocity"), resolution=20)
        >>> land.values["total"].shape
        (20, 20)
    """
    info = resolve_env(env)
    space = info.observation_space if info is not None else None
    if space is not None and (not hasattr(space, "shape") or space.shape is None or len(space.shape) != 1):
        raise ValueError(
            f"landscapes need flat Box observations, got {space!r}; for NetHack/MiniHack maps use "
            "rewardlab.analysis.position_map with (x, y) positions"
        )
    dims = (_dim_index(info, axes[0]), _dim_index(info, axes[1]))
    if dims[0] == dims[1]:
        raise ValueError(f"the two axes must differ, got {axes}")
    if background is not None:
        background = np.asarray(background, dtype=np.float64)
    n_dims = space.shape[0] if space is not None else (background.shape[1] if background is not None else max(dims) + 1)
    if max(dims) >= n_dims:
        raise ValueError(f"axes {axes} out of range for {n_dims}-dimensional observations")
    bounds = _bounds(bounds, space, background, dims)
    nx, ny = (resolution, resolution) if isinstance(resolution, int) else resolution
    x = np.linspace(bounds[0][0], bounds[0][1], nx)
    y = np.linspace(bounds[1][0], bounds[1][1], ny)
    gx, gy = np.meshgrid(x, y)  # (ny, nx)
    base = _base_rows(info, space, n_dims, dims, fixed, background)  # (K, d)
    k = len(base)
    points = np.repeat(base[None], nx * ny, axis=0)  # (ny*nx, K, d)
    points[:, :, dims[0]] = gx.reshape(-1, 1)
    points[:, :, dims[1]] = gy.reshape(-1, 1)
    obs = points.reshape(-1, n_dims)
    if space is not None:
        obs = obs.astype(space.dtype if np.issubdtype(space.dtype, np.floating) else np.float64)
    next_obs = obs if next_obs_fn is None else np.asarray(next_obs_fn(obs))
    act = np.asarray(_default_action(info) if action is None else action)
    actions = np.broadcast_to(act, (len(obs), *act.shape))
    evaluator = RewardEvaluator(reward, env=info, env_reward=env_reward, chunk_size=chunk_size)
    comps = evaluator.components(obs, actions, next_obs)
    comps["total"] = sum(comps.values())
    values = {name: v.reshape(ny, nx, k).mean(axis=2) for name, v in comps.items()}
    potentials = []
    for name, (weight, term) in shaping_potentials(evaluator.reward).items():
        phi = np.concatenate([term.potential(obs[i : i + chunk_size]) for i in range(0, len(obs), chunk_size)])
        values[f"Φ {name}"] = weight * phi.reshape(ny, nx, k).mean(axis=2)
        potentials.append(f"Φ {name}")
    labels = (_dim_label(info, dims[0]), _dim_label(info, dims[1]))
    return Landscape(x, y, values, labels, dims, info.env_id if info else None, potentials)


def _bounds(
    bounds: Sequence[tuple[float, float]] | None, space: Any, background: np.ndarray | None, dims: tuple[int, int]
) -> list[tuple[float, float]]:
    if bounds is not None:
        if len(bounds) != 2 or any(len(b) != 2 or not b[0] < b[1] for b in bounds):
            raise ValueError(f"bounds must be ((x_low, x_high), (y_low, y_high)) with low < high, got {bounds}")
        return [tuple(map(float, b)) for b in bounds]
    out = []
    for d in dims:
        lo = float(space.low[d]) if space is not None else -np.inf
        hi = float(space.high[d]) if space is not None else np.inf
        if not (np.isfinite(lo) and np.isfinite(hi)):
            if background is None:
                raise ValueError(
                    f"observation dimension {d} is unbounded; pass bounds=((x_low, x_high), (y_low, y_high)) "
                    "or background= visited states to take their range"
                )
            lo, hi = np.percentile(background[:, d], [1, 99])
            lo, hi = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
        out.append((lo, hi))
    return out


def _base_rows(
    info: EnvInfo | None,
    space: Any,
    n_dims: int,
    dims: tuple[int, int],
    fixed: Mapping[Dim, float] | None,
    background: np.ndarray | None,
) -> np.ndarray:
    """Values of the non-axis dimensions: one row per background observation, or one fixed row."""
    if background is not None:
        if background.ndim != 2 or background.shape[1] != n_dims:
            raise ValueError(f"background must have shape (K, {n_dims}), got {background.shape}")
        rows = background.copy()
    else:
        row = np.zeros(n_dims)
        if space is not None:
            finite = np.isfinite(space.low) & np.isfinite(space.high)
            row[finite] = (space.low[finite] + space.high[finite]) / 2.0
        rows = row[None]
    for dim, value in (fixed or {}).items():
        index = _dim_index(info, dim)
        if index in dims:
            raise ValueError(f"dimension {dim!r} is a grid axis; it cannot also be fixed")
        rows[:, index] = float(value)
    return rows


def position_map(
    x: np.ndarray, y: np.ndarray, values: np.ndarray, *, shape: tuple[int, int] = (21, 79), reduce: str = "mean"
) -> np.ndarray:
    """A NetHack/MiniHack-sized map (rows = y, columns = x) of per-position values; NaN where nothing was seen.

    ``reduce`` combines several values at one position: ``"mean"``, ``"sum"``,
    ``"max"`` or ``"count"`` (visits).

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> m = rl.analysis.position_map([3, 3, 5], [1, 1, 2], [1.0, 3.0, 5.0], shape=(4, 8))
        >>> float(m[1, 3]), float(m[2, 5]), int(np.isnan(m).sum())     # mean of the two visits; 30 unseen
        (2.0, 5.0, 30)
    """
    reducers = ("mean", "sum", "max", "count")
    if reduce not in reducers:
        raise ValueError(f"unknown reduce {reduce!r}; valid: {list(reducers)}")
    x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if not (len(x) == len(y) == len(values)):
        raise ValueError(f"x, y and values must have the same length, got {len(x)}, {len(y)}, {len(values)}")
    rows, cols = shape
    inside = (x >= 0) & (x < cols) & (y >= 0) & (y < rows)
    if not inside.all():
        bad = np.flatnonzero(~inside)[0]
        raise ValueError(f"position (x={x[bad]}, y={y[bad]}) lies outside the {rows}x{cols} map")
    flat = y * cols + x
    counts = np.bincount(flat, minlength=rows * cols).astype(np.float64)
    if reduce == "count":
        out = counts
    elif reduce == "max":
        out = np.full(rows * cols, -np.inf)
        np.maximum.at(out, flat, values)
    else:
        out = np.bincount(flat, weights=values, minlength=rows * cols)
        if reduce == "mean":
            out = np.divide(out, counts, out=np.zeros_like(out), where=counts > 0)
    out = out.astype(np.float64)
    out[counts == 0] = np.nan
    return out.reshape(rows, cols)
