"""One training run: env × reward × algorithm × seed, written to a run folder.

A run folder (see :mod:`rewardlab.runs.folder`) holds everything needed to
inspect, compare, evaluate or continue the run later:

* ``config.yaml`` -- the resolved configuration (reward spec, hyper-parameters);
* ``status.json`` -- running / interrupted / failed (with the error; traceback in ``error.txt``) / done;
* ``tb/`` -- TensorBoard logs, ``progress.csv`` -- SB3's scalar log;
* ``reward_terms.csv`` -- one row per finished episode: each term's sum,
  the true return, the length;
* ``checkpoint/`` -- the last checkpoint while the run is unfinished;
* ``model.zip`` (and ``vecnormalize.pkl``), ``reward_state.pt`` (the reward's
  trained state), ``summary.json``, ``reward_terms.png``.

``summary.json`` is written last, so its presence marks a finished run.
:func:`rewardlab.runs.load_run` reads a run folder back.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rewardlab.agents import ALGOS, RUNNER_KEYS, hyperparams
from rewardlab.callbacks import RewardLogger
from rewardlab.config.hyperparams import (
    SCHEDULE_KEYS,
    algo_class,
    check_action_space,
    check_hyperparams,
    check_rollout_size,
    linear_schedule,
)
from rewardlab.config.registry import ConfigError
from rewardlab.config.reward_config import build_reward
from rewardlab.envs import get_preset
from rewardlab.make import make_vec_env
from rewardlab.runs import folder as run_files
from rewardlab.shaping.potential_shaping import PotentialShaping
from rewardlab.wrappers.engine import NAN_POLICIES
from rewardlab.wrappers.frames import frame_settings
from rewardlab.wrappers.vec_env import RewardVecWrapper

SUMMARY_FILE = run_files.SUMMARY_FILE
#: checkpoint interval when none is given: ten per run, at least 10k steps apart
AUTO_CHECKPOINTS = 10
MIN_AUTO_CHECKPOINT = 10_000


def parse_steps(value: str | int | float) -> int:
    """``"200k"`` → 200000, ``"1.5M"`` → 1500000, ``5000`` → 5000."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not np.isfinite(value):
            raise ConfigError(f"step count must be finite, got {value!r}")
        return int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmM]?)\s*", str(value))
    if not match:
        raise ConfigError(f"cannot read a step count from {value!r}; use e.g. 50000, 200k or 1.5M")
    number, suffix = float(match.group(1)), match.group(2).lower()
    return int(number * {"": 1, "k": 1_000, "m": 1_000_000}[suffix])


@dataclass
class RunConfig:
    """Everything that defines a run. ``reward`` is a spec (see :mod:`rewardlab.config.reward_config`)."""

    env: str
    reward: Any = "extrinsic"
    algo: str = "ppo"
    steps: int = 50_000
    seed: int = 0
    n_envs: int | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    nan_policy: str = "raise"
    vec_env: str = "dummy"
    eval_episodes: int = 10

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field (nothing is built)."""
        if not isinstance(self.algo, str) or self.algo.lower() not in ALGOS:
            raise ConfigError(f"unknown algo {self.algo!r}; valid: {', '.join(ALGOS)}")
        self.algo = self.algo.lower()
        self.steps = parse_steps(self.steps)
        if self.steps <= 0:
            raise ConfigError(f"steps must be positive, got {self.steps}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if self.n_envs is not None and (isinstance(self.n_envs, bool) or not isinstance(self.n_envs, int)):
            raise ConfigError(f"n_envs must be an integer, got {self.n_envs!r}")
        if self.n_envs is not None and self.n_envs < 1:
            raise ConfigError(f"n_envs must be >= 1, got {self.n_envs}")
        if isinstance(self.eval_episodes, bool) or not isinstance(self.eval_episodes, int) or self.eval_episodes < 0:
            raise ConfigError(f"eval_episodes must be an integer >= 0, got {self.eval_episodes!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"unknown nan_policy {self.nan_policy!r}; valid: {', '.join(NAN_POLICIES)}")
        try:
            get_preset(self.env)
        except ValueError as err:
            raise ConfigError(str(err)) from err
        check_hyperparams(self.algo, self.hyperparams)
        hp = resolved_hyperparams(self)
        check_hyperparams(self.algo, hp, where=f"{self.algo} preset for {self.env}: ")
        check_rollout_size(self.algo, hp)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The config stored under ``run:`` in a run folder's ``config.yaml``."""
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"run config has unknown fields {unknown}; valid: {', '.join(sorted(names))}")
        return cls(**data)


