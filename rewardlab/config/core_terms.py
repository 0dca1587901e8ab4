"""Registrations of the core and shaping terms for YAML configs and ``rewardlab rewards``."""

from __future__ import annotations

import importlib
from typing import Literal, Union

from rewardlab.config.registry import TERMS
from rewardlab.core.function import FunctionTerm
from rewardlab.core.term import Constant, Extrinsic, RewardTerm
from rewardlab.shaping import combine, transforms
from rewardlab.shaping.potential_shaping import PotentialShaping
from rewardlab.shaping.potentials import Potential


@TERMS.register("extrinsic", family="core")
def extrinsic() -> RewardTerm:
    """The environment's own reward."""
    return Extrinsic()


@TERMS.register("constant", family="core")
def constant(value: float = -1.0) -> RewardTerm:
    """The same reward every step (a per-step cost when negative)."""
    return Constant(value)


@TERMS.register("function", family="core")
def function(fn: str, vectorized: bool = True) -> RewardTerm:
    """A user function given as 'module:attribute'; its parameters name the fields it reads."""
    module_name, sep, attr = fn.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"fn must look like 'package.module:function', got {fn!r}")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import {fn!r}: {err}") from err
    return FunctionTerm(obj, vectorized=vectorized, name=attr)


@TERMS.register("potential", family="shaping")
def potential(potential: Potential, gamma: float = 0.99) -> RewardTerm:
    """Potential-based shaping γ(1−terminated)Φ(s') − Φ(s); keeps optimal policies."""
    return PotentialShaping(potential, gamma=gamma)


@TERMS.register("clip", family="transform")
def clip(of: RewardTerm, low: float = -1.0, high: float = 1.0) -> RewardTerm:
    """Clip a term to [low, high]."""
    return transforms.clip(of, low, high)


@TERMS.register("normalize", family="transform")
def normalize(of: RewardTerm, center: bool = False) -> RewardTerm:
    """Divide a term by its running std; centre it first when center is true."""
    return transforms.normalize(of, center=center)


@TERMS.register("par", family="transform")
def par(of: RewardTerm, ref: Union[float, Literal["running"]] = "running", temperature: float = 1.0) -> RewardTerm:
    """Preference-As-Reward: sigmoid((r − ref)/temperature), bounded in (0, 1)."""
    return transforms.par(of, ref, temperature=temperature)


@TERMS.register("log_sigmoid", family="transform")
def log_sigmoid(of: RewardTerm, ref: Union[float, Literal["running"]] = 0.0, temperature: float = 1.0) -> RewardTerm:
    """log sigmoid((r − ref)/temperature); sums of these act as a soft AND."""
    return transforms.log_sigmoid(of, ref, temperature=temperature)


@TERMS.register("krc", family="combination")
def krc(of: list[RewardTerm], sign: Literal["all_positive", "product"] = "all_positive") -> RewardTerm:
    """Multiplicative combination sgn·(∏|Rᵢ|)^(1/n) (Lucy-SKG)."""
    return combine.KRC(of, sign=sign)
