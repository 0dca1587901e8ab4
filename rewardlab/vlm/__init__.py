"""Vision-language rewards: CLIP as a zero-shot reward model (VLM-RM).

::

    reward = rl.vlm.clip_reward(["a humanoid robot kneeling"], ["a humanoid robot"],
                                model="ViT-B-32", pretrained="laion2b_s34b_b79k", alpha=0.5)
    venv = rl.make_vec_env("Humanoid-v5", 8, frames=rl.frame_settings(reward))
    venv = rl.RewardVecWrapper(venv, reward)

open_clip and torch load only when a model is built.
"""

from rewardlab.vlm import terms_config  # noqa: F401  (registers the YAML name 'clip_reward')
from rewardlab.vlm.clip_reward import CLIPReward, clip_reward, goal_baseline_reward
from rewardlab.vlm.encoder import CLIPEncoder, resolve_device
from rewardlab.vlm.loading import RANDOM, LoadedCLIP, WeightsNotFoundError, load_clip
from rewardlab.vlm.preprocess import BatchPreprocess

__all__ = [
    "RANDOM",
    "BatchPreprocess",
    "CLIPEncoder",
    "CLIPReward",
    "LoadedCLIP",
    "WeightsNotFoundError",
    "clip_reward",
    "goal_baseline_reward",
    "load_clip",
    "resolve_device",
]
