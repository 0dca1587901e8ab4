"""Unsupervised perceptual rewards from a few demonstrations (Sermanet, Xu & Levine 2016).

The paper's recipe -- pretrained visual features, an unsupervised split of each
demonstration into steps, the features that best tell steps apart, a classifier
per step, a dense reward from progress through the steps -- with these choices
of ours for each part, from the features ``φ(frame)`` of a visual encoder:

1. **Standardise** every feature over all demonstration frames (drop constant ones).
2. **Split each demonstration into K steps**: contiguous segments, each as homogeneous
   as possible -- ``min Σ_k Σ_{t∈seg k} ‖φ_t − mean_k‖²`` over all splits whose segments
   have at least ``min_length`` frames, solved exactly by dynamic programming (``O(K·T²)``).
3. **Select features per step**: for step ``j`` and feature ``i``, with ``μ⁺, σ⁺`` over the
   frames of step ``j`` in every demo and ``μ⁻, σ⁻`` over all other frames, the score
   ``z_ij = |μ⁺ − μ⁻| / (σ⁺ + σ⁻)``; keep the ``n_features`` best.
4. **Per-step classifiers**: on its selected features, step ``j`` is a diagonal Gaussian
   ``N(μ⁺, σ⁺²)`` against ``N(μ⁻, σ⁻²)`` for "elsewhere"; ``p_j(s) = sigmoid(mean_i LLR_i)``,
   the naive-Bayes log-likelihood ratio averaged (not summed) over features so the
   reward stays smooth instead of snapping to 0 or 1.
5. **Dense reward from step progress**: ``R(s) = Σ_j w_j·p_j(s) / Σ_j w_j`` with
   ``w_j = 2^j``: a later step outweighs all earlier ones together; ``R ∈ [0, 1]``.

Everything is numpy; the fitted model is a handful of arrays (:meth:`state`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPS = 1e-6


def segment_costs(features: np.ndarray) -> np.ndarray:
    """``cost[a, b]`` = squared deviation of frames ``a..b-1`` from their mean (``inf`` where ``b <= a``)."""
    x = np.asarray(features, dtype=np.float64)
    t = len(x)
    s1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    s2 = np.concatenate([[0.0], np.cumsum((x**2).sum(axis=1))])
    cost = np.full((t + 1, t + 1), np.inf)
    for a in range(t):
        b = np.arange(a + 1, t + 1)
        diff = s1[b] - s1[a]
        cost[a, b] = (s2[b] - s2[a]) - (diff**2).sum(axis=1) / (b - a)
    return cost


def split_steps(features: np.ndarray, n_steps: int, *, min_length: int = 1) -> np.ndarray:
    """Boundaries ``[0, b_1, ..., T]`` of the least-squares split of one sequence into ``n_steps`` segments.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import split_steps
        >>> features = np.array([[0.0]] * 5 + [[1.0]] * 5)
        >>> split_steps(features, 2).tolist()
        [0, 5, 10]
    """
    t = len(features)
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if n_steps * min_length > t:
        raise ValueError(f"cannot split {t} frames into {n_steps} steps of at least {min_length} frames")
    cost = segment_costs(features)
    for a in range(t + 1):  # forbid segments shorter than min_length
        cost[a, a : min(a + min_length, t + 1)] = np.inf
    best = np.full((n_steps + 1, t + 1), np.inf)
    arg = np.zeros((n_steps + 1, t + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for k in range(1, n_steps + 1):
        total = best[k - 1][:, None] + cost  # total[a, b]: first k-1 steps end at a, step k is a..b
        arg[k] = np.argmin(total, axis=0)
        best[k] = total[arg[k], np.arange(t + 1)]
    bounds = [t]
    for k in range(n_steps, 0, -1):
        bounds.append(int(arg[k, bounds[-1]]))
    return np.array(bounds[::-1])


@dataclass
class PerceptualModel:
    """A fitted perceptual reward: normalisation, selected features and per-step Gaussians."""

    mean: np.ndarray  # (d,) feature means over the demos
    scale: np.ndarray  # (d,) feature stds (1 for constant features)
    selected: np.ndarray  # (K, m) selected feature indices per step
    mu_in: np.ndarray  # (K, m)
    sd_in: np.ndarray  # (K, m)
    mu_out: np.ndarray  # (K, m)
    sd_out: np.ndarray  # (K, m)
    weights: np.ndarray  # (K,) step weights of the reward
    boundaries: list[np.ndarray] = field(default_factory=list)  # per demo, for inspection

    @property
    def n_steps(self) -> int:
        return len(self.weights)

    @classmethod
    def fit(
        cls,
        demos: Sequence[np.ndarray],
        *,
        n_steps: int = 3,
        n_features: int = 32,
        min_length: int | None = None,
    ) -> PerceptualModel:
        """Fit from the feature sequences ``(T_i, d)`` of a few demonstrations."""
        if not demos:
            raise ValueError("fitting a perceptual reward needs at least one demonstration")
        if n_steps < 2:
            raise ValueError(f"n_steps must be >= 2 (a reward needs progress between steps), got {n_steps}")
        demos = [np.asarray(d, dtype=np.float64) for d in demos]
        dims = {d.shape[1] for d in demos}
        if len(dims) != 1:
            raise ValueError(f"demonstrations have features of different sizes {sorted(dims)}")
        stacked = np.concatenate(demos)
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        varying = std > EPS
        if not varying.any():
            raise ValueError("every feature is constant over the demonstrations: nothing tells the steps apart")
        scale = np.where(varying, std, 1.0)
        normed = [(d - mean) / scale for d in demos]
        labels, boundaries = [], []
        for i, z in enumerate(normed):
            ml = min_length if min_length is not None else max(1, len(z) // (3 * n_steps))
            if len(z) < n_steps * ml:
                raise ValueError(f"demonstration {i} has {len(z)} frames; it needs at least {n_steps * ml}")
            bounds = split_steps(z[:, varying], n_steps, min_length=ml)
            boundaries.append(bounds)
            labels.append(np.repeat(np.arange(n_steps), np.diff(bounds)))
        z_all, y = np.concatenate(normed), np.concatenate(labels)
        m = min(n_features, int(varying.sum()))
        selected = np.zeros((n_steps, m), dtype=np.int64)
        stats = np.zeros((4, n_steps, m))
        for j in range(n_steps):
            inside, outside = z_all[y == j], z_all[y != j]
            mu_i, sd_i = inside.mean(axis=0), inside.std(axis=0) + EPS
            mu_o, sd_o = outside.mean(axis=0), outside.std(axis=0) + EPS
            score = np.where(varying, np.abs(mu_i - mu_o) / (sd_i + sd_o), -np.inf)
            top = np.argsort(-score, kind="stable")[:m]
            selected[j] = top
            stats[:, j] = mu_i[top], sd_i[top], mu_o[top], sd_o[top]
        return cls(
            mean=mean,
            scale=scale,
            selected=selected,
            mu_in=stats[0],
            sd_in=np.maximum(stats[1], 0.05),  # floor: a step seen in few frames must not be a spike
            mu_out=stats[2],
            sd_out=np.maximum(stats[3], 0.05),
            weights=2.0 ** np.arange(n_steps),
            boundaries=boundaries,
        )

    def step_probabilities(self, features: np.ndarray) -> np.ndarray:
        """``p_j(s)``: probability that each frame is in step ``j``, shape ``(n, K)``."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        out = np.empty((len(z), self.n_steps))
        for j in range(self.n_steps):
            x = z[:, self.selected[j]]
            llr = _log_normal(x, self.mu_in[j], self.sd_in[j]) - _log_normal(x, self.mu_out[j], self.sd_out[j])
            out[:, j] = _sigmoid(llr.mean(axis=1))
        return out

    def reward(self, features: np.ndarray) -> np.ndarray:
        """Dense reward in [0, 1]: step probabilities weighted towards later steps."""
        return self.step_probabilities(features) @ self.weights / self.weights.sum()

    def state(self) -> dict[str, Any]:
        """Plain arrays (``torch.save``-able, reloads with :meth:`from_state`)."""
        return {
            "mean": self.mean,
            "scale": self.scale,
            "selected": self.selected,
            "mu_in": self.mu_in,
            "sd_in": self.sd_in,
            "mu_out": self.mu_out,
            "sd_out": self.sd_out,
            "weights": self.weights,
            "boundaries": [np.asarray(b) for b in self.boundaries],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PerceptualModel:
        return cls(**{k: (list(v) if k == "boundaries" else np.array(v)) for k, v in state.items()})


def _log_normal(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))
