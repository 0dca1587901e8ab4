"""What a reward term may know about the environment it is attached to."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvInfo:
    """Spaces, size and observation names of the env a term is bound to.

    Wrappers call ``term.bind(info)`` once, before the first step, so terms
    can size their tables, resolve observation dimensions given by name
    (``"position"``) or check the observation layout they need.

    Examples:
        >>> import gymnasium as gym
        >>> from rewardlab.core import EnvInfo
        >>> env = gym.make("MountainCar-v0")
        >>> names = ("position", "velocity")
        >>> info = EnvInfo("MountainCar-v0", env.observation_space, env.action_space, n_envs=4, obs_names=names)
        >>> info.obs_index("velocity")
        1
    """

    env_id: str | None
    observation_space: Any
    action_space: Any
    n_envs: int
    obs_names: tuple[str, ...] | None = None
    #: the run folder when training through ``rewardlab.train`` (terms may keep files there:
    #: label stores, caches); ``None`` for a wrapper built by hand.
    run_dir: str | None = None

    def obs_index(self, dim: str | int) -> int:
        """Index of an observation dimension given by name (from the env preset) or index."""
        if isinstance(dim, int):
            return dim
        names = list(self.obs_names or ())
        if dim not in names:
            from rewardlab.errors import ConfigError

            close = difflib.get_close_matches(dim, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{self.env_id or 'this env'} has no observation dimension {dim!r}{hint}; "
                f"valid: {names or 'integer indices (no names known for this env)'}"
            )
        return names.index(dim)

    def describe_observations(self) -> str:
        """A short phrase for error messages: ``"2-dim observations (position, velocity)"``, dict fields, ..."""
        space = self.observation_space
        fields = getattr(space, "spaces", None)
        if isinstance(fields, dict):
            return f"dict observations with fields {sorted(fields)}"
        shape = getattr(space, "shape", None)
        if shape is not None and len(shape) == 1:
            names = f" ({', '.join(self.obs_names)})" if self.obs_names else " (unnamed)"
            return f"{shape[0]}-dim observations{names}"
        return f"observations {space}"

    def field_space(self, field: str | None, *, who: str, hint: str = "") -> Any:
        """The observation space a term reads: the whole space, or ``field`` of a dict space; checked.

        Raises a one-line ``ConfigError`` naming ``who``, the env and what it has
        when a dict observation gets no field, a field is missing, or an array
        observation gets a field. ``hint`` is appended to the dict-without-field case.
        """
        from rewardlab.errors import ConfigError, suggest

        name = self.env_id or "this env"
        spaces = getattr(self.observation_space, "spaces", None)
        if isinstance(spaces, dict):
            fields = sorted(spaces)
            if field is None:
                raise ConfigError(
                    f"{who} reads array observations but {name} has dict observations; set field to one of {fields}"
                    f"{hint}"
                )
            if field not in spaces:
                raise ConfigError(
                    f"{who} reads observation field {field!r}{suggest(field, fields)} but {name} has fields {fields}"
                )
            return spaces[field]
        if field is not None:
            raise ConfigError(
                f"{who} reads observation field {field!r} but {name} has {self.describe_observations()}; drop field"
            )
        return self.observation_space

    @classmethod
    def from_env(cls, env: Any, n_envs: int = 1, *, run_dir: str | None = None) -> EnvInfo:
        """Describe a Gymnasium env or an SB3 VecEnv, with names from its preset when there is one."""
        spec = None
        if hasattr(env, "get_attr"):  # SB3 VecEnv
            try:
                spec = env.get_attr("spec", [0])[0]
            except Exception:  # noqa: BLE001 - some VecEnvs cannot forward attributes
                spec = None
            n_envs = env.num_envs
        else:
            spec = getattr(env, "spec", None)
        env_id = getattr(spec, "id", None)
        obs_names = None
        if env_id is not None:
            from rewardlab.envs import presets

            preset = presets().get(env_id)
            obs_names = preset.obs_names if preset is not None else None
        return cls(env_id, env.observation_space, env.action_space, n_envs, obs_names, run_dir)
