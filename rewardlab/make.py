"""Build seeded vector envs from presets."""

from __future__ import annotations

import functools
from typing import Any, Literal

from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from rewardlab.envs import get_preset, make_env
from rewardlab.wrappers.frames import FrameSettings, make_env_with_frames

VEC_ENV_KINDS = ("dummy", "subproc")


def make_vec_env(
    env_id: str,
    n_envs: int = 8,
    *,
    seed: int = 0,
    vec_env: Literal["dummy", "subproc"] = "dummy",
    env_kwargs: dict[str, Any] | None = None,
    monitor_dir: str | None = None,
    frames: FrameSettings | None = None,
) -> VecEnv:
    """A seeded SB3 vector env of ``n_envs`` copies of ``env_id``.

    Each copy is wrapped in ``Monitor`` (so ``rollout/ep_rew_mean`` stays the
    true return whatever reward you inject on top) and seeded ``seed + i``.
    Preset kwargs (``rewardlab envs`` lists them) are applied first, then
    ``env_kwargs``. With ``frames`` (see :func:`rewardlab.frame_settings`), every env
    renders after each step for reward terms that read pixels; the policy's
    observations stay as they are.

    Examples:
        >>> import rewardlab as rl
        >>> venv = rl.make_vec_env("CartPole-v1", n_envs=2, seed=0)
        >>> venv.num_envs, venv.reset().shape
        (2, (2, 4))
    """
    if vec_env not in VEC_ENV_KINDS:
        raise ValueError(f"unknown vec_env {vec_env!r}; valid: {list(VEC_ENV_KINDS)}")
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    get_preset(env_id)  # fail early with the list of presets
    if frames is None:
        factory = functools.partial(make_env, env_id, **(env_kwargs or {}))
    else:
        factory = functools.partial(make_env_with_frames, env_id, frames, **(env_kwargs or {}))
    return sb3_make_vec_env(
        factory,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=monitor_dir,
        vec_env_cls=SubprocVecEnv if vec_env == "subproc" else DummyVecEnv,
    )
