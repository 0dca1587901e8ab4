"""Environment presets (``envs/presets.yaml``) and the envs rewardlab registers.

Installed as ``rewardlab.envs``. A preset gives an env id its family (which
picks SB3 hyper-parameters in ``rewardlab.agents``), default ``gymnasium.make``
keyword arguments, names of the observation dimensions and a description.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from rewardlab.envs import sparse_mujoco

from rewardlab.config.env_ids import close_env_id

sparse_mujoco.register()

PRESET_FILES = sorted(Path(__file__).parent.glob("*.yaml"))


@dataclass(frozen=True)
class EnvPreset:
    """What rewardlab knows about an env id."""

    id: str
    family: str
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    obs_names: tuple[str, ...] | None = None
    module: str | None = None  # imported before gymnasium.make (it registers the env: nle, minihack)
    wrappers: tuple[str, ...] = ()  # 'module:Class' wrappers applied after gymnasium.make, in order

    def obs_index(self, name: str | int) -> int:
        """Index of an observation dimension given by name or index."""
        if isinstance(name, int):
            return name
        if not self.obs_names or name not in self.obs_names:
            valid = list(self.obs_names or [])
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{self.id} has no observation dimension {name!r}{hint}; valid: {valid or 'use integer indices'}"
            )
        return self.obs_names.index(name)


@cache
def presets() -> dict[str, EnvPreset]:
    """All presets, by env id."""
    out: dict[str, EnvPreset] = {}
    for path in PRESET_FILES:
        for env_id, spec in (yaml.safe_load(path.read_text()) or {}).items():
            spec = dict(spec)
            if spec.get("obs_names") is not None:
                spec["obs_names"] = tuple(spec["obs_names"])
            spec["wrappers"] = tuple(spec.get("wrappers") or ())
            out[env_id] = EnvPreset(id=env_id, **spec)
    return out


def get_preset(env_id: str) -> EnvPreset:
    """The preset of ``env_id``; an unregistered but valid Gymnasium id gets a generic one."""
    table = presets()
    if env_id in table:
        return table[env_id]
    if env_id in gym.registry:
        return EnvPreset(id=env_id, family="generic")
    close = close_env_id(env_id, list(table))
    hint = f" (did you mean {close!r}?)" if close else ""
    raise ValueError(f"unknown environment {env_id!r}{hint}; presets: {', '.join(sorted(table))}, or any Gymnasium id")


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` with the preset's default kwargs (picklable, for subprocess envs)."""
    preset = get_preset(env_id)
    if preset.module:
        try:
            importlib.import_module(preset.module)
        except ImportError as err:
            raise ImportError(
                f"{env_id} needs the package {preset.module!r}: pip install 'rewardlab[nethack]' ({err})"
            ) from err
    if kwargs.get("render_mode") is not None and preset.family == "mujoco":
        from rewardlab.wrappers.frames import load_triton_first

        load_triton_first()  # before MuJoCo opens an OpenGL context (Mesa's LLVM, then triton's, crashes)
    env = gym.make(env_id, **{**preset.kwargs, **kwargs})
    for path in preset.wrappers:
        module, _, attr = path.partition(":")
        env = getattr(importlib.import_module(module), attr)(env)
    return env
