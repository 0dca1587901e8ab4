"""Numba kernel for the wrapper's per-step bookkeeping (one call instead of several numpy ops)."""

from __future__ import annotations

import numba
import numpy as np

#: the largest total the agent can receive: SB3 stores rewards as float32
FLOAT32_MAX = float(np.finfo(np.float32).max)


@numba.njit(cache=True, nogil=True)
def accumulate_step(state: np.ndarray, extrinsic: np.ndarray, done: np.ndarray, out: np.ndarray) -> int:
    """Sum the components into the step's totals; when all fit float32, add the step to the episode sums.

    ``state`` is ``(3k + 8, n)``, three blocks of rows. The step, ``(k + 2, n)``:
    the ``k`` components (as the reward wrote them), then the kernel writes
    the extrinsic reward and the total, so one block holds the whole step;
    ``out`` gets the totals too, in its own dtype (float32 for SB3). The
    running episode sums, ``(k + 2, n)``: each component, the true
    (extrinsic) return, the length. The episode records, ``(k + 4, n)``: a
    column per env whose episode ended at this step.
    A NaN or infinite component makes its total fail the check too, so one
    comparison per env covers NaN, ±inf and overflow of the sum (``|total|
    <=`` :data:`FLOAT32_MAX`). Every total is written either way, each after
    ``extrinsic`` at its env is read: ``out`` may be ``extrinsic``. Returns -1
    when a total fails (nothing is accumulated, so the caller can repair the
    components and call again); otherwise the number ``m`` of envs whose
    episode ended (``done``). Their columns ``0..m-1`` of the episode rows hold
    each component's sum, the true return, the episode's total (the
    components' sums added in order), the length and the env index, and their
    sums start again from zero. Few arguments on purpose: numba's dispatch costs
    about 0.1–0.2 µs per argument, on every step.
    """
    rows, n = state.shape
    k = (rows - 8) // 3
    step = state[: k + 2]
    ok = True
    for i in range(n):
        acc = 0.0
        for j in range(k):
            acc += step[j, i]
        step[k, i] = extrinsic[i]
        step[k + 1, i] = acc
        out[i] = acc
        if not abs(acc) <= FLOAT32_MAX:  # also true for NaN
            ok = False
    if not ok:
        return -1
    sums = state[k + 2 : 2 * k + 4]
    episodes = state[2 * k + 4 :]
    m = 0
    for i in range(n):
        for j in range(k):
            sums[j, i] += step[j, i]
        sums[k, i] += step[k, i]  # extrinsic[i], read from the step: ``out`` may be ``extrinsic`` itself
        sums[k + 1, i] += 1.0
        if done[i]:
            acc = 0.0
            for j in range(k):
                acc += sums[j, i]
                episodes[j, m] = sums[j, i]
                sums[j, i] = 0.0
            episodes[k, m] = sums[k, i]
            episodes[k + 1, m] = acc
            episodes[k + 2, m] = sums[k + 1, i]
            episodes[k + 3, m] = i
            sums[k, i] = 0.0
            sums[k + 1, i] = 0.0
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def scaled_copy(reward: np.ndarray, weight: float, out: np.ndarray) -> None:
    """``out[i] = float64(reward[i]) · weight``: the extrinsic term's fused step (the same values as numpy's
    ``out[...] = reward`` for a weight of 1 and ``np.multiply(reward, weight, out=out)`` otherwise)."""
    for i in range(out.shape[0]):
        out[i] = np.float64(reward[i]) * weight


@numba.njit(cache=True, nogil=True)
def filled(value: float, weight: float, out: np.ndarray) -> None:
    """``out[:] = value · weight``: the constant term's fused step (numpy's ``out.fill(value * weight)``)."""
    v = value * weight
    for i in range(out.shape[0]):
        out[i] = v
