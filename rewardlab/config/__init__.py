"""Reward configs: registries of named terms and YAML specs."""

from rewardlab.config import core_terms  # noqa: F401  (registers the core terms)
from rewardlab.config.registry import POTENTIALS, TERMS, ConfigError, Registry
from rewardlab.config.reward_config import build_reward, load_reward, load_reward_spec

__all__ = ["POTENTIALS", "TERMS", "ConfigError", "Registry", "build_reward", "load_reward", "load_reward_spec"]
