"""Statistics over seeds: IQM and mean with stratified bootstrap CIs, performance profiles, mean learning curves.

Few seeds make point estimates misleading (Agarwal et al., 2021, "Deep RL at the
edge of the statistical precipice"), so every score comes with a confidence
interval and the interquartile mean (IQM) sits beside the mean:

* IQM = the mean of the middle 50 % of the scores: ``scipy.stats.trim_mean(x, 0.25)``,
  which trims ``floor(n/4)`` scores from each end (with fewer than 4 scores it is the mean);
* percentile bootstrap CI, *stratified*: each stratum (e.g. an env) is resampled
  with replacement on its own, keeping its size, then the statistic is taken over
  all resampled scores, so every resample keeps the design's mix of strata;
* performance profile: the fraction of runs whose score exceeds τ, for a grid of τ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab.config.registry import ConfigError
from rewardlab.sweep.state import MANIFEST_FILE, read_json, run_state
from rewardlab.train import SUMMARY_FILE

if TYPE_CHECKING:
    import pandas as pd

SCORE = "eval_true_return"
GROUP_COLUMNS = ("env", "reward", "algo", "variant")


def iqm(scores: Any, axis: int | None = None) -> Any:
    """Interquartile mean: mean of the scores left after trimming 25 % from each end.

    Examples:
        >>> from rewardlab.sweep import iqm
        >>> float(iqm([1.0, 2.0, 3.0, 100.0]))
        2.5
    """
    from scipy import stats

    return stats.trim_mean(np.asarray(scores, dtype=np.float64), 0.25, axis=axis)


def mean(scores: Any, axis: int | None = None) -> Any:
    return np.mean(np.asarray(scores, dtype=np.float64), axis=axis)


STATISTICS: dict[str, Callable[..., Any]] = {"iqm": iqm, "mean": mean}


def stratified_bootstrap_ci(
    strata: Sequence[Any],
    statistic: Callable[..., Any] = iqm,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of ``statistic`` over all scores, with a stratified percentile bootstrap CI.

    ``strata`` is a list of 1-d score arrays; each is resampled with replacement
    within itself. ``statistic(x, axis=1)`` must reduce a ``(resamples, n)`` array.
    Seeded, so reports are reproducible.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.sweep import stratified_bootstrap_ci
        >>> scores = np.array([480.0, 500.0, 490.0, 470.0, 500.0])   # one env: one stratum of 5 seeds
        >>> estimate, low, high = stratified_bootstrap_ci([scores], n_resamples=500)
        >>> low <= estimate <= high
        True
    """
    arrays = [np.asarray(s, dtype=np.float64).ravel() for s in strata]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return (float("nan"),) * 3
    estimate = float(statistic(np.concatenate(arrays)))
    rng = np.random.default_rng(seed)
    samples = np.concatenate([a[rng.integers(0, a.size, size=(n_resamples, a.size))] for a in arrays], axis=1)
    values = statistic(samples, axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return estimate, float(low), float(high)


def load_runs(out: str | Path) -> pd.DataFrame:
    """One row per run of the sweep in ``out``: its axes, state and ``summary.json`` values."""
    import pandas as pd

    out = Path(out)
    manifest = read_json(out / MANIFEST_FILE)
    if manifest is None:
        raise ConfigError(f"{str(out)!r} is not a sweep folder (no readable {MANIFEST_FILE})")
    rows = []
    for record in manifest["runs"]:
        run_dir = out / record["run_id"]
        state = run_state(run_dir, record["config_hash"])
        summary = read_json(run_dir / SUMMARY_FILE) if state == "done" else None
        rows.append(
            {
                "run_id": record["run_id"],
                "group": record["group"],
                "env": record["env"],
                "reward": record["reward"],
                "algo": record["algo"],
                "variant": variant_label(record["variant"]),
                "seed": record["seed"],
                "state": state,
                **(summary or {}),
            }
        )
    return pd.DataFrame(rows)


def variant_label(variant: dict[str, Any]) -> str:
    """``"learning_rate=0.001 n_epochs=4"`` (``"-"`` when the sweep has no search)."""
    return " ".join(f"{k}={v}" for k, v in variant.items()) or "-"


def aggregate(
    runs: pd.DataFrame, *, score: str = SCORE, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per group (env × reward × algo × variant): seeds, IQM and mean of ``score`` with bootstrap CIs.

    Every group gets a row, so a group whose runs all failed shows up (``seeds``
    0, NaN statistics) instead of silently missing; ``runs`` and ``failed``
    count its runs and failed runs.

    Examples:
        >>> import pandas as pd, rewardlab as rl
        >>> runs = pd.DataFrame({"group": ["plain"] * 3 + ["shaped"] * 3, "env": "CartPole-v1",
        ...                      "reward": ["plain"] * 3 + ["shaped"] * 3, "algo": "ppo", "variant": "-",
        ...                      "seed": [0, 1, 2] * 2, "state": ["done"] * 5 + ["failed"],
        ...                      "eval_true_return": [200.0, 250.0, 300.0, 480.0, 500.0, None]})
        >>> table = rl.sweep.aggregate(runs, n_resamples=200)
        >>> table["seeds"].tolist(), table["failed"].tolist(), table["mean"].tolist()
        ([3, 2], [0, 1], [250.0, 490.0])
    """
    import pandas as pd

    done = runs[runs["state"] == "done"]
    if not done.empty and score not in done.columns:
        raise ConfigError(f"no finished run has {score!r}; finished runs have: {', '.join(done.columns)}")
    rows = []
    for keys, frame in runs.groupby(list(GROUP_COLUMNS), sort=False):
        finished = frame[frame["state"] == "done"]
        values = finished[score].dropna().to_numpy(dtype=np.float64) if score in finished else np.array([])
        row: dict[str, Any] = dict(zip(GROUP_COLUMNS, keys))
        row["seeds"] = int(values.size)
        row["runs"] = len(frame)
        row["failed"] = int((frame["state"] == "failed").sum())
        for name, fn in STATISTICS.items():
            est, low, high = stratified_bootstrap_ci(
                [values], fn, n_resamples=n_resamples, confidence=confidence, seed=seed
            )
            row.update({name: est, f"{name}_low": low, f"{name}_high": high})
        row["std"] = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
        if "wall_seconds" in finished:
            row["wall_seconds"] = float(finished["wall_seconds"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def performance_profile(scores: Any, thresholds: Any) -> np.ndarray:
    """Fraction of ``scores`` strictly above each threshold τ (Agarwal et al. 2021's performance profile).

    Examples:
        >>> import rewardlab as rl
        >>> rl.sweep.performance_profile([100.0, 200.0, 300.0, 400.0], [0.0, 150.0, 400.0]).tolist()
        [1.0, 0.75, 0.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    return (scores[None, :] > np.asarray(thresholds, dtype=np.float64)[:, None]).mean(axis=1)


def run_curve(csv_path: str | Path, grid: np.ndarray, *, column: str = "true_return", smooth: int = 10) -> np.ndarray:
    """A run's episode ``column`` (moving average of ``smooth`` episodes) interpolated onto ``grid`` timesteps.

    Grid points before the first or after the last finished episode are NaN:
    the run has no data there and must not pull the mean.
    """
    import pandas as pd

    path = Path(csv_path)
    if not path.exists() or path.stat().st_size == 0:
        return np.full(grid.shape, np.nan)
    df = pd.read_csv(path)
    if df.empty or column not in df:
        return np.full(grid.shape, np.nan)
    x = df["timestep"].to_numpy(dtype=np.float64)
    y = df[column].rolling(max(1, smooth), min_periods=1).mean().to_numpy(dtype=np.float64)
    curve = np.interp(grid, x, y)
    curve[(grid < x[0]) | (grid > x[-1])] = np.nan
    return curve


def mean_curve(
    curves: np.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs (rows) at each grid point with a bootstrap CI; NaN where no run has data."""
    curves = np.asarray(curves, dtype=np.float64)
    n_runs, n_points = curves.shape
    centre, low, high = (np.full(n_points, np.nan) for _ in range(3))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_runs, size=(n_resamples, n_runs))
    alpha = (1.0 - confidence) / 2.0
    for j in range(n_points):
        column = curves[:, j]
        valid = ~np.isnan(column)
        if not valid.any():
            continue
        centre[j] = column[valid].mean()
        counts = valid[idx].sum(axis=1)
        sums = np.where(valid[idx], column[idx], 0.0).sum(axis=1)
        resampled = sums[counts > 0] / counts[counts > 0]  # resamples that drew only runs without data are dropped
        low[j], high[j] = np.quantile(resampled, [alpha, 1.0 - alpha])
    return centre, low, high
