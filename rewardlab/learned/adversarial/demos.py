"""Expert demonstrations: a trajectory file (``.npz``), its checks, and collecting one from a trained run.

A :class:`Demonstrations` holds ``N`` transitions of whole episodes, stored
one after the other::

    obs, acts, next_obs      # (N, *obs_shape), (N, *act_shape), (N, *obs_shape); raw (unnormalised) observations
    dones, terminated        # (N,) bool: the episode ended here / ended in a terminal state (not a time limit)
    episode_starts           # (E,) int: index of each episode's first transition (episode boundaries)
    returns                  # (E,) float: each episode's true (extrinsic) return
    env_id                   # str: the env the episodes come from

``next_obs`` of an episode's last step is the true terminal observation (not
the next episode's first one). Files are written with :meth:`Demonstrations.save`
(compressed ``np.savez``) and read with :func:`load_demos`, which checks every
array and says in one line what is wrong. ``rewardlab demos collect RUN``
writes them from a trained run (see :func:`collect_demos`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError

FORMAT_VERSION = 1
ARRAY_FIELDS = ("obs", "acts", "next_obs", "dones", "terminated", "episode_starts", "returns")


@dataclass
class Demonstrations:
    """Whole expert episodes as flat transition arrays (see the module docs for the fields).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.adversarial import from_episodes
        >>> demos = from_episodes([{"obs": np.zeros((4, 3)), "acts": np.zeros((4, 1)), "next_obs": np.zeros((4, 3)),
        ...                         "terminated": False, "return": -10.0}], "Pendulum-v1")
        >>> len(demos), demos.n_episodes
        (4, 1)
        >>> _ = demos.save("demos.npz")
    """

    obs: np.ndarray
    acts: np.ndarray
    next_obs: np.ndarray
    dones: np.ndarray
    terminated: np.ndarray
    episode_starts: np.ndarray
    returns: np.ndarray
    env_id: str

    def __post_init__(self) -> None:
        self.check()

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_starts)

    @property
    def episode_lengths(self) -> np.ndarray:
        """Length of each episode."""
        return np.diff(np.append(self.episode_starts, len(self)))

    def check(self, where: str = "demonstrations") -> None:
        """Raise :class:`ConfigError` (one line) when the arrays do not describe whole episodes."""
        n = len(self.obs)
        if n == 0:
            raise ConfigError(f"{where} hold no transitions")
        for name in ("acts", "next_obs", "dones", "terminated"):
            if len(getattr(self, name)) != n:
                raise ConfigError(f"{where}: {name} has {len(getattr(self, name))} rows but obs has {n}")
        if self.next_obs.shape != self.obs.shape:
            raise ConfigError(f"{where}: next_obs has shape {self.next_obs.shape} but obs has {self.obs.shape}")
        starts = self.episode_starts
        if starts.ndim != 1 or len(starts) == 0 or starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= n:
            raise ConfigError(f"{where}: episode_starts must rise strictly from 0 and stay below {n}, got {starts[:5]}")
        if len(self.returns) != len(starts):
            raise ConfigError(f"{where}: {len(self.returns)} returns for {len(starts)} episodes")
        ends = np.append(starts[1:], n) - 1
        if not self.dones[ends].all():
            raise ConfigError(f"{where}: an episode does not end with done=True (episodes must be whole)")
        if self.dones.sum() != len(starts):
            raise ConfigError(f"{where}: {int(self.dones.sum())} done flags for {len(starts)} episodes")
        if np.any(self.terminated & ~self.dones):
            raise ConfigError(f"{where}: terminated is set on a step that is not done")
        if not (np.isfinite(self.obs).all() and np.isfinite(self.next_obs).all()):
            raise ConfigError(f"{where}: observations hold NaN or inf")

    def check_env(self, env_info: Any, *, where: str = "demonstrations") -> None:
        """Raise :class:`ConfigError` when these episodes do not come from (an env like) ``env_info``'s."""
        import gymnasium as gym

        env_id = getattr(env_info, "env_id", None)
        if env_id is not None and self.env_id and env_id != self.env_id:
            raise ConfigError(f"{where} come from {self.env_id} but the reward is bound to {env_id}")
        obs_space, act_space = env_info.observation_space, env_info.action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise ConfigError(f"{where}: only Box observations are supported, the env has {obs_space}")
        if self.obs.shape[1:] != obs_space.shape:
            raise ConfigError(
                f"{where} have observations of shape {self.obs.shape[1:]} but {env_id or 'the env'} has "
                f"{obs_space.shape}"
            )
        if isinstance(act_space, gym.spaces.Discrete):
            acts = self.acts.reshape(len(self), -1)
            if acts.shape[1] != 1 or np.any(acts != np.round(acts)) or acts.min() < 0 or acts.max() >= act_space.n:
                raise ConfigError(f"{where}: actions must be integers in [0, {act_space.n}) for {env_id or 'the env'}")
        elif isinstance(act_space, gym.spaces.Box):
            if self.acts.shape[1:] != act_space.shape:
                raise ConfigError(
                    f"{where} have actions of shape {self.acts.shape[1:]} but {env_id or 'the env'} has "
                    f"{act_space.shape}"
                )
        else:
            raise ConfigError(f"{where}: only Discrete and Box actions are supported, the env has {act_space}")

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (the suffix is added when missing); return the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in ARRAY_FIELDS}
        np.savez_compressed(path, env_id=np.array(self.env_id), format_version=np.array(FORMAT_VERSION), **arrays)
        return path

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``size`` random transitions ``(obs, acts, next_obs, terminated)`` (with replacement)."""
        idx = rng.integers(0, len(self), size)
        return self.obs[idx], self.acts[idx], self.next_obs[idx], self.terminated[idx]


def load_demos(path: str | Path) -> Demonstrations:
    """Read a demonstrations file written by :meth:`Demonstrations.save`; one-line errors when it is not one.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.adversarial import from_episodes, load_demos
        >>> episode = {"obs": np.zeros((4, 3)), "acts": np.zeros((4, 1)), "next_obs": np.zeros((4, 3)),
        ...            "terminated": False, "return": -10.0}
        >>> _ = from_episodes([episode], "Pendulum-v1").save("pendulum_demos.npz")
        >>> load_demos("pendulum_demos.npz").env_id
        'Pendulum-v1'
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"demonstrations file {str(path)!r} does not exist (write one with 'rewardlab demos collect')"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in (*ARRAY_FIELDS, "env_id") if k not in data.files]
            if missing:
                raise ConfigError(f"{str(path)!r} is not a demonstrations file: it lacks {missing}")
            version = int(data["format_version"]) if "format_version" in data.files else FORMAT_VERSION
            if version > FORMAT_VERSION:
                raise ConfigError(
                    f"{str(path)!r} has format version {version}; this rewardlab reads up to {FORMAT_VERSION}"
                )
            arrays = {k: data[k] for k in ARRAY_FIELDS}
            env_id = str(data["env_id"])
    except (OSError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"cannot read demonstrations {str(path)!r}: {' '.join(str(err).split())}") from err
    arrays["dones"] = arrays["dones"].astype(bool)
    arrays["terminated"] = arrays["terminated"].astype(bool)
    arrays["episode_starts"] = arrays["episode_starts"].astype(np.int64)
    demos = Demonstrations.__new__(Demonstrations)
    for k, v in arrays.items():
        setattr(demos, k, v)
    demos.env_id = env_id
    demos.check(where=f"demonstrations {str(path)!r}")
    return demos


