"""Curves of a run: each reward term's episode sum against training steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NON_TERM_COLUMNS = ("timestep", "length", "terminated", "total", "true_return")


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4))[1]


def term_columns(df: Any) -> list[str]:
    """The reward-term columns of a ``reward_terms.csv`` table."""
    return [c for c in df.columns if c not in NON_TERM_COLUMNS]


def term_curves(csv_path: str | Path, *, ax: Any = None, columns: Sequence[str] | None = None, smooth: int = 20) -> Any:
    """Plot columns of a run's ``reward_terms.csv`` against timesteps (moving average).

    By default: the true return (thick, black), the shaped total the agent
    trained on (dashed) and each term's episode sum. Returns the axes.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> import pandas as pd
        >>> pd.DataFrame({"timestep": [100, 200, 300], "true_return": [10.0, 20.0, 30.0], "total": [11.0, 21.0, 31.0],
        ...               "extrinsic": [10.0, 20.0, 30.0], "shaping": [1.0, 1.0, 1.0], "length": [10, 20, 30]}
        ...              ).to_csv("reward_terms.csv", index=False)
        >>> ax = rl.plot.term_curves("reward_terms.csv", ax=plt.subplots()[1], smooth=1)
    """
    import pandas as pd

    df = pd.read_csv(csv_path)
    ax = _axes(ax)
    window = max(1, min(smooth, len(df)))
    for col in columns if columns is not None else ["true_return", "total", *term_columns(df)]:
        values = df[col].rolling(window, min_periods=1).mean().to_numpy(dtype=np.float64)
        style = {"linewidth": 1.2}
        if col == "true_return":
            style = {"color": "black", "linewidth": 2.5}
        elif col == "total":
            style = {"color": "grey", "linewidth": 1.5, "linestyle": "--"}
        ax.plot(df["timestep"], values, label={"total": "shaped total"}.get(col, col), **style)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode sum")
    ax.set_title(f"moving average of {window} episodes", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return ax


def plot_run_terms(csv_path: str | Path, png_path: str | Path) -> Path:
    """Write a run's curves to ``png_path``: returns on top, each term on its own scale below.

    Terms are often orders of magnitude apart from the return (a shaping
    term's episode sum telescopes to about ``γΦ(s_T) − Φ(s_0)``), so each
    gets a panel of its own.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt, numpy as np, rewardlab as rl
        >>> import pandas as pd
        >>> pd.DataFrame({"timestep": [100, 200, 300], "true_return": [10.0, 20.0, 30.0], "total": [11.0, 21.0, 31.0],
        ...               "extrinsic": [10.0, 20.0, 30.0], "shaping": [1.0, 1.0, 1.0], "length": [10, 20, 30]}
        ...              ).to_csv("reward_terms.csv", index=False)
        >>> rl.plot.plot_run_terms("reward_terms.csv", "reward_terms.png").name
        'reward_terms.png'
    """
    import pandas as pd
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's inline one) stays

    terms = term_columns(pd.read_csv(csv_path, nrows=1))
    fig = Figure(figsize=(7, 2.6 * (1 + len(terms))))
    axes = fig.subplots(1 + len(terms), 1, sharex=True, squeeze=False)
    term_curves(csv_path, ax=axes[0, 0], columns=["true_return", "total"])
    fig.suptitle(f"{Path(csv_path).parent.name or 'run'}: episode sums, moving average over episodes")
    axes[0, 0].set_title("returns")
    for ax, term in zip(axes[1:, 0], terms):
        term_curves(csv_path, ax=ax, columns=[term])
        ax.set_title(f"term: {term}")
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    return Path(png_path)