def read_config(run_dir: str | Path) -> RunConfig:
    """The :class:`RunConfig` of a run folder (from its ``config.yaml``)."""
    path = Path(run_dir) / run_files.CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run folder: it has no {run_files.CONFIG_FILE}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"cannot read {str(path)!r}: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict) or not isinstance(data.get("run"), dict):
        raise ConfigError(f"{str(path)!r} has no 'run:' section; is it a rewardlab run folder?")
    return RunConfig.from_dict(data["run"])


def read_workdir(run_dir: str | Path) -> Path | None:
    """The folder a run was started from (relative paths in its reward spec are relative to it), if it still exists."""
    try:
        data = yaml.safe_load((Path(run_dir) / run_files.CONFIG_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return None
    workdir = data.get("workdir") if isinstance(data, dict) else None
    return Path(workdir) if isinstance(workdir, str) and Path(workdir).is_dir() else None


def resolve_classes(params: dict[str, Any]) -> dict[str, Any]:
    """Import ``"module:Class"`` strings under keys ending in ``_class`` (YAML can't hold classes), build schedules."""
    import importlib

    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            value = resolve_classes(value)
        elif key in SCHEDULE_KEYS and isinstance(value, str):
            value = linear_schedule(value)  # the zoo's lin_0.001
        elif key.endswith("_class") and isinstance(value, str) and ":" in value:
            module, _, attr = value.partition(":")
            try:
                value = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as err:
                raise ConfigError(f"hyper-parameter {key!r}: cannot import {value!r}: {err}") from err
        out[key] = value
    return out


_algo_class = algo_class  # the name other modules imported


def resolved_hyperparams(config: RunConfig) -> dict[str, Any]:
    """Preset hyper-parameters for the run's env and algo, overridden by the config's."""
    preset = get_preset(config.env)
    hp = hyperparams(config.algo, config.env, preset.family)
    hp.update(config.hyperparams)
    if config.n_envs is not None:
        hp["n_envs"] = config.n_envs
    return hp


def build_run(config: RunConfig, run_dir: str | Path | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Env stack and SB3 model for ``config``: ``(model, venv, hyperparams)``.

    Raises :class:`ConfigError` (and builds nothing that stays open) when the
    reward does not fit the env or the algorithm cannot act in it.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    config.validate()
    hp = resolved_hyperparams(config)
    runner = {k: hp.pop(k) for k in RUNNER_KEYS if k in hp}
    reward = build_reward(config.reward, seed=config.seed)
    gamma = hp.get("gamma", 0.99)
    for leaf in reward.leaves():
        check_teacher = getattr(leaf, "check_teacher", None)  # a human teacher needs a way to answer: say so now
        if callable(check_teacher):
            check_teacher()
    for leaf in reward.leaves():
        if isinstance(leaf, PotentialShaping) and abs(leaf.gamma - gamma) > 1e-12:
            warnings.warn(
                f"shaping term {leaf.name!r} uses gamma={leaf.gamma} but the agent uses gamma={gamma}; "
                "potential shaping only keeps optimal policies when they match",
                UserWarning,
                stacklevel=2,
            )
    try:
        venv = make_vec_env(
            config.env,
            runner.get("n_envs", 8),
            seed=config.seed,
            vec_env=config.vec_env,
            env_kwargs=config.env_kwargs,
            frames=frame_settings(reward),  # None unless a term reads pixels (ConfigError on conflicts)
        )
    except TypeError as err:  # gymnasium.make with a keyword the env does not take
        raise ConfigError(f"cannot make {config.env} with env_kwargs {config.env_kwargs}: {err}") from err
    try:
        check_action_space(config.algo, venv.action_space, config.env)
        try:
            venv = RewardVecWrapper(
                venv,
                reward,
                nan_policy=config.nan_policy,  # type: ignore[arg-type]
                run_dir=None if run_dir is None else str(run_dir),
                step_info=False,  # training reads episode sums and the engine's arrays, not per-step info dicts
            )
        except ConfigError:
            raise
        except ValueError as err:  # a term's bind() found the env does not fit it
            raise ConfigError(f"the reward does not fit {config.env}: {' '.join(str(err).split())}") from err
        if runner.get("normalize"):
            venv = VecNormalize(venv, gamma=gamma)
        try:
            model = algo_class(config.algo)(
                runner.get("policy", "MlpPolicy"),
                venv,
                seed=config.seed,
                verbose=0,
                device="cpu",
                **resolve_classes(hp),
            )
        except (ValueError, TypeError, AssertionError) as err:  # SB3 rejects a hyper-parameter (policy_kwargs, ...)
            message = " ".join(str(err).split())
            raise ConfigError(f"{config.algo} rejects its hyper-parameters: {type(err).__name__}: {message}") from err
    except BaseException:
        venv.close()
        raise
    return model, venv, {**runner, **hp}


def default_checkpoint_every(steps: int) -> int:
    """Checkpoint interval when none is given: ``steps / 10``, at least 10k env steps."""
    return max(MIN_AUTO_CHECKPOINT, -(-steps // AUTO_CHECKPOINTS))


def _same_config(stored: RunConfig, config: RunConfig) -> None:
    stored.validate()
    a, b = (yaml.safe_load(yaml.safe_dump(asdict(c))) for c in (stored, config))  # as config.yaml holds them
    differ = [k for k in a if a[k] != b[k]]
    if differ:
        raise ConfigError(
            f"cannot resume: the run folder was trained with a different {', '.join(differ)} "
            f"({', '.join(f'{k}={a[k]!r}' for k in differ)}); resume it as it is or start a new run"
        )


def train(
    config: RunConfig,
    out_dir: str | Path,
    *,
    progress_bar: bool = True,
    checkpoint_every: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callback: Any = None,
) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its summary (also written to ``summary.json``).

    Args:
        config: what to train.
        out_dir: the run folder. A folder that already holds a run is refused
            unless ``resume`` (continue it from its last checkpoint; a finished
            run just returns its summary) or ``overwrite`` (delete it first).
        progress_bar: show SB3's progress bar.
        checkpoint_every: env steps between checkpoints (``None``: a tenth of
            the run, at least 10k; ``0``: none).
        callback: extra SB3 callback(s) for ``model.learn``.

    A failure marks the folder ``failed`` (message in ``status.json``,
    traceback in ``error.txt``) and is raised again; Ctrl-C marks it
    ``interrupted``. Either can be resumed from the last checkpoint.
    """
    from rewardlab.runs.checkpoint import latest_checkpoint

    config.validate()
    _check_teachers(config.reward)  # before anything in the folder is touched
    out = Path(out_dir)
    existed = out.exists()
    run_files.claim(out, resume=resume, overwrite=overwrite)
    try:
        with run_files.run_lock(out):
            checkpoint = None
            if resume:
                _same_config(read_config(out), config)
                if run_files.is_finished(out):
                    return run_files.read_json(out / SUMMARY_FILE)  # nothing to do: the folder stays as it is
                checkpoint = latest_checkpoint(out)
                if checkpoint is None:
                    # stopped before its first checkpoint: start over in the same folder, keeping what a person
                    # made (labels.sqlite, demos), which the new start reuses
                    run_files.clear(out)
            every = default_checkpoint_every(config.steps) if checkpoint_every is None else int(checkpoint_every)
            if every < 0:
                raise ConfigError(f"checkpoint interval must be >= 0 env steps (0: none), got {every}")
            model, venv, hp = build_run(config, run_dir=out)
            return _train_built(config, out, model, venv, hp, checkpoint, every, progress_bar, callback)
    except ConfigError:
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # refused before anything was written: leave no empty folder behind
        raise


def _check_teachers(spec: Any) -> None:
    """Fail with one line now when a ``teacher: human`` in the reward spec would have no way to answer."""
    from rewardlab.learned.preference.teachers import check_can_ask

    if isinstance(spec, dict):
        teacher = spec.get("teacher")
        if teacher == "human" or (isinstance(teacher, dict) and "human" in teacher):
            check_can_ask(teacher)
        for value in spec.values():
            _check_teachers(value)
    elif isinstance(spec, (list, tuple)):
        for value in spec:
            _check_teachers(value)


def _train_built(
    config: RunConfig,
    out: Path,
    model: Any,
    venv: Any,
    hp: dict[str, Any],
    checkpoint: Any,
    every: int,
    progress_bar: bool,
    callback: Any,
) -> dict[str, Any]:
    """Train an already built run into the claimed folder ``out``; see :func:`train`."""
    from stable_baselines3.common.callbacks import CallbackList

    from rewardlab.runs.checkpoint import (
        CheckpointCallback,
        RestoreRunState,
        find_reward,
        remove_checkpoints,
        restore_checkpoint,
        save_vecnormalize,
    )
    from rewardlab.runs.exact import restore_envs, warn_not_exact
    from rewardlab.runs.logs import run_logger
    from rewardlab.runs.reward_state import REWARD_STATE_FILE, save_reward_state

    start_step = 0 if checkpoint is None else checkpoint.step
    wall_before = 0.0 if checkpoint is None else checkpoint.wall_seconds
    start = time.perf_counter()
    logger = reward_logger = None
    try:
        try:
            if checkpoint is None:
                # workdir: where relative paths in the reward spec (demos, stores, models) were read from
                stored = {"run": asdict(config), "resolved_hyperparams": hp, "workdir": os.getcwd()}
                (out / run_files.CONFIG_FILE).write_text(yaml.safe_dump(stored, sort_keys=False))
            resumed = {"resumed_from": start_step} if checkpoint else {}
            run_files.write_status(out, "running", step=start_step, **resumed)
            run_state = None
            if checkpoint is not None:
                model, run_state = restore_checkpoint(checkpoint, algo_class(config.algo), venv)
                warn_not_exact(venv, run_state)
            logger = run_logger(out, resume_step=None if checkpoint is None else start_step)
            model.set_logger(logger)
            reward_logger = RewardLogger(csv_path=out / run_files.REWARD_TERMS_FILE)
            callbacks: list[Any] = [reward_logger]
            stateful = [reward_logger]  # callbacks whose state the checkpoints keep
            if find_reward(venv).learns and getattr(model, "replay_buffer", None) is not None:
                from rewardlab.relabel import ReplayRelabeler

                stateful.append(ReplayRelabeler())  # stored rewards follow the learned reward
            if run_state is not None:  # env states, episode sums, callbacks now; random streams at the first rollout
                restore_envs(run_state, venv, stateful)
                callbacks.insert(0, RestoreRunState(run_state))
            if every > 0:
                callbacks.append(
                    CheckpointCallback(out, every, spec=config.reward, wall_offset=wall_before, callbacks=stateful)
                )
            callbacks.extend(stateful[1:])
            if callback is not None:
                callbacks.extend(callback if isinstance(callback, list) else [callback])
            remaining = config.steps - model.num_timesteps
            if remaining > 0:
                model.learn(
                    remaining,
                    callback=CallbackList(callbacks),
                    progress_bar=progress_bar,
                    reset_num_timesteps=checkpoint is None,
                )
            wall = wall_before + time.perf_counter() - start
            model.save(out / run_files.MODEL_FILE)
            save_vecnormalize(venv, out / run_files.VECNORMALIZE_FILE)
            save_reward_state(find_reward(venv), out / REWARD_STATE_FILE, spec=config.reward, step=model.num_timesteps)
            summary = {
                "env": config.env,
                "algo": config.algo,
                "seed": config.seed,
                "steps": config.steps,
                "timesteps": int(model.num_timesteps),
                "wall_seconds": round(wall, 2),
                **({"resumed_from": start_step} if checkpoint is not None else {}),
                **training_stats(out / run_files.REWARD_TERMS_FILE),
                **evaluate(model, config, venv, progress=progress_bar),
            }
            _plot_terms(out)
        finally:
            venv.close()
            if logger is not None:
                logger.close()
            if reward_logger is not None:
                reward_logger.close()
    except KeyboardInterrupt:
        run_files.write_status(out, "interrupted", step=int(model.num_timesteps))
        raise
    except Exception as err:
        message = f"{type(err).__name__}: {' '.join(str(err).split())}"
        run_files.mark_failed(out, message, "".join(traceback.format_exception(err)), step=int(model.num_timesteps))
        raise
    from rewardlab.oni.term import oni_counts

    summary.update(oni_counts(find_reward(venv)))  # labels still pending in an ONI store, said in the summary
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    run_files.write_status(out, "done", step=int(model.num_timesteps))
    remove_checkpoints(out)
    return summary


def training_stats(csv_path: Path, last: int = 100) -> dict[str, float]:
    """True-return and termination statistics of the last ``last`` training episodes."""
    import pandas as pd

    if not csv_path.exists() or csv_path.stat().st_size == 0:
        return {"train_episodes": 0}
    df = pd.read_csv(csv_path)
    tail = df.tail(last)
    return {
        "train_episodes": int(len(df)),
        "train_true_return": float(tail["true_return"].mean()),
        "train_terminated_rate": float(tail["terminated"].mean()),
    }


def evaluate(model: Any, config: RunConfig, train_venv: Any, *, progress: bool = False) -> dict[str, float]:
    """Deterministic episodes on fresh envs with the true reward: mean return and termination rate.

    ``progress``: say what is happening (a bar in a terminal, a few lines in a log).
    """
    from stable_baselines3.common.vec_env import VecNormalize

    from rewardlab.progress import progress_bar

    if config.eval_episodes <= 0:
        return {}
    bar = progress_bar(total=config.eval_episodes, desc=f"evaluate {config.env}", unit="episode", enabled=progress)
    env = make_vec_env(config.env, 1, seed=config.seed + 10_000, env_kwargs=config.env_kwargs)
    if isinstance(train_venv, VecNormalize):
        env = VecNormalize(env, training=False, norm_reward=False)
        env.obs_rms = train_venv.obs_rms
    returns, terminated = [], []
    obs = env.reset()
    while len(returns) < config.eval_episodes:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, done, infos = env.step(action)
        if done[0]:
            returns.append(float(infos[0]["episode"]["r"]))  # Monitor's true return
            terminated.append(not infos[0].get("TimeLimit.truncated", False))
            bar.update()
    bar.close()
    env.close()
    return {"eval_true_return": float(np.mean(returns)), "eval_terminated_rate": float(np.mean(terminated))}


def _plot_terms(out: Path) -> None:
    from rewardlab.plot.curves import plot_run_terms

    csv_path = out / "reward_terms.csv"
    if csv_path.exists() and csv_path.stat().st_size > 0:
        plot_run_terms(csv_path, out / "reward_terms.png")
