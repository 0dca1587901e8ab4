"""Curves of a run: each reward term's episode sum against training steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

NON_TERM_COLUMNS = ("timestep", "length", "terminated", "total")


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4))[1]


def term_curves(csv_path: str | Path, *, ax: Any = None, smooth: int = 20) -> Any:
    """Plot every column of a run's ``reward_terms.csv`` against timesteps (moving average).

    The true return is drawn thick and black so a reader sees at once whether
    the injected terms helped the task. Returns the axes.
    """
    import pandas as pd

    df = pd.read_csv(csv_path)
    ax = _axes(ax)
    window = max(1, min(smooth, len(df)))
    for col in df.columns:
        if col in NON_TERM_COLUMNS:
            continue
        values = df[col].rolling(window, min_periods=1).mean().to_numpy(dtype=np.float64)
        style = {"color": "black", "linewidth": 2.5} if col == "true_return" else {"linewidth": 1.2}
        ax.plot(df["timestep"], values, label=col, **style)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"episode sum (moving average of {window})")
    ax.set_title(Path(csv_path).parent.name or "run")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return ax


def plot_run_terms(csv_path: str | Path, png_path: str | Path) -> Path:
    """Write :func:`term_curves` of ``csv_path`` to ``png_path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    term_curves(csv_path, ax=ax)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return Path(png_path)
