"""One compiled call per step: the terms' kernels and the engine's bookkeeping fused.

Called one by one, the terms' step kernels cost one numba dispatch each, plus one for the engine's
bookkeeping (:func:`~rewardlab.wrappers.kernels.accumulate_step`). Right after an env step
(MuJoCo's, or PPO's forward pass between steps) each of those costs two to three times what it costs in a
warm loop, so for rewards whose every term offers a :class:`~rewardlab.core.term.StepKernel` the engine
compiles a function that calls each kernel into its row and then books the step. Two, in fact: the long way,
for any step, and the common step, where no episode ended (``terminated`` is then ``done``: one argument
fewer), which checks that first and otherwise does the same::

    def fused_fast(state, obs, next_obs, reward, done, total, results, a1_0, a2_0, a2_1):
        for i in range(done.shape[0]):                 # an episode ended: return at once, nothing changed;
            if done[i]:                                # the engine takes the long way (the terminal
                return -2                              # observations in next_obs, terminated apart)
        terminated = done
        k0(reward, 1.0, state[0])                      # extrinsic: the weight is a literal
        k1(obs, next_obs, terminated, a1_0, state[1])  # potential shaping, then state[1] *= w1 when w1 != 1
        r2 = k2(next_obs, a2_0, a2_1, 0.01, state[2])  # count bonus: 1 when its table needs room
        n = accumulate_step(state, reward, done, total)
        results[0] = r2
        if n == 0 and (r2 != 0):
            return 1
        return n

Python hears from a kernel only through its result (``r2``, kept in :attr:`FusedStep.results`: the engine calls
the kernel's ``sync``, here to grow the count table, when it is not 0), and the call returns one int, 0 on a
common step, so such a step is one compiled call and a few attribute reads
(:meth:`~rewardlab.wrappers.engine.RewardEngine.step_fast`).

The weights are literals in the source (``repr`` of a float reads back the same double), the kernels and
their arguments are the terms' own, so the values are those of the kernels called one by one bit for bit
(``tests/test_engine_step_kernels.py``). Compiling takes about a second per reward (numba; the common step at
its first call, the long way at its first episode end), which is why the engine fuses only after
:attr:`~rewardlab.wrappers.engine.RewardEngine.fuse_after` steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np

from rewardlab.core.term import StepKernel
from rewardlab.wrappers.kernels import accumulate_step

INPUTS = ("obs", "next_obs", "reward", "terminated")
#: fused functions (the long way, the common step) by (source, kernels): a second wrapper of the same reward
#: reuses the first one's compiled code
_COMPILED: dict[tuple, tuple[Callable[..., int], Callable[..., int]]] = {}


class FusedStep:
    """The terms' step kernels, ``(row index, weight, kernel)`` triples: called one by one, or as one compiled call.

    Until :meth:`compile` (the engine calls it after ``fuse_after`` steps), :meth:`call_each` runs the kernels
    one Python call each into their rows of ``state``; then :attr:`fn` runs them all and
    :func:`accumulate_step` in one call. Both leave the kernels' results in :attr:`results`, which
    :meth:`sync` hands to the kernels' ``sync``. The same source and
    kernels compile once per process: a plan asked again (after ``eval()``, a reset, loaded state) gets the
    compiled function at once.
    """

    def __init__(self, plan: Sequence[tuple[int, float, StepKernel]], *, steady: bool = False) -> None:
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
        if results:  # the array the kernels' results go into comes first
            params.insert(0, "results")
        # the bookkeeping, then the kernels' results into `results` (read by the engine only when the call
        # returns other than 0); the common step returns 1 when some result is not 0, so 0 says "nothing to do"
        book = [
            "    n = accumulate_step(state, reward, done, total)",
            *(f"    results[{at}] = {r}" for at, r in enumerate(results)),
        ]
        any_result = [f"    if n == 0 and ({' or '.join(f'{r} != 0' for r in results)}):", "        return 1"]
        tail = [*book, "    return n"]
        fast_tail = [*book, *(any_result if results else []), "    return n"]
        # the long way (any step): what the step's terminated and done say
        signature = ", ".join(["state", *INPUTS, "done", "total", *params])
        long_way = [f"def fused({signature}):", *lines, *tail]
        # the common step: nothing may have ended, so terminated is done (one argument fewer); when something
        # did, it returns -2 at once, having changed nothing
        signature = ", ".join(["state", *(name for name in INPUTS if name != "terminated"), "done", "total"])
        fast = [
            f"def fused_fast({', '.join([signature, *params])}):",
            "    for i in range(done.shape[0]):",
            "        if done[i]:",
            "            return -2",
            "    terminated = done",
            *lines,
            *fast_tail,
        ]
        self.source = source = "\n".join([*long_way, "", "", *fast])
        self._key = (source, *(kernel.fn for kernel in self.kernels))
        self._env = env
        compiled = _COMPILED.get(self._key)  # already there when this source and these kernels compiled before
        #: the compiled long way ``fn(state, obs, next_obs, reward, terminated, done, total, *args)``, or None
        #: before :meth:`compile`: returns what :func:`accumulate_step` does (the number of episodes that
        #: ended, or -1 when a total is out of range), the kernels' results in :attr:`results`
        self.fn: Callable[..., int] | None = compiled[0] if compiled else None
        #: the compiled common step ``fast(state, obs, next_obs, reward, done, total, *args)``: ``-2`` at once,
        #: having changed nothing, when some env's ``done`` is set; else ``-1`` (a total out of range), ``1``
        #: (some kernel's result, in :attr:`results`, is not 0) or ``0`` (nothing more to do). None before
        #: :meth:`compile`
        self.fast: Callable[..., int] | None = compiled[1] if compiled else None
        #: the results of the kernels with a ``sync``, in the order of :attr:`syncs`, as the last call left them
        #: (the first of :attr:`args` when there are any)
        self.results = np.zeros(len(results), dtype=np.int64)
        #: ``(index in results, index of the kernel, its sync)`` of the kernels with a sync
        self.syncs = [(at, j, k.sync) for at, (j, k) in enumerate((j, k) for j, k in enumerate(self.kernels) if k.sync)]
        #: the kernels' arguments, in the order of the function's parameters
        self.args = self._flat_args()
        #: whether the caller vouches that the common step's arrays keep their types (dtype, dimensions, layout)
        #: from one step to the next, as those of SB3's ``DummyVecEnv`` do (see :attr:`call`)
        self.steady = steady
        #: what the engine calls for the common step (None before :meth:`compile`): :attr:`fast` through a first
        #: call that pins it (:meth:`_first_call`), then either :attr:`fast` itself, or, for a :attr:`steady`
        #: caller, numba's compiled entry point for the types of that first call. The entry point skips the
        #: dispatcher's typing of every argument on every call (about 0.7 µs right after a MuJoCo step) and
        #: checks nothing: it is only for arrays whose types cannot change
        self.call: Callable[..., int] | None = self._first_call if compiled else None

    def _flat_args(self) -> tuple:
        return (*((self.results,) if self.syncs else ()), *(a for kernel in self.kernels for a in kernel.args))

    def _first_call(self, *args: Any) -> int:
        """:attr:`fast` through numba's dispatcher, then pin :attr:`call`: to the compiled entry point of these
        arguments' types when the caller is :attr:`steady` and ``obs`` has the type of ``next_obs`` (the next
        step's ``obs`` is this step's ``next_obs``; a first step after restored state may differ: then try
        again on the next call), else to :attr:`fast`."""
        assert self.fast is not None
        out = self.fast(*args)
        self.call = self.fast
        if self.steady:
            types = tuple(numba.typeof(a) for a in args)
            if types[1] != types[2]:
                self.call = self._first_call
            else:
                overload = self.fast.overloads.get(types)  # None: the dispatcher converted some argument
                if overload is not None:
                    self.call = overload.entry_point
        return out

    def repin(self) -> None:
        """Let the next common step find its types again (:meth:`_first_call`): after the caller's arrays may
        have changed type (restored previous observations) or the kernels' arguments changed."""
        if self.fast is not None:
            self.call = self._first_call

    def compile(self) -> None:
        """Compile the fused function (about a second of numba), unless this process already has it."""
        if self.fn is None:
            exec(compile(self.source, f"<rewardlab fused step of {len(self.kernels)} terms>", "exec"), self._env)
            self.fn = numba.njit(nogil=True)(self._env["fused"])
            self.fast = numba.njit(nogil=True)(self._env["fused_fast"])
            _COMPILED[self._key] = (self.fn, self.fast)
        self.repin()

    def call_each(
        self, state: np.ndarray, obs: np.ndarray, next_obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray
    ) -> None:
        """The kernels one Python call each, into their rows of ``state`` (not the bookkeeping); their results in
        :attr:`results`, as :attr:`fn` leaves them."""
        arrays = {"obs": obs, "next_obs": next_obs, "reward": reward, "terminated": terminated}
        at = 0
        for kernel, row, weight in zip(self.kernels, self.rows, self.weights):
            inputs = [arrays[name] for name in kernel.inputs]
            if kernel.takes_weight:
                result = kernel.fn(*inputs, *kernel.args, weight, state[row])
            else:
                result = kernel.fn(*inputs, *kernel.args, state[row])
                if weight != 1.0:
                    state[row] *= weight
            if kernel.sync is not None:
                self.results[at] = result
                at += 1

    def sync(self) -> None:
        """Hand each nonzero result in :attr:`results` to its kernel's ``sync`` (a count table that needs room
        grows) and take the new arguments it returns."""
        results = self.results
        for at, j, sync in self.syncs:
            if results[at]:
                self.take_args(j, sync(int(results[at])))

    def take_args(self, j: int, new_args: tuple | None) -> None:
        """Take the new arguments kernel ``j``'s ``sync`` returned (its arrays changed: a table grew); None:
        nothing changed."""
        if new_args is not None:
            self.kernels[j] = self.kernels[j]._replace(args=tuple(new_args))
            self.args = self._flat_args()
            self.repin()  # new arrays: the pinned entry point was for the old ones' types
