"""Numba kernels for potential-based shaping over a batch of envs."""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def shaping_from_potentials(
    phi: np.ndarray, phi_next: np.ndarray, terminated: np.ndarray, gamma: float, out: np.ndarray
) -> None:
    """``out[i] = γ·(1−terminated[i])·Φ(s'ᵢ) − Φ(sᵢ)`` given both potentials."""
    for i in range(phi.shape[0]):
        nxt = 0.0 if terminated[i] else phi_next[i]
        out[i] = gamma * nxt - phi[i]


def fused_shaping_kernel(row_potential: Callable) -> Callable:
    """Compile a kernel that evaluates a jitted per-row potential and shapes in one loop.

    ``row_potential`` is a ``numba.njit`` function of one observation row
    returning a float. The next-state potential is skipped on termination.
    """

    @numba.njit(nogil=True)
    def kernel(obs: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray, gamma: float, out: np.ndarray) -> None:
        for i in range(obs.shape[0]):
            nxt = 0.0 if terminated[i] else row_potential(next_obs[i])
            out[i] = gamma * nxt - row_potential(obs[i])

    return kernel


def potentials_kernel(row_potential: Callable) -> Callable:
    """Compile a kernel evaluating a jitted per-row potential over a batch."""

    @numba.njit(nogil=True)
    def kernel(obs: np.ndarray, out: np.ndarray) -> None:
        for i in range(obs.shape[0]):
            out[i] = row_potential(obs[i])

    return kernel
