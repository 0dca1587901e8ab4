"""rl-baselines3-zoo, natively: a reward spec in the zoo's hyperparameter YAML, a run rewardlab can read back.

The zoo builds wrappers and callbacks from ``module.Class: {kwargs}`` entries of
its hyperparameter file (``env_wrapper``, ``vec_env_wrapper``, ``callback``), so
the classes here take the reward as YAML, the same spec as ``--reward``::

    CartPole-v1:
      n_envs: 8
      n_timesteps: !!float 1e5
      policy: MlpPolicy
      vec_env_wrapper:
        - rewardlab.zoo.RewardVecWrapper:
            reward: [extrinsic, {term: potential, potential: cartpole_upright, gamma: 0.98}]
      callback:
        - rewardlab.zoo.RewardCallback

    python -m rl_zoo3.train --algo ppo --env CartPole-v1 -conf zoo.yml
    rewardlab eval logs/ppo/CartPole-v1_1        # true return and every term per episode
    rewardlab plot curves logs/ppo/CartPole-v1_1 --out curves.png

* :class:`RewardVecWrapper` (``vec_env_wrapper``, the one to use): one reward
  for all envs, as ``rewardlab train`` builds it; it sits on the raw vector
  env, below the zoo's ``VecNormalize`` and frame stacking, and above each
  env's ``Monitor``, so the zoo's ``ep_rew_mean`` and ``EvalCallback`` report
  the true return.
* :class:`RewardWrapper` (``env_wrapper``): one reward per env. A reward that
  keeps state across episodes (a global count, running statistics, a learned
  model) then has one copy per env, each seeing ``1/n_envs`` of the data: it
  warns and points to ``vec_env_wrapper``.
* :class:`RewardCallback` (``callback``): logs every term under
  ``rollout/reward/<term>`` (as :class:`~rewardlab.RewardLogger`) and, when
  training ends, writes a rewardlab run folder into the zoo's log folder
  (``logs/<algo>/<env>_<n>/``), beside the zoo's model: ``config.yaml``,
  ``model.zip``, ``reward_state.pt`` (the trained reward: counts, networks),
  ``vecnormalize.pkl``, ``reward_terms.csv``, ``summary.json``. That folder
  loads with :func:`rewardlab.load_run`, ``rewardlab eval`` and ``rewardlab plot``.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.vec_env import VecEnv

from rewardlab.callbacks import RewardLogger
from rewardlab.config.reward_config import build_reward, load_reward_spec
from rewardlab.core.term import CompositeTerm, RewardTerm
from rewardlab.wrappers import gym_env, vec_env

__all__ = ["RewardVecWrapper", "RewardWrapper", "RewardCallback", "reward_spec", "stateful_terms", "LOADABLE_ALGOS"]

#: algorithms whose models rewardlab can load back (others get the reward state only)
LOADABLE_ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
PER_ENV_STATE = (
    "rewardlab.zoo.RewardWrapper (env_wrapper) builds one reward per env, and {terms} keep state across "
    "episodes (counts, running statistics or a learned model): each of the zoo's n_envs copies sees only its "
    "own env's data. Use vec_env_wrapper: [{{rewardlab.zoo.RewardVecWrapper: {{reward: ...}}}}] for one reward "
    "over all envs (what 'rewardlab train' does)."
)


def reward_spec(reward: Any) -> Any:
    """The reward spec given in the zoo's YAML: a spec (list, mapping, name), a YAML file or inline YAML."""
    if isinstance(reward, RewardTerm):
        return None
    if isinstance(reward, (str, os.PathLike)):
        return load_reward_spec(reward)
    return reward


def _build(reward: Any) -> tuple[RewardTerm, Any]:
    if isinstance(reward, RewardTerm):
        return reward, None
    spec = reward_spec(reward)
    return build_reward(spec), spec


