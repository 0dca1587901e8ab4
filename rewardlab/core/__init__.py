"""The reward-term abstraction: transitions, terms, sums, user functions."""

from rewardlab.core.env_info import EnvInfo
from rewardlab.core.function import FunctionTerm, function
from rewardlab.core.term import Constant, Extrinsic, RewardTerm, StepKernel, WeightedSum, as_term
from rewardlab.core.transitions import Transitions

__all__ = [
    "EnvInfo",
    "Constant",
    "Extrinsic",
    "FunctionTerm",
    "RewardTerm",
    "StepKernel",
    "Transitions",
    "WeightedSum",
    "as_term",
    "function",
]
