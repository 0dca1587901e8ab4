"""Adapt a plain Python function into a reward term.

The function asks for the fields it needs by parameter name, so
``lambda next_obs: next_obs[:, 0]`` is a complete reward. Valid names are
``obs, action, next_obs, reward, terminated, truncated, infos`` (``info`` in
per-env mode), ``frames`` (``frame`` per env: rendered RGB frames of ``next_obs``;
asking for them makes the envs render) and ``batch`` for the whole :class:`Transitions`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions, _index_obs

BATCH_FIELDS = ("obs", "action", "next_obs", "reward", "terminated", "truncated", "infos", "frames", "batch")
ROW_FIELDS = ("obs", "action", "next_obs", "reward", "terminated", "truncated", "info", "frame")


def requested_fields(fn: Callable[..., Any], valid: tuple[str, ...]) -> list[str]:
    """Names of ``fn``'s parameters, checked against ``valid``."""
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty
    ]
    names = [p.name for p in params]
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(
            f"reward function {getattr(fn, '__name__', fn)!r} asks for {bad}; "
            f"its parameters must be named from {list(valid)}"
        )
    if not names:
        raise ValueError(f"reward function {getattr(fn, '__name__', fn)!r} takes no parameters; valid: {list(valid)}")
    return names


def _row_field(batch: Transitions, field: str, i: int) -> Any:
    """Field ``field`` of transition ``i`` (``info`` is the i-th info dict)."""
    if field == "info":
        return batch.infos[i]
    if field == "frame":
        return batch.frames[i]
    value = getattr(batch, field)
    if field in ("obs", "next_obs"):
        return _index_obs(value, i)
    if field == "reward":
        return float(value[i])
    if field in ("terminated", "truncated"):
        return bool(value[i])
    return value[i]


class RewardFunctionError(RuntimeError):
    """A user reward function raised; the message names the term, the original error is chained."""


class FunctionTerm(RewardTerm):
    """A reward computed by a user function.

    Args:
        fn: the function. Vectorised (default): receives arrays with a leading
            env axis and returns one float per env. Per-env
            (``vectorized=False``): receives one transition's fields and returns
            a float; rewardlab loops over the batch for you.
        vectorized: whether ``fn`` handles a whole batch.
        name: label in logs; defaults to the function's name.

    Examples:
        >>> import rewardlab as rl
        >>> term = rl.FunctionTerm(lambda next_obs: next_obs[:, 0], name="position")
        >>> term(rl.Transitions.fake(reward=[0.0, 0.0], next_obs=[[0.5, 0.0], [-0.2, 0.0]]))
        array([ 0.5, -0.2])
    """

    def __init__(self, fn: Callable[..., Any], *, vectorized: bool = True, name: str | None = None) -> None:
        fn_name = getattr(fn, "__name__", "function")
        super().__init__(name=name or ("function" if fn_name == "<lambda>" else fn_name))
        self.fn = fn
        self.vectorized = vectorized
        self.fields = requested_fields(fn, BATCH_FIELDS if vectorized else ROW_FIELDS)
        self.needs_frames = "frames" in self.fields or "frame" in self.fields

    def compute(self, batch: Transitions) -> np.ndarray:
        try:
            if self.vectorized:
                return self.fn(**{f: batch if f == "batch" else getattr(batch, f) for f in self.fields})
            out = np.empty(batch.n)
            for i in range(batch.n):
                out[i] = float(self.fn(**{f: _row_field(batch, f, i) for f in self.fields}))
            return out
        except Exception as err:
            message = " ".join(str(err).split())
            raise RewardFunctionError(
                f"reward function {self.name!r} raised {type(err).__name__}: {message}"
            ) from err

    def __repr__(self) -> str:
        return f"FunctionTerm({self.name!r})"


def function(fn: Callable[..., Any], *, vectorized: bool = True, name: str | None = None) -> FunctionTerm:
    """Wrap ``fn`` as a reward term (see :class:`FunctionTerm`).

    Examples:
        >>> import rewardlab as rl
        >>> height = rl.function(lambda next_obs, terminated: next_obs[:, 0] * ~terminated)
        >>> height(rl.Transitions.fake(reward=[0.0, 0.0], next_obs=[[0.5, 0.0], [0.4, 0.0]], terminated=[False, True]))
        array([0.5, 0. ])
    """
    return FunctionTerm(fn, vectorized=vectorized, name=name)
