"""Transforms: terms that wrap another term and reshape its value.

* :func:`clip` -- bound the value;
* :func:`normalize` -- divide by a running std, optionally centring first;
* :func:`par` -- Preference-As-Reward: ``σ((r − r_ref)/τ)``, bounded and centred;
* :func:`log_sigmoid` -- ``log σ((r − r_ref)/τ)``; summing several of them acts
  like a logical AND of the properties they reward.

``r_ref`` is a number, another term (for instance a reference policy's
reward), or ``"running"`` for the running mean of ``r``.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from rewardlab.core.running import RunningMeanStd
from rewardlab.core.term import CompositeTerm, RewardTerm
from rewardlab.core.transitions import Transitions

Reference = Union[float, RewardTerm, str]


class Transform(CompositeTerm):
    """A term computed from another term's value (``inner``); keeps the inner name by default."""

    def __init__(self, inner: RewardTerm, *, name: str | None = None) -> None:
        if not isinstance(inner, RewardTerm):
            raise TypeError(f"{type(self).__name__} wraps a RewardTerm, got {type(inner).__name__}")
        super().__init__(name=name or inner.name)
        self.inner = inner
        self.terms = [inner]

    def child_names(self) -> list[str]:
        return ["inner", "ref"][: len(self.terms)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"


class Clip(Transform):
    """``clip(r, low, high)``."""

    def __init__(self, inner: RewardTerm, low: float = -1.0, high: float = 1.0, *, name: str | None = None) -> None:
        if low > high:
            raise ValueError(f"clip needs low <= high, got low={low}, high={high}")
        super().__init__(inner, name=name)
        self.low, self.high = float(low), float(high)

    def compute(self, batch: Transitions) -> np.ndarray:
        return np.clip(self.inner(batch), self.low, self.high)


class Normalize(Transform):
    """Divide by the running std of the values seen; subtract the running mean if ``center``.

    Unlike gymnasium's ``NormalizeReward`` this normalises the reward itself,
    not the discounted return, and centring is explicit. Statistics update
    only in training mode.
    """

    def __init__(
        self, inner: RewardTerm, *, center: bool = False, epsilon: float = 1e-8, name: str | None = None
    ) -> None:
        super().__init__(inner, name=name)
        self.center = center
        self.epsilon = float(epsilon)
        self.stats = RunningMeanStd()

    def compute(self, batch: Transitions) -> np.ndarray:
        r = self.inner(batch)
        if self.training:
            self.stats.update(r)
        if self.center:
            r = r - self.stats.mean
        return r / (self.stats.std + self.epsilon)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.stats.load_state_dict(state["stats"])


class _Centred(Transform):
    """Shared by PAR and log-sigmoid: ``x = (r − r_ref) / temperature``."""

    def __init__(
        self, inner: RewardTerm, ref: Reference = 0.0, *, temperature: float = 1.0, name: str | None = None
    ) -> None:
        super().__init__(inner, name=name)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if isinstance(ref, str) and ref != "running":
            raise ValueError(f"ref must be a number, a RewardTerm or 'running', got {ref!r}")
        if not isinstance(ref, (str, RewardTerm)):
            ref = float(ref)
        self.ref = ref
        if isinstance(ref, RewardTerm):
            self.terms.append(ref)
        self.temperature = float(temperature)
        self.stats = RunningMeanStd()

    def centred(self, batch: Transitions) -> np.ndarray:
        r = self.inner(batch)
        if isinstance(self.ref, RewardTerm):
            ref = self.ref(batch)
        elif self.ref == "running":
            if self.training:
                self.stats.update(r)
            ref = self.stats.mean
        else:
            ref = self.ref
        return (r - ref) / self.temperature

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "stats": self.stats.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.stats.load_state_dict(state["stats"])


class PAR(_Centred):
    """Preference As Reward: ``σ((r − r_ref)/τ)`` in (0, 1), 0.5 at the reference."""

    def compute(self, batch: Transitions) -> np.ndarray:
        x = self.centred(batch)
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, overflow-free


class LogSigmoid(_Centred):
    """``log σ((r − r_ref)/τ)`` in (−∞, 0]; sums act as a soft logical AND."""

    def compute(self, batch: Transitions) -> np.ndarray:
        return -np.logaddexp(0.0, -self.centred(batch))


def clip(term: RewardTerm, low: float = -1.0, high: float = 1.0, *, name: str | None = None) -> Clip:
    """Clip ``term`` to ``[low, high]``.

    Args:
        term: the term to clip.
        low, high: the bounds (``low <= high``).

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> batch = rl.Transitions.fake(reward=[3.0, -0.5])
        >>> rl.transforms.clip(rl.extrinsic(), -1.0, 1.0)(batch)
        array([ 1. , -0.5])
    """
    return Clip(term, low, high, name=name)


def normalize(term: RewardTerm, *, center: bool = False, name: str | None = None) -> Normalize:
    """Scale ``term`` by its running std (and centre it when ``center``).

    Args:
        term: the term to normalise.
        center: subtract the running mean before dividing (gymnasium's ``NormalizeReward`` does not centre).

    Examples:
        >>> import rewardlab as rl
        >>> term = rl.transforms.normalize(rl.extrinsic(), center=True)
        >>> term(rl.Transitions.fake(reward=[1.0, 3.0])).round(3)
        array([-1.,  1.])
    """
    return Normalize(term, center=center, name=name)


def par(term: RewardTerm, ref: Reference = "running", *, temperature: float = 1.0, name: str | None = None) -> PAR:
    """Preference-As-Reward sigmoid ``σ((r − r_ref)/τ)`` of ``term``: bounded in (0, 1) and centred on ``ref``.

    Args:
        term: the term to transform.
        ref: ``r_ref``: a number, another term, or ``"running"`` (the running mean of ``r``).
        temperature: ``τ``; larger values flatten the sigmoid.

    Examples:
        >>> import rewardlab as rl
        >>> rl.transforms.par(rl.extrinsic(), ref=0.0)(rl.Transitions.fake(reward=[0.0, 10.0])).round(3)
        array([0.5, 1. ])
    """
    return PAR(term, ref, temperature=temperature, name=name)


def log_sigmoid(
    term: RewardTerm, ref: Reference = 0.0, *, temperature: float = 1.0, name: str | None = None
) -> LogSigmoid:
    """``log σ((r − r_ref)/τ)`` of ``term``; a sum of such terms acts as a soft logical AND.

    Args:
        term: the term to transform.
        ref: ``r_ref``: a number, another term, or ``"running"`` (the running mean of ``r``).
        temperature: ``τ``; larger values flatten the sigmoid.

    Examples:
        >>> import rewardlab as rl
        >>> rl.transforms.log_sigmoid(rl.extrinsic())(rl.Transitions.fake(reward=[0.0, 20.0])).round(3)
        array([-0.693, -0.   ])
    """
    return LogSigmoid(term, ref, temperature=temperature, name=name)
