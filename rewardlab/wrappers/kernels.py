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
    terminated: np.ndarray,
    truncated: np.ndarray,
    sums: np.ndarray,
    total: np.ndarray,
    limit: float,
    ended: np.ndarray,
    episodes: np.ndarray,
) -> int:
    """Sum components into ``total``; when every total is within ``±limit``, add the step to the episode sums.

    ``values`` is ``(k, n)``; ``sums`` is ``(k + 2, n)``: the episode sum of each
    component, the true (extrinsic) return and the length. A NaN or infinite
    component makes its total fail the check too, so one comparison per env
    covers NaN, ±inf and overflow of the sum. Every ``total[i]`` is written
    either way. Returns -1 when a total fails (nothing is accumulated, so the
    caller can repair ``values`` and call again); otherwise the number ``m`` of
    envs whose episode ended at this step: their indices go to ``ended[:m]``,
    their final sums to ``episodes[:m]`` (rows of ``k + 2``), and their sums
    start again from zero.
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
        return -1
    m = 0
    for i in range(n):
        for j in range(k):
            sums[j, i] += values[j, i]
        sums[k, i] += extrinsic[i]
        sums[k + 1, i] += 1.0
        if terminated[i] or truncated[i]:
            ended[m] = i
            for j in range(k + 2):
                episodes[m, j] = sums[j, i]
                sums[j, i] = 0.0
            m += 1
    return m
