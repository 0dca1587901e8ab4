"""Distances between canonical rewards, bootstrap intervals and result containers.

* Pearson distance (EPIC, ERC): ``sqrt((1 − ρ)/2)`` in [0, 1]; 0 for
  positive scaling, 1 for negation.
* Normalised-norm distance (STARC): ``½·‖c_a/‖c_a‖ − c_b/‖c_b‖‖`` with an
  Lp norm over the transitions, in [0, 1] (the paper's value halved so that
  negation gives 1, like EPIC).

A canonical reward that is identically 0 (nothing left after removing
shaping: a shaping term alone, the zero reward, and in a continuing MDP a
constant step cost) has no direction. Two such rewards are at distance 0; one
such reward against a non-trivial one is undefined for Pearson (NaN) and at
distance ½ for STARC (its normalised form is 0, as in the STARC paper).
"Identically 0" is judged up to rounding, by one rule for the sampled and the
tabular paths (:func:`zero_negligible`): the canonical form's largest magnitude
is at most ``ZERO_TOLERANCE`` times the scale of the numbers it was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: a canonical reward no larger than this fraction of its inputs' scale is rounding noise: taken as exactly 0
ZERO_TOLERANCE = 1e-9


def zero_negligible(canonical: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """Set to exactly 0 every row of ``canonical`` (shape ``(k, n)``) that is 0 up to rounding; returns it.

    A row is 0 up to rounding when ``max|c| ≤ ZERO_TOLERANCE · scale``, ``scale`` (one per row) being the
    largest magnitude among the reward values and expectations the row was computed from: the size that
    rounding errors are relative to. Without this, the 1e-16 residue of a pure shaping term would be
    normalised into a direction and land at a large STARC distance from the zero reward.
    """
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), canonical.shape[:1])
    magnitude = np.abs(canonical).max(axis=1, initial=0.0)
    canonical[magnitude <= ZERO_TOLERANCE * np.maximum(scale, np.finfo(float).tiny)] = 0.0
    return canonical


def _weighted(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def pearson_distance(a: np.ndarray, b: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """``sqrt((1 − ρ)/2)`` of two vectors (weighted); see the module notes for constant vectors.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.analysis import pearson_distance
        >>> x = np.array([1.0, 2.0, 3.0])
        >>> round(pearson_distance(x, 2 * x), 6), round(pearson_distance(x, -x), 6)
        (0.0, 1.0)
    """
    return float(_pearson_rows(np.asarray(a)[None], np.asarray(b)[None], _weighted(weights, len(a)))[0])


def _pearson_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson distance of each row pair of ``a`` and ``b`` (shape ``(B, n)``) with weights ``w`` per row or shared."""
    w = np.broadcast_to(w, a.shape)
    da = a - (w * a).sum(axis=1, keepdims=True)
    db = b - (w * b).sum(axis=1, keepdims=True)
    var_a, var_b = (w * da * da).sum(axis=1), (w * db * db).sum(axis=1)
    cov = (w * da * db).sum(axis=1)
    flat_a, flat_b = var_a <= 0.0, var_b <= 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip(cov / np.sqrt(var_a * var_b), -1.0, 1.0)
    out = np.sqrt((1.0 - rho) / 2.0)
    out[flat_a ^ flat_b] = np.nan
    out[flat_a & flat_b] = 0.0
    return out


def starc_norm_distance(a: np.ndarray, b: np.ndarray, *, p: float = 2.0, weights: np.ndarray | None = None) -> float:
    """``½·‖a/‖a‖ − b/‖b‖‖_p`` with a weighted Lp norm (mean over transitions by default).

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> a = np.array([1.0, -1.0, 2.0])
        >>> round(rl.analysis.starc_norm_distance(a, 3.0 * a), 9), round(rl.analysis.starc_norm_distance(a, -a), 9)
        (0.0, 1.0)
    """
    return float(_starc_rows(np.asarray(a)[None], np.asarray(b)[None], _weighted(weights, len(a)), p)[0])


