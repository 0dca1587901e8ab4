"""What a reward is made of: each term over an episode, its share of the return, its learning curve.

Sources are a :class:`~rewardlab.analysis.rollout.Rollout` (per step) or run
folders written by ``rewardlab train`` / :class:`rewardlab.RewardLogger`, whose
``reward_terms.csv`` holds one row per episode: ``timestep``, each term's
episode sum, ``true_return``, ``total``, ``length``, ``terminated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.analysis.rollout import Rollout

TERMS_CSV = "reward_terms.csv"
BOOKKEEPING = ("timestep", "true_return", "total", "length", "terminated")


def read_reward_terms(source: str | Path) -> Any:
    """The ``reward_terms.csv`` of a run folder (or the CSV itself) as a DataFrame.

    Examples:
        >>> from pathlib import Path
        >>> import pandas as pd, rewardlab as rl
        >>> for seed, bonus in enumerate([0.5, 1.5]):   # two runs' reward_terms.csv, one row per episode
        ...     Path(f"runs/seed{seed}").mkdir(parents=True, exist_ok=True)
        ...     pd.DataFrame({"timestep": [100, 200, 300], "extrinsic": [-100.0, -90.0, -80.0], "count": bonus,
        ...                   "true_return": [-100.0, -90.0, -80.0], "total": [-99.0, -89.0, -79.0],
        ...                   "length": 100, "terminated": False}).to_csv(
        ...         f"runs/seed{seed}/reward_terms.csv", index=False)
        >>> rl.analysis.read_reward_terms("runs/seed0")["extrinsic"].tolist()
        [-100.0, -90.0, -80.0]
    """
    import pandas as pd

    path = Path(source)
    if path.is_dir():
        path = path / TERMS_CSV
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run folders hold {TERMS_CSV} once an episode has finished")
    return pd.read_csv(path)


def term_columns(df: Any) -> list[str]:
    """The reward-term columns of a ``reward_terms.csv`` table (bookkeeping columns left out).

    Examples:
        >>> import pandas as pd, rewardlab as rl
        >>> table = pd.DataFrame(columns=["timestep", "extrinsic", "shaping", "true_return", "total", "length"])
        >>> rl.analysis.term_columns(table)
        ['extrinsic', 'shaping']
    """
    return [c for c in df.columns if c not in BOOKKEEPING]


def episode_terms(data: Rollout, episode: int = 0) -> Any:
    """Per-step value of every component in one episode of a rollout: a DataFrame indexed by step.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.extrinsic() + 0.001 * rl.shaping.potential("mountaincar_energy", gamma=0.99)
        >>> data = rl.analysis.rollout("MountainCar-v0", reward, n_steps=200, seed=0)
        >>> table = rl.analysis.episode_terms(data)
        >>> list(table.columns), float(table["extrinsic"].iloc[0])
        (['extrinsic', 'shaping'], -1.0)
    """
    import pandas as pd

    if not 0 <= episode < data.n_episodes:
        raise ValueError(f"episode {episode} out of range; the rollout has {data.n_episodes} episodes")
    rows = data.episode == episode
    return pd.DataFrame({name: data.components[name][rows] for name in data.names}, index=data.step[rows]).rename_axis(
        "step"
    )


def term_shares(source: Rollout | str | Path | Any) -> Any:
    """Mean episode sum of each term and its share ``|sum| / Σ|sums|`` of the return: a DataFrame by term.

    ``source`` is a rollout (complete and cut-off episodes alike), a run
    folder, a ``reward_terms.csv`` path or such a DataFrame.

    Examples:
        >>> import pandas as pd, rewardlab as rl
        >>> table = pd.DataFrame({"timestep": [100, 200], "extrinsic": [-90.0, -110.0], "count": [10.0, 10.0],
        ...                       "true_return": [-90.0, -110.0], "total": [-80.0, -100.0], "length": 100})
        >>> rl.analysis.term_shares(table)["share"].round(3).tolist()   # |-100| and |10| of 110
        [0.909, 0.091]
    """
    import pandas as pd

    if isinstance(source, Rollout):
        sums = {name: float(np.mean(source.episode_returns(source.components[name]))) for name in source.names}
    else:
        df = source if isinstance(source, pd.DataFrame) else read_reward_terms(source)
        sums = {name: float(df[name].mean()) for name in term_columns(df)}
    mean = pd.Series(sums, name="mean_return")
    magnitude = mean.abs().sum()
    share = mean.abs() / magnitude if magnitude > 0 else mean * 0.0
    return pd.DataFrame({"mean_return": mean, "share": share}).rename_axis("term")


def learning_curves(
    run_dirs: Sequence[str | Path], *, points: int = 100, smooth: int = 20, confidence: float = 0.95
) -> dict[str, Any]:
    """Mean and confidence band across runs (seeds) of each term's episode sum against training steps.

    Each run's moving average (``smooth`` episodes) is interpolated onto a
    common grid of ``points`` timesteps spanning the range all runs cover;
    the band is the Student-t interval of the mean across runs (zero width
    with one run). Returns ``{column: DataFrame(timestep, mean, low, high)}``
    for every term and ``true_return``.

    Examples:
        >>> from pathlib import Path
        >>> import pandas as pd, rewardlab as rl
        >>> for seed, bonus in enumerate([0.5, 1.5]):   # two runs' reward_terms.csv, one row per episode
        ...     Path(f"runs/seed{seed}").mkdir(parents=True, exist_ok=True)
        ...     pd.DataFrame({"timestep": [100, 200, 300], "extrinsic": [-100.0, -90.0, -80.0], "count": bonus,
        ...                   "true_return": [-100.0, -90.0, -80.0], "total": [-99.0, -89.0, -79.0],
        ...                   "length": 100, "terminated": False}).to_csv(
        ...         f"runs/seed{seed}/reward_terms.csv", index=False)
        >>> curves = rl.analysis.learning_curves(["runs/seed0", "runs/seed1"], points=3, smooth=1)
        >>> sorted(curves), curves["count"]["mean"].tolist()     # count: 0.5 and 1.5 averaged
        (['count', 'extrinsic', 'true_return'], [1.0, 1.0, 1.0])
    """
    import pandas as pd
    from scipy import stats

    if not run_dirs:
        raise ValueError("learning_curves needs at least one run folder")
    tables = [read_reward_terms(d) for d in run_dirs]
    columns = [*dict.fromkeys(c for t in tables for c in term_columns(t)), "true_return"]
    start = max(float(t["timestep"].min()) for t in tables)
    stop = min(float(t["timestep"].max()) for t in tables)
    if stop <= start:
        stop = start + 1.0
    grid = np.linspace(start, stop, points)
    out = {}
    for col in columns:
        curves = np.stack(
            [
                np.interp(grid, t["timestep"], t[col].rolling(max(1, smooth), min_periods=1).mean())
                for t in tables
                if col in t.columns
            ]
        )
        mean = curves.mean(axis=0)
        n = len(curves)
        if n > 1:
            half = stats.t.ppf(0.5 + confidence / 2.0, n - 1) * curves.std(axis=0, ddof=1) / np.sqrt(n)
        else:
            half = np.zeros_like(mean)
        out[col] = pd.DataFrame({"timestep": grid, "mean": mean, "low": mean - half, "high": mean + half, "runs": n})
    return out
