"""One compiled call per step: the terms' kernels and the engine's bookkeeping fused.

The engine's step on the ``step_fn`` path makes one Python call per term, one numba dispatch per kernel and
one for its own bookkeeping (:func:`~rewardlab.wrappers.kernels.accumulate_step`). Right after an env step
(MuJoCo's, or PPO's forward pass between steps) each of those costs two to three times what it costs in a
warm loop, so for rewards whose every term offers a :class:`~rewardlab.core.term.StepKernel` the engine
compiles one function that calls each kernel into its row and then books the step::

    def fused(state, obs, next_obs, reward, terminated, done, total, a0_0, ...):
        k0(reward, a0_0, state[0])                    # extrinsic: the weight is the term's argument
        k1(obs, next_obs, terminated, a1_0, state[1])  # potential shaping, then state[1] *= w1
        r2 = k2(next_obs, a2_0, a2_1, a2_2, state[2])  # count bonus: r2 new keys, synced in Python
        return accumulate_step(state, reward, done, total), r2

The weights are literals in the source (``repr`` of a float reads back the same double), the kernels and
their arguments are the terms' own, so the values are those of the ``step_fn`` path bit for bit
(``tests/test_engine_step_fns.py``). Compiling takes about a second per reward (numba), which is why the
engine fuses only after :attr:`~rewardlab.wrappers.engine.RewardEngine.fuse_after` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np

from rewardlab.core.term import StepKernel
from rewardlab.wrappers.kernels import accumulate_step

INPUTS = ("obs", "next_obs", "reward", "terminated")
#: fused functions by (source, kernels): a second wrapper of the same reward reuses the first one's compiled code
_COMPILED: dict[tuple, Callable[..., tuple]] = {}


class FusedStep:
    """The fused step of ``(row index, weight, kernel)`` triples; call :meth:`__call__` once per step.

    ``__call__(state, obs, next_obs, reward, terminated, done, total)`` runs every kernel into its row of
    ``state`` and :func:`accumulate_step`, and returns what that returns (the number of episodes that ended,
    or -1 when a total failed its check); kernels with a ``sync`` get their result afterwards.
    """

    def __init__(self, plan: Sequence[tuple[int, float, StepKernel]]) -> None:
        self.kernels = [kernel for _, _, kernel in plan]
        env: dict[str, Any] = {"accumulate_step": accumulate_step}
        params, lines, results = [], [], []
        for j, (row, weight, kernel) in enumerate(plan):
            bad = [name for name in kernel.inputs if name not in INPUTS]
            if bad:
                raise ValueError(f"step kernel of term {j} reads {bad}; valid inputs: {list(INPUTS)}")
            env[f"k{j}"] = kernel.fn
            names = [f"a{j}_{i}" for i in range(len(kernel.args))]
            params += names
            call = [*kernel.inputs, *names, *([repr(float(weight))] if kernel.takes_weight else []), f"state[{row}]"]
            target = f"r{j} = " if kernel.sync is not None else ""
            lines.append(f"    {target}k{j}({', '.join(call)})")
            if kernel.sync is not None:
                results.append(f"r{j}")
            if not kernel.takes_weight and float(weight) != 1.0:
                lines.append(f"    row = state[{row}]")
                lines.append("    for i in range(row.shape[0]):")
                lines.append(f"        row[i] *= {float(weight)!r}")
        signature = ", ".join(["state", *INPUTS, "done", "total", *params])
        returned = ", ".join(["accumulate_step(state, reward, done, total)", *results])
        source = "\n".join([f"def fused({signature}):", *lines, f"    return ({returned},)"])
        self.source = source
        key = (source, *(kernel.fn for kernel in self.kernels))
        fn = _COMPILED.get(key)
        if fn is None:  # the same source and kernels compile once per process (new args are passed per call)
            exec(compile(source, f"<rewardlab fused step of {len(plan)} terms>", "exec"), env)
            fn = _COMPILED[key] = numba.njit(nogil=True)(env["fused"])
        #: the compiled function: ``fn(state, obs, next_obs, reward, terminated, done, total, *args)``
        self.fn: Callable[..., tuple] = fn
        #: ``(index of the result in what the function returns, the kernel's sync)`` of kernels with a sync
        self.syncs = [(at + 1, k.sync) for at, k in enumerate(k for k in self.kernels if k.sync is not None)]
        self._synced = [j for j, k in enumerate(self.kernels) if k.sync is not None]  # their kernels' indices
        #: the kernels' arguments, in the order of the function's parameters
        self.args = self._flat_args()

    def _flat_args(self) -> tuple:
        return tuple(a for kernel in self.kernels for a in kernel.args)

    def __call__(
        self,
        state: np.ndarray,
        obs: np.ndarray,
        next_obs: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        done: np.ndarray,
        total: np.ndarray,
    ) -> int:
        out = self.fn(state, obs, next_obs, reward, terminated, done, total, *self.args)
        for at, sync in self.syncs:
            if out[at]:
                self.sync(at, sync(out[at]))
        return out[0]

    def sync(self, at: int, new_args: tuple | None) -> None:
        """Take the new arguments a kernel's ``sync`` returned for result ``at`` (its arrays changed: a table
        grew); None: nothing changed. A sync is called only with a non-zero result."""
        if new_args is not None:
            j = self._synced[at - 1]
            self.kernels[j] = self.kernels[j]._replace(args=tuple(new_args))
            self.args = self._flat_args()