def stateful_terms(reward: RewardTerm) -> list[str]:
    """Names of the terms of ``reward`` that keep state across episodes (learn, count, track statistics)."""
    if isinstance(reward, CompositeTerm):
        inner = [name for child in reward.terms for name in stateful_terms(child)]
        if inner:
            return inner
    # a leaf, or a transform whose own statistics hold the state (running normalisation)
    return [reward.name] if reward.learns or _holds_values(reward.state_dict()) else []


def _holds_values(state: Any) -> bool:
    if isinstance(state, dict):
        return any(_holds_values(v) for v in state.values())
    return state is not None


class RewardVecWrapper(vec_env.RewardVecWrapper):
    """:class:`rewardlab.RewardVecWrapper` for the zoo's ``vec_env_wrapper``: ``reward`` is a spec or YAML.

    Args:
        venv: the zoo's vector env.
        reward: the reward as in ``--reward``: a spec (``[extrinsic, {term: count, ...}]``),
            a YAML file, inline YAML, or a built :class:`~rewardlab.RewardTerm`.
        nan_policy, clip_value, update_every: see :class:`~rewardlab.RewardVecWrapper`.
    """

    def __init__(
        self,
        venv: VecEnv,
        reward: Any = "extrinsic",
        *,
        nan_policy: str = "raise",
        clip_value: float = 1e3,
        update_every: int = 128,
    ) -> None:
        term, self.reward_spec = _build(reward)
        super().__init__(venv, term, nan_policy=nan_policy, clip_value=clip_value, update_every=update_every)


class RewardWrapper(gym_env.RewardWrapper):
    """:class:`rewardlab.RewardWrapper` for the zoo's ``env_wrapper`` (one reward per env): ``reward`` is a spec.

    Stateless rewards (extrinsic, potential shaping, episodic bonuses) behave as
    with :class:`RewardVecWrapper`; a reward with state across episodes warns
    (see :data:`PER_ENV_STATE`).
    """

    def __init__(
        self,
        env: gym.Env,
        reward: Any = "extrinsic",
        *,
        nan_policy: str = "raise",
        clip_value: float = 1e3,
        update_every: int = 128,
    ) -> None:
        term, self.reward_spec = _build(reward)
        super().__init__(env, term, nan_policy=nan_policy, clip_value=clip_value, update_every=update_every)
        kept = stateful_terms(term)
        if kept:
            warnings.warn(PER_ENV_STATE.format(terms=", ".join(repr(n) for n in kept)), UserWarning, stacklevel=2)


def _experiment_manager() -> Any:
    """The zoo's ``ExperimentManager`` that is training now (found up the call stack), or ``None``."""
    module = sys.modules.get("rl_zoo3.exp_manager")
    cls = getattr(module, "ExperimentManager", None)
    if cls is None:
        return None
    frame = inspect.currentframe()
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, cls):
            return candidate
        frame = frame.f_back
    return None


def _find_wrapper(venv: Any) -> Any:
    while venv is not None:
        if isinstance(venv, vec_env.RewardVecWrapper):
            return venv
        venv = getattr(venv, "venv", None)
    return None