def from_episodes(episodes: list[dict[str, Any]], env_id: str) -> Demonstrations:
    """Demonstrations from episodes (dicts of per-step ``obs``, ``acts``, ``next_obs``; ``terminated``, ``return``).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.learned.adversarial import from_episodes
        >>> episode = {"obs": np.zeros((3, 2)), "acts": np.zeros(3), "next_obs": np.ones((3, 2)),
        ...            "terminated": True, "return": 3.0}
        >>> demos = from_episodes([episode, episode], "MountainCar-v0")
        >>> demos.n_episodes, len(demos.obs)
        (2, 6)
    """
    if not episodes:
        raise ConfigError("no episodes to store")
    lengths = [len(e["obs"]) for e in episodes]
    dones = np.zeros(sum(lengths), dtype=bool)
    dones[np.cumsum(lengths) - 1] = True
    terminated = np.zeros(sum(lengths), dtype=bool)
    terminated[np.cumsum(lengths) - 1] = [bool(e["terminated"]) for e in episodes]
    return Demonstrations(
        obs=np.concatenate([np.asarray(e["obs"]) for e in episodes]),
        acts=np.concatenate([np.asarray(e["acts"]) for e in episodes]),
        next_obs=np.concatenate([np.asarray(e["next_obs"]) for e in episodes]),
        dones=dones,
        terminated=terminated,
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        returns=np.array([float(e["return"]) for e in episodes]),
        env_id=env_id,
    )


