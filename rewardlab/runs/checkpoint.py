"""Checkpoints of a run: everything needed to continue training where it stopped.

``<run>/checkpoint/`` holds the SB3 model (``model.zip``: weights, optimiser,
step counter, schedules), the replay buffer of off-policy algorithms,
``VecNormalize`` statistics, the reward's state (``reward_state.pt``), the rest
of what decides the run's future (``run_state.pkl``: random streams, env states,
the reward engine's episode sums; see :mod:`rewardlab.runs.exact`) and
``checkpoint.json`` (step, wall time so far), written last. A new checkpoint is
written beside the old one and swapped in by renames, so a kill at any moment
leaves one complete checkpoint.
"""

from __future__ import annotations

import pickle
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from rewardlab.config.registry import ConfigError
from rewardlab.core.term import RewardTerm
from rewardlab.runs.exact import RUN_STATE_FILE, capture, read_run_state, restore_streams, save_run_state
from rewardlab.runs.folder import (
    MODEL_FILE,
    REPLAY_BUFFER_FILE,
    VECNORMALIZE_FILE,
    read_json,
    write_json_atomic,
    write_status,
)
from rewardlab.runs.logs import flush
from rewardlab.runs.reward_state import REWARD_STATE_FILE, load_reward_state, save_reward_state

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "checkpoint.json"
_OLD, _NEW = f"{CHECKPOINT_DIR}.old", f"{CHECKPOINT_DIR}.tmp"


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint in ``path`` taken after ``step`` env steps and ``wall_seconds`` of training."""

    path: Path
    step: int
    wall_seconds: float


def latest_checkpoint(run_dir: str | Path) -> Checkpoint | None:
    """The run's last complete checkpoint, or ``None``."""
    for name in (CHECKPOINT_DIR, _OLD):  # .old survives a kill between the two renames of a swap
        meta = read_json(Path(run_dir) / name / CHECKPOINT_FILE)
        if isinstance(meta, dict) and isinstance(meta.get("step"), int):
            return Checkpoint(Path(run_dir) / name, meta["step"], float(meta.get("wall_seconds", 0.0)))
    return None


def remove_checkpoints(run_dir: str | Path) -> None:
    """Delete the checkpoint folders (once the run's final files are written)."""
    for name in (CHECKPOINT_DIR, _OLD, _NEW):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)


def find_reward(venv: Any) -> RewardTerm:
    """The reward of the first ``RewardVecWrapper`` in a wrapper stack."""
    while venv is not None:
        engine = getattr(venv, "engine", None)
        if engine is not None:
            return engine.reward
        venv = getattr(venv, "venv", None)
    raise ValueError("no RewardVecWrapper in this env stack")


def save_vecnormalize(venv: Any, path: Path) -> bool:
    """Save ``VecNormalize`` statistics when ``venv`` is one; return whether it was."""
    from stable_baselines3.common.vec_env import VecNormalize

    if isinstance(venv, VecNormalize):
        venv.save(str(path))
        return True
    return False


def read_vecnormalize(path: str | Path) -> Any:
    """The ``VecNormalize`` saved in ``path`` (statistics only, no env)."""
    with Path(path).open("rb") as fh:
        return pickle.load(fh)


def load_vecnormalize_stats(venv: Any, path: str | Path) -> None:
    """Copy saved observation and return statistics into the ``VecNormalize`` ``venv``."""
    saved = read_vecnormalize(path)
    venv.obs_rms = saved.obs_rms
    venv.ret_rms = saved.ret_rms


