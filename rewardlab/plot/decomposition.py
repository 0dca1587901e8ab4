"""Plots of what a reward is made of: per-step stacks, shares of the return, learning curves with bands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.analysis import decomposition as dec
from rewardlab.analysis.rollout import Rollout
from rewardlab.plot.curves import _axes


def percent(share: float) -> str:
    """``0.42`` → ``"42%"``, ``1.6e-5`` → ``"0.0016%"``: small shares keep two significant digits."""
    value = 100 * share
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.2g}%"


def episode_terms(data: Rollout, episode: int = 0, *, ax: Any = None) -> Any:
    """Stacked areas of each component over one episode: positive parts stack up, negative parts down.

    The total reward is drawn as a black line.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> ro = rl.analysis.rollout("CartPole-v1", rl.extrinsic() - 0.1, n_steps=60, complete_only=True)
        >>> ax = rl.plot.episode_terms(ro, ax=plt.subplots()[1])
    """
    df = dec.episode_terms(data, episode)
    ax = _axes(ax)
    steps = df.index.to_numpy()
    up, down = np.zeros(len(df)), np.zeros(len(df))
    for i, name in enumerate(df.columns):
        values = df[name].to_numpy()
        pos, neg = np.clip(values, 0, None), np.clip(values, None, 0)
        color = f"C{i}"
        ax.fill_between(steps, up, up + pos, step="mid", alpha=0.75, color=color, label=name, linewidth=0)
        ax.fill_between(steps, down, down + neg, step="mid", alpha=0.75, color=color, linewidth=0)
        up, down = up + pos, down + neg
    ax.step(steps, df.sum(axis=1).to_numpy(), where="mid", color="black", linewidth=1.2, label="total")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel("step in episode")
    ax.set_ylabel("reward")
    ax.set_title(f"episode {episode}: reward by term")
    ax.legend(loc="best", fontsize=8)
    return ax


def episode_term_panels(data: Rollout, episode: int = 0, *, fig: Any = None, axes: Sequence[Any] | None = None) -> Any:
    """One panel per component over one episode, each on its own y scale, and the total below.

    A stack (:func:`episode_terms`) hides a term a thousand times smaller than
    another (a 0.1 % shaping term beside a -1 per step cost); here each term
    gets its own axes, titled with its episode sum and its share ``|sum|/Σ|sums|``.

    Args:
        data: a rollout (``rl.analysis.rollout``).
        episode: which episode.
        fig: figure to draw in (default: a new one, 2 inches per panel).
        axes: ``len(components) + 1`` axes to draw in instead (total last).

    Returns the array of axes.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.extrinsic() + 0.001 * rl.shaping.potential("mountaincar_energy", gamma=0.99)
        >>> data = rl.analysis.rollout("MountainCar-v0", reward, n_steps=200, seed=0)
        >>> axes = rl.plot.episode_term_panels(data)   # extrinsic, shaping, total
        >>> [ax.get_title(loc="right").split(":")[0] for ax in axes]
        ['extrinsic', 'shaping', 'total']
    """
    df = dec.episode_terms(data, episode)
    names = list(df.columns)
    if axes is None:
        import matplotlib.pyplot as plt

        fig = fig if fig is not None else plt.figure(figsize=(8, 1.6 * (len(names) + 1)))
        axes = fig.subplots(len(names) + 1, 1, sharex=True)
    axes = np.atleast_1d(np.asarray(axes, dtype=object))
    if len(axes) != len(names) + 1:
        raise ValueError(f"axes: need {len(names) + 1} (one per component and the total), got {len(axes)}")
    steps = df.index.to_numpy()
    sums = df.sum(axis=0)
    scale = float(np.abs(sums).sum()) or 1.0
    series = [(name, df[name].to_numpy(), f"C{i}") for i, name in enumerate(names)]
    series.append(("total", df.sum(axis=1).to_numpy(), "black"))
    for ax, (name, values, color) in zip(axes, series):
        ax.step(steps, values, where="mid", color=color, linewidth=1.2)
        ax.fill_between(steps, 0.0, values, step="mid", color=color, alpha=0.25, linewidth=0)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        share = "" if name == "total" else f" ({percent(abs(sums[name]) / scale)} of |return|)"
        total = float(values.sum())
        ax.set_title(f"{name}: episode sum {total:.4g}{share}", fontsize=9, loc="right")
        ax.set_ylabel("reward", fontsize=8)
        ax.tick_params(labelsize=8)
        if ax is not axes[-1]:
            ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("step in episode")
    return axes


def term_shares(source: Rollout | str | Path | Any, *, ax: Any = None) -> Any:
    """Bars of each term's mean episode sum, labelled with its share ``|sum|/Σ|sums|`` of the return.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> ro = rl.analysis.rollout("CartPole-v1", rl.extrinsic() - 0.1, n_steps=60)
        >>> ax = rl.plot.term_shares(ro, ax=plt.subplots()[1])
    """
    df = dec.term_shares(source)
    ax = _axes(ax)
    names = list(df.index)
    bars = ax.bar(names, df["mean_return"], color=[f"C{i}" for i in range(len(names))])
    for bar, share in zip(bars, df["share"]):
        height = bar.get_height()
        ax.annotate(
            percent(share),
            (bar.get_x() + bar.get_width() / 2, height),
            ha="center",
            va="bottom" if height >= 0 else "top",
            fontsize=8,
        )
    ax.axhline(0.0, color="grey", linewidth=0.6)
    magnitudes = np.abs(df["mean_return"].to_numpy(dtype=float))
    magnitudes = magnitudes[magnitudes > 0]
    if len(magnitudes) > 1 and magnitudes.max() > 100 * magnitudes.min():  # a small term would be a flat line
        values = df["mean_return"].to_numpy(dtype=float)
        floor = float(magnitudes.min())
        ax.set_yscale("symlog", linthresh=floor)
        low, high = min(values.min(), 0.0), max(values.max(), 0.0)
        ax.set_ylim(low * 5 if low < 0 else -floor, high * 5 if high > 0 else floor)  # room for the labels
        ax.set_ylabel("mean episode sum (symlog scale)")
    else:
        ax.set_ylabel("mean episode sum")
    ax.set_title("share of the return by term")
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def learning_curves(
    run_dirs: Sequence[str | Path],
    *,
    terms: Sequence[str] | None = None,
    ax: Any = None,
    points: int = 100,
    smooth: int = 20,
    confidence: float = 0.95,
) -> Any:
    """Each term's episode sum (and the true return, thick black) against steps, mean and band across runs.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> from rewardlab.train import RunConfig, train
        >>> for seed in (0, 1):
        ...     config = RunConfig(env="CartPole-v1", reward=["extrinsic", {"term": "constant", "value": 0.1}],
        ...                        steps=512, n_envs=2, seed=seed, eval_episodes=1)
        ...     _ = train(config, f"runs/curves{seed}", progress_bar=False, overwrite=True)
        >>> ax = rl.plot.learning_curves(["runs/curves0", "runs/curves1"], ax=plt.subplots()[1], points=10, smooth=1)
    """
    curves = dec.learning_curves(run_dirs, points=points, smooth=smooth, confidence=confidence)
    ax = _axes(ax)
    wanted = list(curves) if terms is None else [*terms]
    missing = [t for t in wanted if t not in curves]
    if missing:
        raise ValueError(f"no term(s) {missing} in these runs; valid: {list(curves)}")
    for i, name in enumerate(wanted):
        c = curves[name]
        color = "black" if name == "true_return" else f"C{i}"
        ax.plot(c["timestep"], c["mean"], color=color, linewidth=2.5 if name == "true_return" else 1.4, label=name)
        ax.fill_between(c["timestep"], c["low"], c["high"], color=color, alpha=0.2, linewidth=0)
    n = int(curves[wanted[0]]["runs"].iloc[0]) if wanted else 0
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode sum")
    ax.set_title(f"reward terms across {n} run(s), {int(confidence * 100)}% band")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return ax
