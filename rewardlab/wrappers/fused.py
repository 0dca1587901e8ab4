"""One compiled call per step: the terms' kernels and the engine's bookkeeping fused.

Called one by one, the terms' step kernels cost one numba dispatch each, plus one for the engine's
bookkeeping (:func:`~rewardlab.wrappers.kernels.accumulate_step`). Right after an env step
(MuJoCo's, or PPO's forward pass between steps) each of those costs two to three times what it costs in a
warm loop, so for rewards whose every term offers a :class:`~rewardlab.core.term.StepKernel` the engine
compiles one function that calls each kernel into its row and then books the step::

    def fused(state, obs, next_obs, reward, terminated, done, total, a0_0, ...):
        k0(reward, a0_0, state[0])                    # extrinsic: the weight is the term's argument
        k1(obs, next_obs, terminated, a1_0, state[1])  # potential shaping, then state[1] *= w1
        r2 = k2(next_obs, a2_0, a2_1, a2_2, state[2])  # count bonus: r2 new keys, synced in Python
        return accumulate_step(state, reward, done, total), r2

The weights are literals in the source (``repr`` of a float reads back the same double), the kernels and
their arguments are the terms' own, so the values are those of the kernels called one by one bit for bit
(``tests/test_engine_step_kernels.py``). Compiling takes about a second per reward (numba), which is why the
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
    """The terms' step kernels, ``(row index, weight, kernel)`` triples: called one by one, or as one compiled call.

    Until :meth:`compile` (the engine calls it after ``fuse_after`` steps), :meth:`call_each` runs the kernels
    one Python call each into their rows of ``state``; then :attr:`fn` runs them all and
    :func:`accumulate_step` in one call. Both return the kernels' results in the same places (``out[at]``
    of each entry of :attr:`syncs`), which the engine hands to the kernels' ``sync``. The same source and
    kernels compile once per process: a plan asked again (after ``eval()``, a reset, loaded state) gets the
    compiled function at once.
    """

    def __init__(self, plan: Sequence[tuple[int, float, StepKernel]]) -> None:
        self.kernels = [kernel for _, _, kernel in plan]
        self.rows = [row for row, _, _ in plan]
        self.weights = [float(weight) for _, weight, _ in plan]
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
        self.source = source = "\n".join([f"def fused({signature}):", *lines, f"    return ({returned},)"])
        self._key = (source, *(kernel.fn for kernel in self.kernels))
        self._env = env
        #: the compiled function ``fn(state, obs, next_obs, reward, terminated, done, total, *args)``, or None
        #: before :meth:`compile` (already there when this source and these kernels compiled before)
        self.fn: Callable[..., tuple] | None = _COMPILED.get(self._key)
        #: ``(index of the result in what ``fn`` returns, index of the kernel, its sync)`` of kernels with a sync
        self.syncs = [
            (at + 1, j, k.sync) for at, (j, k) in enumerate((j, k) for j, k in enumerate(self.kernels) if k.sync)
        ]
        #: the kernels' arguments, in the order of the function's parameters
        self.args = self._flat_args()

    def _flat_args(self) -> tuple:
        return tuple(a for kernel in self.kernels for a in kernel.args)

    def compile(self) -> None:
        """Compile the fused function (about a second of numba), unless this process already has it."""
        if self.fn is None:
            exec(compile(self.source, f"<rewardlab fused step of {len(self.kernels)} terms>", "exec"), self._env)
            self.fn = _COMPILED[self._key] = numba.njit(nogil=True)(self._env["fused"])

    def call_each(
        self, state: np.ndarray, obs: np.ndarray, next_obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray
    ) -> list[int]:
        """The kernels one Python call each, into their rows of ``state`` (not the bookkeeping); the results in
        the places :attr:`fn` returns them (the first place unused)."""
        arrays = {"obs": obs, "next_obs": next_obs, "reward": reward, "terminated": terminated}
        out = [0]
        for kernel, row, weight in zip(self.kernels, self.rows, self.weights):
            inputs = [arrays[name] for name in kernel.inputs]
            if kernel.takes_weight:
                result = kernel.fn(*inputs, *kernel.args, weight, state[row])
            else:
                result = kernel.fn(*inputs, *kernel.args, state[row])
                if weight != 1.0:
                    state[row] *= weight
            if kernel.sync is not None:
                out.append(result)
        return out

    def take_args(self, j: int, new_args: tuple | None) -> None:
        """Take the new arguments kernel ``j``'s ``sync`` returned (its arrays changed: a table grew); None:
        nothing changed."""
        if new_args is not None:
            self.kernels[j] = self.kernels[j]._replace(args=tuple(new_args))
            self.args = self._flat_args()
