"""Potential-based shaping (Ng, Harada & Russell 1999).

``F(s, a, s') = γ·(1 − terminated)·Φ(s') − Φ(s)``.

Adding ``F`` to any reward leaves the optimal policies unchanged. Two details
decide whether that holds in practice:

* ``s'`` at an auto-reset is the terminal observation, which the wrapper
  puts into ``batch.next_obs``;
* Φ(s') is zeroed only on true termination. On truncation (a time limit)
  the episode could have gone on, so Φ(s') is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm, StepKernel
from rewardlab.core.transitions import Transitions
from rewardlab.shaping.kernels import shaping_from_potentials
from rewardlab.shaping.potentials import Potential
from rewardlab.shaping.potentials import potential as as_potential


class PotentialShaping(RewardTerm):
    """The shaping reward ``γ·(1−terminated)·Φ(s') − Φ(s)`` for a potential Φ.

    Args:
        potential: a :class:`Potential`, or a vectorised function of observations.
        gamma: discount; use the agent's γ so the guarantee holds.

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.shaping import PotentialShaping, Potential
        >>> term = PotentialShaping(Potential.from_config("cartpole_upright"), gamma=1.0)
        >>> batch = rl.Transitions.fake(reward=[1.0, 1.0], obs=[[0, 0, 0.1, 0], [0, 0, 0.1, 0]],
        ...                             next_obs=[[0, 0, 0.0, 0], [0, 0, 0.2, 0]], terminated=[False, True])
        >>> term(batch).round(3)   # upright again: +; falling and terminated: Φ(s') counts as 0
        array([0.477, 0.477])
    """

    name = "shaping"

    def __init__(
        self, potential: Potential | Callable[[Any], np.ndarray], *, gamma: float = 0.99, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.potential = as_potential(potential)
        self.gamma = float(gamma)

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        self.potential.bind(env)

    def compute(self, batch: Transitions) -> np.ndarray:
        out = np.empty(batch.n)
        kernel = self.potential.shaping_kernel
        if kernel is not None:
            kernel(
                np.ascontiguousarray(batch.obs),
                np.ascontiguousarray(batch.next_obs),
                batch.terminated,
                self.gamma,
                out,
            )
        else:
            shaping_from_potentials(
                self.potential(batch.obs), self.potential(batch.next_obs), batch.terminated, self.gamma, out
            )
        return out

    def compute_into(self, batch: Transitions, out: np.ndarray, weight: float = 1.0) -> None:
        kernel = self.potential.shaping_kernel
        if kernel is None:
            super().compute_into(batch, out, weight)
            return
        kernel(np.ascontiguousarray(batch.obs), np.ascontiguousarray(batch.next_obs), batch.terminated, self.gamma, out)
        if weight != 1.0:
            out *= weight

    def step_kernel(self, obs: np.ndarray) -> StepKernel | None:
        kernel = self.potential.shaping_kernel
        if kernel is None or obs.dtype.kind != "f":
            return None
        return StepKernel(kernel, ("obs", "next_obs", "terminated"), (float(self.gamma),))

    def __repr__(self) -> str:
        return f"PotentialShaping({self.potential!r}, gamma={self.gamma:g})"


def potential(
    phi: Potential | Callable[[Any], np.ndarray] | str, *, gamma: float = 0.99, name: str | None = None, **params: Any
) -> PotentialShaping:
    """Potential-based shaping term.

    ``phi`` is a :class:`Potential`, a vectorised function ``phi(obs) -> (n,)``,
    or the name of a built-in potential (``rewardlab rewards`` lists them) with
    its parameters as keyword arguments.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
        >>> reward.component_names()
        ['extrinsic', 'shaping']
        >>> rl.shaping.potential("goal_distance", goal=[0.5], dims=[0]).potential.name
        'goal_distance'
    """
    if isinstance(phi, str):
        phi = Potential.from_config({"name": phi, **params})
    elif params:
        raise TypeError(f"unexpected keyword arguments {sorted(params)} for a non-named potential")
    return PotentialShaping(phi, gamma=gamma, name=name)
