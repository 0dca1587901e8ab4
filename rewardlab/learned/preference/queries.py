"""Which candidate pairs to ask the teacher about (B-Pref's sampling schemes, without k-center).

From the ensemble's predicted preference ``pₖ = P_k(σ¹ ≻ σ²)`` of each member ``k``:

* ``uniform``: pairs drawn at random;
* ``disagreement``: the pairs with the largest std of ``pₖ`` over members;
* ``entropy``: the pairs with the largest entropy ``H(p̄)`` of the mean prediction
  (the model is least sure which segment is better).
"""

from __future__ import annotations

import numpy as np

SELECTIONS = ("uniform", "disagreement", "entropy")


def select_queries(method: str, probabilities: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``count`` pairs out of ``probabilities.shape[1]`` (``probabilities``: ``(members, pairs)``).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.preference import select_queries
        >>> p = np.array([[0.5, 0.9, 0.1], [0.5, 0.1, 0.9]])      # 2 members disagree most on pairs 1 and 2
        >>> sorted(select_queries("disagreement", p, 2, np.random.default_rng(0)).tolist())
        [1, 2]
    """
    n = probabilities.shape[1]
    count = min(count, n)
    if method == "uniform":
        return rng.choice(n, size=count, replace=False)
    if method == "disagreement":
        score = probabilities.std(axis=0)
    elif method == "entropy":
        p = np.clip(probabilities.mean(axis=0), 1e-12, 1 - 1e-12)
        score = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    else:
        raise ValueError(f"unknown query selection {method!r}; valid: {list(SELECTIONS)}")
    return np.argsort(-score, kind="stable")[:count]
