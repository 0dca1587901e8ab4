"""Shaped rewards: potential-based shaping, transforms and combinations."""

from rewardlab.shaping import combine, transforms
from rewardlab.shaping.combine import KRC, krc
from rewardlab.shaping.potential_shaping import PotentialShaping, potential
from rewardlab.shaping.potentials import (
    FunctionPotential,
    Potential,
    RowPotential,
    ValuePotential,
    value_potential,
)
from rewardlab.shaping.transforms import clip, log_sigmoid, normalize, par

__all__ = [
    "KRC",
    "FunctionPotential",
    "Potential",
    "PotentialShaping",
    "RowPotential",
    "ValuePotential",
    "clip",
    "combine",
    "krc",
    "log_sigmoid",
    "normalize",
    "par",
    "potential",
    "transforms",
    "value_potential",
]