def save_checkpoint(
    run_dir: str | Path,
    model: Any,
    venv: Any,
    *,
    spec: Any = None,
    wall_seconds: float = 0.0,
    run_state: dict[str, Any] | None = None,
) -> Checkpoint:
    """Write a checkpoint of ``model``, its env's normalisation, reward and ``run_state``; swap it in atomically."""
    run_dir = Path(run_dir)
    tmp = run_dir / _NEW
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    step = int(model.num_timesteps)
    model.save(tmp / MODEL_FILE)
    if getattr(model, "replay_buffer", None) is not None:
        model.save_replay_buffer(tmp / REPLAY_BUFFER_FILE)
    save_vecnormalize(venv, tmp / VECNORMALIZE_FILE)
    save_reward_state(find_reward(venv), tmp / REWARD_STATE_FILE, spec=spec, step=step)
    if run_state is not None:
        save_run_state(run_state, tmp / RUN_STATE_FILE)
    write_json_atomic(
        tmp / CHECKPOINT_FILE,
        {"step": step, "wall_seconds": round(wall_seconds, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S")},
    )
    final, old = run_dir / CHECKPOINT_DIR, run_dir / _OLD
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return Checkpoint(final, step, wall_seconds)


def restore_checkpoint(checkpoint: Checkpoint, model_class: Any, venv: Any) -> tuple[Any, dict[str, Any] | None]:
    """Load the model (and replay buffer) of ``checkpoint`` onto ``venv``; restore its normalisation and reward.

    Returns the model and the checkpoint's run state (``None`` for a checkpoint without one), which
    :func:`rewardlab.runs.exact.restore_envs` and :class:`RestoreRunState` put back. With an exact run state
    the model keeps its last observations (the envs are put back as they were); otherwise the envs restart.
    """
    path = checkpoint.path
    run_state = read_run_state(path / RUN_STATE_FILE)
    exact = run_state is not None and bool(run_state.get("exact"))
    try:
        model = model_class.load(path / MODEL_FILE, env=venv, device="cpu", force_reset=not exact)
    except (ValueError, KeyError) as err:
        raise ConfigError(f"cannot load the checkpoint model {str(path / MODEL_FILE)!r}: {err}") from err
    if (path / REPLAY_BUFFER_FILE).exists():
        model.load_replay_buffer(path / REPLAY_BUFFER_FILE)
    if (path / VECNORMALIZE_FILE).exists():
        load_vecnormalize_stats(venv, path / VECNORMALIZE_FILE)
    load_reward_state(find_reward(venv), path / REWARD_STATE_FILE)
    return model, run_state


class RestoreRunState(BaseCallback):
    """Put a checkpoint's random streams back at the first rollout start: where they were taken, after SB3's setup.

    Args:
        state: the run state (:func:`rewardlab.runs.exact.capture`); its envs and callbacks are put back
            before training (:func:`rewardlab.runs.exact.restore_envs`).
    """

    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__()
        self.state: dict[str, Any] | None = state

    def _on_rollout_start(self) -> None:
        if self.state is not None:
            restore_streams(self.state, self.model, self.training_env)
            self.state = None

    def _on_step(self) -> bool:
        return True


class CheckpointCallback(BaseCallback):
    """Save a checkpoint of the run every ``every`` env steps (and note it in ``status.json``).

    Checkpoints are taken when a rollout starts, the first time at least
    ``every`` steps have passed since the last one.

    Args:
        run_dir: the run folder.
        every: env steps between checkpoints.
        spec: the reward spec, stored with the reward state.
        wall_offset: training seconds before this session (a resumed run's earlier time).
        callbacks: callbacks whose ``state_dict()`` goes into the run state (``RewardLogger``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        every: int,
        *,
        spec: Any = None,
        wall_offset: float = 0.0,
        callbacks: list[Any] | None = None,
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"checkpoint interval must be >= 1 env steps, got {every}")
        self.run_dir = Path(run_dir)
        self.every = int(every)
        self.spec = spec
        self.wall_offset = wall_offset
        self.stateful = list(callbacks or [])
        self._start = time.perf_counter()
        self._next = 0

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_rollout_start(self) -> None:
        # between the last update and the next rollout nothing is in flight: the model is updated, the replay
        # buffer holds every transition so far and the logs are written up to this step
        if self.num_timesteps >= self._next:
            self.save()

    def _on_step(self) -> bool:
        return True

    def save(self) -> Checkpoint:
        """Checkpoint now."""
        flush(self.model.logger)
        wall = self.wall_offset + time.perf_counter() - self._start
        state = capture(self.model, self.training_env, self.stateful)
        checkpoint = save_checkpoint(
            self.run_dir, self.model, self.training_env, spec=self.spec, wall_seconds=wall, run_state=state
        )
        write_status(self.run_dir, "running", step=checkpoint.step, checkpoint_step=checkpoint.step)
        self._next = (self.num_timesteps // self.every + 1) * self.every
        return checkpoint
