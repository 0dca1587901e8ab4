"""Roll a policy out with a reward injected, and keep every step's components.

A :class:`Rollout` is the raw material of decompositions (each term over an
episode), of ERC (episode returns of many rewards on the same episodes) and
of visited-state overlays on landscapes. The reward runs on a deep copy, so
counts and learners of the caller's reward are left untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions
from rewardlab.wrappers.engine import STEP_KEY
from rewardlab.wrappers.frames import frame_settings
from rewardlab.wrappers.vec_env import RewardVecWrapper


@dataclass
class Rollout:
    """Transitions of a rollout with each reward component per step.

    Rows are ordered episode by episode (steps in order within one).
    ``components`` maps each component name (and ``"extrinsic_reward"``,
    ``"total"``) to its per-step value; ``episode`` numbers the episode of each
    row (episodes cut off by the end of the rollout are dropped when
    ``complete_only``); ``step`` is the step within the episode.

    Examples:
        >>> import rewardlab as rl
        >>> data = rl.analysis.rollout("CartPole-v1", rl.extrinsic() + rl.constant(0.1), n_steps=100, seed=0)
        >>> data.names, data.n_episodes > 0
        (['extrinsic', 'constant'], True)
        >>> bool((data.episode_returns(data.components["constant"]) > 0).all())
        True
    """

    transitions: Transitions
    components: dict[str, np.ndarray]
    episode: np.ndarray
    step: np.ndarray
    names: list[str]

    @property
    def n_episodes(self) -> int:
        return int(self.episode.max()) + 1 if len(self.episode) else 0

    def episodes(self) -> Iterator[np.ndarray]:
        """Row indices of each episode, in order."""
        for e in range(self.n_episodes):
            yield np.flatnonzero(self.episode == e)

    def episode_returns(self, values: np.ndarray, gamma: float = 1.0) -> np.ndarray:
        """Discounted sum of per-step ``values`` over each episode."""
        discount = gamma ** self.step.astype(np.float64)
        return np.bincount(self.episode, weights=discount * values, minlength=self.n_episodes)

    def visited(self, dims: tuple[int, int]) -> np.ndarray:
        """Next observations restricted to two dimensions, shape ``(n, 2)`` (for landscape overlays)."""
        return np.asarray(self.transitions.next_obs)[:, list(dims)]


def rollout(
    env: str | Any,
    reward: RewardTerm | None = None,
    *,
    model: Any = None,
    n_steps: int = 1_000,
    n_envs: int = 1,
    seed: int = 0,
    deterministic: bool = False,
    obs_normalizer: Callable[[Any], Any] | None = None,
    complete_only: bool = False,
) -> Rollout:
    """Run ``n_steps`` vector steps of a policy with ``reward`` injected; record every step.

    Args:
        env: env id (a seeded vector env of ``n_envs`` copies is made) or an SB3 VecEnv.
        reward: the reward whose components are recorded (a deep copy runs);
            ``None`` records the extrinsic reward alone.
        model: an SB3 model (``model.predict``); ``None`` samples random actions.
        deterministic: passed to ``model.predict``.
        obs_normalizer: maps raw observations to what the model expects
            (``VecNormalize.normalize_obs`` of a run trained with normalisation).
        complete_only: drop episodes the rollout cut off.

    Examples:
        >>> import rewardlab as rl
        >>> ro = rl.analysis.rollout("CartPole-v1", rl.extrinsic() + rl.constant(0.1), n_steps=50)
        >>> sorted(ro.components), ro.n_episodes >= 1
        (['constant', 'extrinsic', 'extrinsic_reward', 'total'], True)
    """
    from rewardlab import extrinsic
    from rewardlab.make import make_vec_env

    term = copy.deepcopy(reward) if reward is not None else extrinsic()
    venv = make_vec_env(env, n_envs, seed=seed, frames=frame_settings(term)) if isinstance(env, str) else env
    wrapped = RewardVecWrapper(venv, term)
    names = wrapped.engine.names
    venv.action_space.seed(seed)
    obs = wrapped.reset()
    steps: list[tuple[Transitions, list[dict]]] = []
    for _ in range(n_steps):
        if model is None:
            action = np.array([venv.action_space.sample() for _ in range(venv.num_envs)])
        else:
            action, _ = model.predict(obs_normalizer(obs) if obs_normalizer else obs, deterministic=deterministic)
        prev = obs
        obs, _, dones, infos = wrapped.step(action)
        next_obs = _true_next(obs, infos, dones)
        truncated = np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos]) & dones
        batch = Transitions(
            prev,
            np.asarray(action),
            next_obs,
            np.array([i[STEP_KEY]["extrinsic_reward"] for i in infos]),
            dones & ~truncated,
            truncated,
            [{} for _ in infos],
        )
        steps.append((batch, [info[STEP_KEY] for info in infos]))
    if isinstance(env, str):
        venv.close()
    return _assemble(steps, names, venv.num_envs, complete_only)


def _true_next(obs: Any, infos: list[dict], dones: np.ndarray) -> Any:
    if not dones.any():
        return obs
    out = {k: v.copy() for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()
    for i in np.flatnonzero(dones):
        terminal = infos[i]["terminal_observation"]
        if isinstance(out, dict):
            for k in out:
                out[k][i] = terminal[k]
        else:
            out[i] = terminal
    return out


def _assemble(
    steps: list[tuple[Transitions, list[dict]]], names: list[str], n_envs: int, complete_only: bool
) -> Rollout:
    """Reorder step-major records into episodes."""
    keys = [*names, "extrinsic_reward", "total"]
    order, episode, step = [], [], []
    n_steps = len(steps)
    next_episode = 0
    for env in range(n_envs):
        start = 0
        for t in range(n_steps):
            if steps[t][0].done[env] or (t == n_steps - 1 and not complete_only):
                rows = [s * n_envs + env for s in range(start, t + 1)]
                order.extend(rows)
                episode.extend([next_episode] * len(rows))
                step.extend(range(len(rows)))
                next_episode += 1
                start = t + 1
    flat = Transitions.concatenate([b for b, _ in steps]) if steps else None
    idx = np.asarray(order, dtype=np.int64)
    values = {k: np.array([steps[i // n_envs][1][i % n_envs][k] for i in idx], dtype=np.float64) for k in keys}
    transitions = flat[idx] if flat is not None else None
    return Rollout(transitions, values, np.asarray(episode, dtype=np.int64), np.asarray(step, dtype=np.int64), names)


def load_run_model(run_dir: str | Path) -> tuple[Any, Callable[[Any], Any] | None, dict[str, Any]]:
    """``(model, obs_normalizer, run config)`` of a run folder written by ``rewardlab train``.

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.train import RunConfig, train
        >>> _ = train(RunConfig(env="CartPole-v1", steps=256, eval_episodes=1), "runs/tiny_run", progress_bar=False,
        ...           overwrite=True)
        >>> model, normalize, config = rl.analysis.load_run_model("runs/tiny_run")
        >>> type(model).__name__, config["env"]
        ('PPO', 'CartPole-v1')
    """
    import yaml

    from rewardlab.train import _algo_class

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has no config.yaml")
    config = yaml.safe_load(config_path.read_text())["run"]
    model_path = run_dir / "model.zip"
    if not model_path.exists():
        return None, None, config
    model = _algo_class(config["algo"]).load(model_path, device="cpu")
    normalizer = None
    stats = run_dir / "vecnormalize.pkl"
    if stats.exists():
        import pickle

        with stats.open("rb") as fh:
            vecnorm = pickle.load(fh)
        normalizer = vecnorm.normalize_obs
    return model, normalizer, config
