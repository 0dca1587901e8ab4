"""Numba kernel for the wrapper's per-step bookkeeping (one call instead of several numpy ops)."""

from __future__ import annotations

import numba
import numpy as np

#: the largest total the agent can receive: SB3 stores rewards as float32
FLOAT32_MAX = float(np.finfo(np.float32).max)


@numba.njit(cache=True, nogil=True)
def accumulate_step(
    values: np.ndarray,
    extrinsic: np.ndarray,
    sums: np.ndarray,
    true_return: np.ndarray,
    lengths: np.ndarray,
    total: np.ndarray,
    limit: float,
) -> bool:
    """Sum components into ``total``; when every total is within ``±limit``, add the step to the episode sums.

    ``values`` is ``(k, n)``. A NaN or infinite component makes its total fail
    the check too, so one comparison per env covers NaN, ±inf and overflow of
    the sum. Every ``total[i]`` is written either way; when any fails, nothing
    is accumulated and the function returns False, so the caller can repair
    ``values`` and call again.
    """
    k, n = values.shape
    ok = True
    for i in range(n):
        acc = 0.0
        for j in range(k):
            acc += values[j, i]
        total[i] = acc
        if not abs(acc) <= limit:  # also true for NaN
            ok = False
    if not ok:
        return False
    for i in range(n):
        for j in range(k):
            sums[j, i] += values[j, i]
        true_return[i] += extrinsic[i]
        lengths[i] += 1
    return True
