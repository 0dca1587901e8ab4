"""Wrappers that inject a reward into Gymnasium envs and SB3 vector envs."""

from rewardlab.wrappers.engine import NonFiniteRewardError, RewardEngine
from rewardlab.wrappers.frames import FrameSettings, RenderFrames, frame_settings
from rewardlab.wrappers.gym_env import RewardWrapper
from rewardlab.wrappers.observations import CopyObservations, copy_observation
from rewardlab.wrappers.vec_env import RewardVecWrapper

__all__ = [
    "CopyObservations",
    "FrameSettings",
    "NonFiniteRewardError",
    "RenderFrames",
    "RewardEngine",
    "RewardVecWrapper",
    "RewardWrapper",
    "copy_observation",
    "frame_settings",
]
