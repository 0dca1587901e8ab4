"""Read a run folder back: config, trained model, trained reward (state restored), normalisation statistics.

::

    run = rl.load_run("runs/demo")
    run.reward                    # the reward with its trained state, frozen (train(False))
    venv = run.make_env(4)        # the training env stack: reward injected, observations normalised
    actions = run.predict(obs)    # the trained policy (normalises raw observations itself)

Everything that builds on a finished (or checkpointed) run -- evaluation,
landscapes, distances, collecting demonstrations -- starts from :func:`load_run`.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardlab.config.registry import ConfigError
from rewardlab.core.term import RewardTerm
from rewardlab.runs import folder as run_files
from rewardlab.runs.reward_state import REWARD_STATE_FILE, load_reward_state

if TYPE_CHECKING:
    from rewardlab.train import RunConfig


@dataclass
class Run:
    """A run folder read back by :func:`load_run`.

    Attributes:
        path: the run folder.
        config: the :class:`~rewardlab.train.RunConfig` it was trained with.
        model: the SB3 model (``None`` when loaded with ``model=False``).
        reward: the reward term with its trained state restored, in eval mode
            (``train(False)``: counts and running statistics frozen); call
            ``run.reward.train()`` to let it learn again.
        vecnormalize: the saved ``VecNormalize`` (observation statistics) or ``None``.
        step: env steps trained when the loaded files were written.
        from_checkpoint: whether they come from the checkpoint of an unfinished run.
        status, summary: ``status.json`` and ``summary.json`` (``None`` until finished).

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.train import RunConfig, train
        >>> _ = train(RunConfig(env="CartPole-v1", steps=256, n_envs=2, eval_episodes=1), "runs/doc_run_class",
        ...           progress_bar=False, overwrite=True)
        >>> run = rl.load_run("runs/doc_run_class")
        >>> venv = run.make_env(2)
        >>> run.predict(venv.reset()).shape
        (2,)
    """

    path: Path
    config: RunConfig
    model: Any
    reward: RewardTerm
    vecnormalize: Any
    step: int
    from_checkpoint: bool
    status: dict[str, Any]
    summary: dict[str, Any] | None

    @property
    def env_id(self) -> str:
        return self.config.env

    @property
    def finished(self) -> bool:
        return self.summary is not None

    def normalize_obs(self, obs: Any) -> Any:
        """Raw observations as the policy saw them in training (identity without ``VecNormalize``)."""
        return obs if self.vecnormalize is None else self.vecnormalize.normalize_obs(obs)

    def require_model(self) -> Any:
        """The SB3 model, or a one-line error saying why there is none."""
        if self.model is None:
            if self.step == 0 and not self.finished:
                raise ConfigError(
                    f"run {str(self.path)!r} has no model yet: it stopped before its first checkpoint "
                    f"({run_files.describe(self.path)}); continue it with 'rewardlab train --resume {self.path}'"
                )
            raise ConfigError(f"run {str(self.path)!r} was loaded without its model (model=False)")
        return self.model

    def predict(self, obs: Any, *, deterministic: bool = True) -> Any:
        """The trained policy's actions for raw (unnormalised) observations."""
        action, _ = self.require_model().predict(self.normalize_obs(obs), deterministic=deterministic)
        return action

    def make_env(
        self,
        n_envs: int = 1,
        *,
        seed: int | None = None,
        reward: bool = True,
        env_kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """The run's env stack for evaluation or data collection.

        ``n_envs`` copies of the env (``seed``: default the run's seed + 10000,
        as the run's own evaluation), with a frozen copy of the trained reward
        injected (``reward=False``: the env's own reward) and, when the run
        normalised observations, a ``VecNormalize`` with its frozen training
        statistics (rewards are not normalised). Feed its observations to
        ``run.model.predict`` directly.
        """
        from stable_baselines3.common.vec_env import VecNormalize

        from rewardlab.make import make_vec_env
        from rewardlab.wrappers.vec_env import RewardVecWrapper

        venv = make_vec_env(
            self.env_id,
            n_envs,
            seed=self.config.seed + 10_000 if seed is None else seed,
            env_kwargs={**self.config.env_kwargs, **(env_kwargs or {})},
        )
        if reward:
            venv = RewardVecWrapper(venv, copy.deepcopy(self.reward).train(False), nan_policy="raise")
        saved = self.vecnormalize
        if saved is not None:
            venv = VecNormalize(
                venv,
                training=False,
                norm_obs=saved.norm_obs,
                norm_reward=False,
                clip_obs=saved.clip_obs,
                gamma=saved.gamma,
                epsilon=saved.epsilon,
                norm_obs_keys=saved.norm_obs_keys,
            )
            venv.obs_rms = copy.deepcopy(saved.obs_rms)
        return venv


def _model_files(path: Path) -> tuple[Path | None, int | None, bool]:
    """Folder holding the model and reward state to load: the final files, else the last checkpoint."""
    from rewardlab.runs.checkpoint import latest_checkpoint

    status = run_files.read_status(path) or {}
    if (path / run_files.MODEL_FILE).exists() and status.get("state") in ("done", None):
        return path, status.get("step"), False
    checkpoint = latest_checkpoint(path)
    if checkpoint is not None:
        return checkpoint.path, checkpoint.step, True
    if (path / run_files.MODEL_FILE).exists():
        return path, status.get("step"), False
    return None, None, False


def load_run(path: str | Path, *, reward: RewardTerm | None = None, model: bool = True) -> Run:
    """Load the run in ``path`` (finished, or from the checkpoint of an unfinished one).

    Args:
        path: the run folder written by ``rewardlab train`` / :func:`rewardlab.train.train`.
        reward: a reward term to restore instead of rebuilding it from the run's
            config (for rewards built in Python that YAML cannot describe).
        model: load the SB3 model (``False``: config and reward only).

    A run stopped before its first checkpoint has no model yet: ``model`` is
    then ``None`` and the reward untrained. Raises
    :class:`~rewardlab.config.registry.ConfigError` (one line) when the folder
    is not a run or its reward state does not fit.

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.train import RunConfig, train
        >>> _ = train(RunConfig(env="CartPole-v1", steps=256, n_envs=2, eval_episodes=1), "runs/doc_run",
        ...           progress_bar=False, overwrite=True)
        >>> run = rl.load_run("runs/doc_run")
        >>> run.config.env, run.finished
        ('CartPole-v1', True)
    """
    from rewardlab.config.reward_config import build_reward
    from rewardlab.core.env_info import EnvInfo
    from rewardlab.envs import make_env
    from rewardlab.runs.checkpoint import read_vecnormalize
    from rewardlab.train import read_config, read_workdir

    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"run folder {str(path)!r} does not exist")
    run_path = path.resolve()
    config = read_config(path)
    files, step, from_checkpoint = _model_files(path)
    # relative paths in the reward spec (demonstrations, label stores, models) mean what they meant in training
    workdir = read_workdir(path) if reward is None else None
    with contextlib.chdir(workdir) if workdir is not None else contextlib.nullcontext():
        term = build_reward(config.reward, seed=config.seed) if reward is None else reward
        env = make_env(config.env, **config.env_kwargs)
        try:
            term.bind(EnvInfo.from_env(env, run_dir=str(run_path)))
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(f"the run's reward does not fit {config.env}: {' '.join(str(err).split())}") from err
        finally:
            env.close()
    state_file = None if files is None else files / REWARD_STATE_FILE
    if state_file is not None and state_file.exists():
        load_reward_state(term, state_file)
    elif files is not None:
        warnings.warn(
            f"run {str(path)!r} has no {REWARD_STATE_FILE} (written before rewardlab saved reward state): "
            "its reward is loaded untrained",
            UserWarning,
            stacklevel=2,
        )
    term.train(False)
    sb3_model = None
    vecnormalize = None
    if files is not None:
        if model:
            from rewardlab.config.hyperparams import algo_class

            sb3_model = algo_class(config.algo).load(files / run_files.MODEL_FILE, device="cpu")
        if (files / run_files.VECNORMALIZE_FILE).exists():
            vecnormalize = read_vecnormalize(files / run_files.VECNORMALIZE_FILE)
    summary = run_files.read_json(path / run_files.SUMMARY_FILE)
    return Run(
        path=path,
        config=config,
        model=sb3_model,
        reward=term,
        vecnormalize=vecnormalize,
        step=int(step or 0),
        from_checkpoint=from_checkpoint,
        status=run_files.read_status(path) or {},
        summary=summary if isinstance(summary, dict) else None,
    )
