"""``rl.transforms``: the reward transforms and combinations under one short name."""

from rewardlab.shaping.combine import krc
from rewardlab.shaping.transforms import clip, log_sigmoid, normalize, par

__all__ = ["clip", "krc", "log_sigmoid", "normalize", "par"]