class RewardCallback(RewardLogger):
    """The zoo's ``callback`` entry: logs every term and writes a rewardlab run folder when training ends.

    Args:
        save_path: folder for the run files (default: the zoo's log folder of this
            run, ``logs/<algo>/<env>_<n>``; outside the zoo, the logger's folder).
        window: episodes averaged in each logged value.
    """

    def __init__(self, save_path: str | None = None, window: int = 100, verbose: int = 0) -> None:
        super().__init__(window=window, csv_path=None, verbose=verbose)
        self.save_path = save_path
        self.folder: Path | None = None
        self.env_id: str | None = None
        self.env_kwargs: dict[str, Any] = {}
        self._saved_at: int | None = None

    def _on_training_start(self) -> None:
        manager = _experiment_manager()
        folder = self.save_path or (manager.save_path if manager is not None else None) or self.logger.get_dir()
        if folder is None:
            warnings.warn(
                "rewardlab.zoo.RewardCallback: no folder to write the run to (give save_path)",
                UserWarning,
                stacklevel=2,
            )
            self._csv_path = False
            return
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        from rewardlab.runs import folder as run_files

        self._csv_path = self.folder / run_files.REWARD_TERMS_FILE
        if manager is not None:
            self.env_id = manager.env_name.gym_id
            self.env_kwargs = dict(manager.env_kwargs or {})
        else:
            spec = self.training_env.get_attr("spec", [0])[0]
            self.env_id = getattr(spec, "id", None)

    def _reward(self) -> tuple[RewardTerm | None, Any]:
        """The training reward and its spec: the vector wrapper's, or env 0's with ``env_wrapper``."""
        wrapper = _find_wrapper(self.training_env)
        if wrapper is not None:
            return wrapper.reward, getattr(wrapper, "reward_spec", None)
        try:
            spec = self.training_env.get_attr("reward_spec", [0])[0]
            term = self.training_env.get_attr("reward_term", [0])[0]
        except AttributeError:
            return None, None
        return term, spec

    def _on_training_end(self) -> None:
        super()._on_training_end()
        if self.folder is None or self._saved_at == self.num_timesteps:
            return  # the zoo calls on_training_end again after learn; write once
        self._saved_at = self.num_timesteps
        self.write_run(self.folder)

    def write_run(self, folder: Path) -> None:
        """Write the rewardlab run files for the model and reward as they are now into ``folder``."""
        from rewardlab.runs import folder as run_files
        from rewardlab.runs.checkpoint import save_vecnormalize
        from rewardlab.runs.reward_state import REWARD_STATE_FILE, save_reward_state
        from rewardlab.train import training_stats

        term, spec = self._reward()
        if term is None:
            warnings.warn(
                "rewardlab.zoo.RewardCallback: the training env has no rewardlab reward wrapper; add "
                "vec_env_wrapper: [{rewardlab.zoo.RewardVecWrapper: {reward: ...}}]",
                UserWarning,
                stacklevel=2,
            )
            return
        steps = int(self.num_timesteps)
        save_reward_state(term, folder / REWARD_STATE_FILE, spec=spec, step=steps)
        algo = type(self.model).__name__.lower()
        if spec is None or algo not in LOADABLE_ALGOS or self.env_id is None:
            why = (
                "the reward was built in Python, not from YAML" if spec is None
                else f"rewardlab loads {', '.join(LOADABLE_ALGOS)} models, not {algo}" if algo not in LOADABLE_ALGOS
                else "the env id is unknown"
            )  # fmt: skip
            print(f"rewardlab: wrote {folder / REWARD_STATE_FILE} (no run folder: {why})")
            return
        seed = self.model.seed if isinstance(self.model.seed, int) else 0
        config = {
            "env": self.env_id,
            "reward": copy.deepcopy(spec),
            "algo": algo,
            "steps": steps,
            "seed": seed,
            "n_envs": int(self.model.n_envs),
            "hyperparams": {},
            "env_kwargs": _plain(self.env_kwargs),
            "nan_policy": "raise",
            "eval_episodes": 0,
        }
        stored = {"run": config, "trained_with": "rl_zoo3", "workdir": os.getcwd()}
        (folder / run_files.CONFIG_FILE).write_text(yaml.safe_dump(stored, sort_keys=False))
        self.model.save(folder / run_files.MODEL_FILE)
        save_vecnormalize(self.model.get_vec_normalize_env(), folder / run_files.VECNORMALIZE_FILE)
        summary = {
            "env": self.env_id,
            "algo": algo,
            "seed": seed,
            "steps": steps,
            "timesteps": steps,
            "trained_with": "rl_zoo3",
            **training_stats(folder / run_files.REWARD_TERMS_FILE),
        }
        (folder / run_files.SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
        run_files.write_status(folder, "done", step=steps)
        print(f"rewardlab: run folder {folder} (rewardlab eval {folder})")


def _plain(value: Any) -> Any:
    """``value`` as plain YAML types (the zoo's env_kwargs may hold numpy scalars)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