def collect_demos(
    run: Any,
    *,
    episodes: int = 10,
    n_envs: int = 1,
    seed: int | None = None,
    deterministic: bool = True,
) -> Demonstrations:
    """Roll out a trained run's policy for ``episodes`` whole episodes on the true reward.

    Observations are stored raw (the policy gets them normalised when the run
    used ``VecNormalize``), so a reward bound inside ``VecNormalize`` -- where
    ``RewardVecWrapper`` sits in training -- sees the same kind of input.
    ``seed`` defaults to the run's seed + 20000 (not the evaluation seeds).

    Examples:
        >>> from rewardlab.learned.adversarial import collect_demos
        >>> from rewardlab.train import RunConfig, train
        >>> _ = train(RunConfig(env="CartPole-v1", steps=256, n_envs=2, eval_episodes=1), "runs/doc_expert",
        ...           progress_bar=False, overwrite=True)
        >>> demos = collect_demos("runs/doc_expert", episodes=2)
        >>> demos.n_episodes, demos.env_id
        (2, 'CartPole-v1')
    """
    from rewardlab.make import make_vec_env
    from rewardlab.runs.load import Run, load_run

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"episodes must be an integer >= 1, got {episodes!r}")
    if n_envs < 1:
        raise ConfigError(f"n_envs must be >= 1, got {n_envs}")
    run = run if isinstance(run, Run) else load_run(run)
    run.require_model()
    seed = run.config.seed + 20_000 if seed is None else seed
    n_envs = min(n_envs, episodes)
    venv = make_vec_env(run.env_id, n_envs, seed=seed, env_kwargs=run.config.env_kwargs)
    done_episodes: list[dict[str, Any]] = []
    current = [_empty_episode() for _ in range(n_envs)]
    try:
        obs = venv.reset()
        while len(done_episodes) < episodes:
            actions = run.predict(obs, deterministic=deterministic)
            next_obs, rewards, dones, infos = venv.step(actions)
            for i in range(n_envs):
                ep = current[i]
                true_next = infos[i]["terminal_observation"] if dones[i] else next_obs[i]
                ep["obs"].append(np.array(obs[i], copy=True))
                ep["acts"].append(np.array(actions[i], copy=True))
                ep["next_obs"].append(np.array(true_next, copy=True))
                ep["return"] += float(rewards[i])
                if dones[i]:
                    ep["terminated"] = not infos[i].get("TimeLimit.truncated", False)
                    if len(done_episodes) < episodes:
                        done_episodes.append(ep)
                    current[i] = _empty_episode()
            obs = next_obs
    finally:
        venv.close()
    return from_episodes(done_episodes, run.env_id)


def _empty_episode() -> dict[str, Any]:
    return {"obs": [], "acts": [], "next_obs": [], "return": 0.0, "terminated": False}
