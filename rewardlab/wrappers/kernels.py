"""Numba kernel for the wrapper's per-step bookkeeping (one call instead of several numpy ops)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def accumulate_step(
    values: np.ndarray,
    extrinsic: np.ndarray,
    sums: np.ndarray,
    true_return: np.ndarray,
    lengths: np.ndarray,
    total: np.ndarray,
) -> bool:
    """Sum components into ``total``, add them to the episode sums; return whether all are finite.

    ``values`` is ``(k, n)``. When a value is not finite nothing is accumulated, so the
    caller can repair ``values`` and call again.
    """
    k, n = values.shape
    for i in range(n):
        acc = 0.0
        for j in range(k):
            acc += values[j, i]
        if not np.isfinite(acc):
            return False
        total[i] = acc
    for i in range(n):
        for j in range(k):
            sums[j, i] += values[j, i]
        true_return[i] += extrinsic[i]
        lengths[i] += 1
    return True
