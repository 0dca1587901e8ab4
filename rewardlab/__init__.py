"""rewardlab: reward design for reinforcement learning.

Build a reward as a value, combine it, inject it into any Gymnasium or SB3
env, train, and look at it::

    import rewardlab as rl
    venv = rl.make_vec_env("MountainCar-v0", n_envs=8, seed=0)
    reward = rl.extrinsic() + rl.shaping.potential("mountaincar_energy", gamma=0.99)
    venv = rl.RewardVecWrapper(venv, reward)
"""

from rewardlab import analysis, bonus, codegen, config, learned, oni, perceptual, plot, qd, runs, shaping, sweep, vlm
from rewardlab import transforms_api as transforms
from rewardlab.callbacks import RewardLogger
from rewardlab.config import (
    ConfigError,
    build_reward,
    core_terms,  # noqa: F401  (registers the core and shaping terms)
    load_reward,
)
from rewardlab.core import Constant, Extrinsic, FunctionTerm, RewardTerm, Transitions, WeightedSum, function
from rewardlab.make import make_vec_env
from rewardlab.runs import Run, load_run
from rewardlab.wrappers import FrameSettings, NonFiniteRewardError, RewardVecWrapper, RewardWrapper, frame_settings

__version__ = "0.1.0"


def extrinsic() -> Extrinsic:
    """The environment's own reward as a term.

    Examples:
        >>> import rewardlab as rl
        >>> rl.extrinsic()(rl.Transitions.fake(reward=[1.0, -1.0]))
        array([ 1., -1.])
    """
    return Extrinsic()


def constant(value: float) -> Constant:
    """A constant reward per step.

    Examples:
        >>> import rewardlab as rl
        >>> (rl.extrinsic() + rl.constant(-0.01))(rl.Transitions.fake(reward=[1.0]))
        array([0.99])
    """
    return Constant(value)


__all__ = [
    "ConfigError",
    "Constant",
    "FrameSettings",
    "Extrinsic",
    "FunctionTerm",
    "NonFiniteRewardError",
    "RewardLogger",
    "RewardTerm",
    "RewardVecWrapper",
    "RewardWrapper",
    "Run",
    "Transitions",
    "WeightedSum",
    "analysis",
    "bonus",
    "build_reward",
    "codegen",
    "config",
    "constant",
    "extrinsic",
    "frame_settings",
    "function",
    "learned",
    "load_reward",
    "load_run",
    "make_vec_env",
    "oni",
    "perceptual",
    "plot",
    "qd",
    "runs",
    "shaping",
    "sweep",
    "transforms",
    "vlm",
]
