"""Training statistics of a reward program, read from a run's ``reward_terms.csv``, as text for the LLM.

Each finished episode is a row of the CSV with the episode sum of every reward
component, the env's own return and the length. Like Eureka's reward
reflection, each series is summarised at ``points`` evenly spaced moments of
training (the mean of the episodes in each slice), with its max, mean and min.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

POINTS = 10


def series(values: np.ndarray, points: int = POINTS) -> list[float]:
    """Means of ``values`` over ``points`` consecutive, nearly equal slices (fewer when there are fewer values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return []
    return [float(chunk.mean()) for chunk in np.array_split(values, min(points, values.size))]


def component_statistics(csv_path: str | Path, components: list[str], points: int = POINTS) -> dict[str, Any]:
    """Per component (and the env's return, the episode length): the series, max, mean, min of episode values."""
    import pandas as pd

    path = Path(csv_path)
    if not path.exists() or path.stat().st_size == 0:
        return {}
    df = pd.read_csv(path)
    out = {}
    for column, label in [*((c, c.split("/", 1)[-1]) for c in components), ("true_return", "env_return"),
                          ("length", "episode_length")]:  # fmt: skip
        if column not in df:
            continue
        values = df[column].to_numpy(dtype=np.float64)
        out[label] = {
            "series": series(values, points),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "min": float(values.min()),
        }
    return out


def statistics_table(stats: dict[str, Any]) -> str:
    """One line per series: ``name: [v1, v2, ...], max, mean, min``."""
    lines = []
    for name, s in stats.items():
        values = ", ".join(f"{v:.3g}" for v in s["series"])
        lines.append(f"{name}: [{values}], max {s['max']:.3g}, mean {s['mean']:.3g}, min {s['min']:.3g}")
    return "\n".join(lines) if lines else "(no episode finished during training)"
