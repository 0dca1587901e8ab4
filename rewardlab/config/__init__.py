"""Reward configs: registries of named terms and YAML specs.

The core terms register in ``rewardlab.config.core_terms``, imported by ``rewardlab/__init__.py``.
"""

from rewardlab.config.registry import POTENTIALS, TERMS, ConfigError, Registry
from rewardlab.config.reward_config import build_reward, load_reward, load_reward_spec

__all__ = ["POTENTIALS", "TERMS", "ConfigError", "Registry", "build_reward", "load_reward", "load_reward_spec"]