def _starc_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray, p: float) -> np.ndarray:
    if p < 1:
        raise ValueError(f"the norm's p must be >= 1, got {p}")
    w = np.broadcast_to(w, a.shape)

    def norm(x: np.ndarray) -> np.ndarray:
        return ((w * np.abs(x) ** p).sum(axis=1)) ** (1.0 / p)

    def normalised(x: np.ndarray) -> np.ndarray:
        n = norm(x)[:, None]
        return np.divide(x, n, out=np.zeros_like(x), where=n > 0)

    return 0.5 * norm(normalised(a) - normalised(b))


@dataclass(frozen=True)
class Distance:
    """A distance with its bootstrap confidence interval.

    Examples:
        >>> from rewardlab.analysis import Distance
        >>> d = Distance(value=0.25, low=0.2, high=0.3, method="EPIC")
        >>> d, float(d)
        (EPIC distance 0.2500 [0.2000, 0.3000], 0.25)
    """

    value: float
    low: float
    high: float
    method: str

    def __float__(self) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"{self.method} distance {self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass
class DistanceMatrix:
    """Pairwise distances between named rewards, with bootstrap interval bounds.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.analysis import DistanceMatrix
        >>> m = DistanceMatrix(["a", "b"], np.array([[0.0, 0.4], [0.4, 0.0]]), np.zeros((2, 2)),
        ...                    np.full((2, 2), 0.5), "EPIC")
        >>> m["a", "b"]
        EPIC distance 0.4000 [0.0000, 0.5000]
        >>> m.to_frame().columns.tolist()
        ['a', 'b', 'distance', 'low', 'high']
    """

    names: list[str]
    values: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: str

    def to_frame(self):  # noqa: ANN201 - pandas is imported lazily
        """Long table: ``a, b, distance, low, high`` for every ordered pair."""
        import pandas as pd

        rows = [
            (a, b, self.values[i, j], self.low[i, j], self.high[i, j])
            for i, a in enumerate(self.names)
            for j, b in enumerate(self.names)
        ]
        return pd.DataFrame(rows, columns=["a", "b", "distance", "low", "high"])

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`to_frame` to ``path``."""
        self.to_frame().to_csv(path, index=False)
        return Path(path)

    def __getitem__(self, pair: tuple[str, str]) -> Distance:
        i, j = self.names.index(pair[0]), self.names.index(pair[1])
        return Distance(float(self.values[i, j]), float(self.low[i, j]), float(self.high[i, j]), self.method)


def pairwise(
    features: np.ndarray,
    names: list[str],
    method: str,
    *,
    metric: str = "pearson",
    p: float = 2.0,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DistanceMatrix:
    """Distances between every pair of rows of ``features`` (shape ``(k, n)``) with percentile bootstrap intervals.

    The bootstrap resamples the ``n`` columns (transitions or episodes) with
    replacement, the same resample for every pair.
    """
    if metric not in ("pearson", "starc"):
        raise ValueError(f"unknown metric {metric!r}; valid: 'pearson', 'starc'")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    k, n = features.shape
    uniform = np.full(n, 1.0 / n)

    def rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _pearson_rows(a, b, uniform) if metric == "pearson" else _starc_rows(a, b, uniform, p)

    values = np.zeros((k, k))
    low, high = np.zeros((k, k)), np.zeros((k, k))
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, n, size=(bootstrap, n)) if bootstrap > 0 else None
    alpha = (1.0 - confidence) / 2.0
    for i in range(k):
        for j in range(i + 1, k):
            values[i, j] = values[j, i] = rows(features[i][None], features[j][None])[0]
            if resamples is None:
                low[i, j] = low[j, i] = high[i, j] = high[j, i] = values[i, j]
                continue
            boot = np.concatenate(
                [
                    rows(features[i][chunk], features[j][chunk])
                    for chunk in np.array_split(resamples, max(1, bootstrap // 100))
                ]
            )
            lo, hi = np.nanquantile(boot, [alpha, 1.0 - alpha]) if np.isfinite(boot).any() else (np.nan, np.nan)
            low[i, j] = low[j, i] = lo
            high[i, j] = high[j, i] = hi
    return DistanceMatrix(list(names), values, low, high, method)
