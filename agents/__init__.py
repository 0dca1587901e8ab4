"""SB3 hyper-parameter presets, one YAML per algorithm (like rl-baselines3-zoo).

Installed as ``rewardlab.agents``. Each file maps ``default``, an env family
(``classic_control``, ``mujoco``, ``nethack`` ...) or an exact env id to
hyper-parameters; later, more specific entries override earlier ones. Keys
that are not SB3 constructor arguments: ``policy``, ``n_envs`` and
``normalize`` (wrap the env in ``VecNormalize``).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
RUNNER_KEYS = ("policy", "n_envs", "normalize")


@cache
def _table(algo: str) -> dict[str, dict[str, Any]]:
    return yaml.safe_load((Path(__file__).parent / f"{algo}.yaml").read_text()) or {}


def hyperparams(algo: str, env_id: str, family: str = "generic") -> dict[str, Any]:
    """Merged hyper-parameters for ``algo`` on ``env_id`` (default < family < env id)."""
    algo = algo.lower()
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; valid: {list(ALGOS)}")
    table = _table(algo)
    merged: dict[str, Any] = {}
    for key in ("default", family, env_id):
        merged.update(copy.deepcopy(table.get(key, {})))
    return merged
