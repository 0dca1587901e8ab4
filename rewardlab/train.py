"""One training run: env × reward × algorithm × seed, written to a run folder.

A run folder holds everything needed to inspect or compare the run later:

* ``config.yaml`` -- the resolved configuration (reward spec, hyper-parameters);
* ``tb/`` -- TensorBoard logs, ``progress.csv`` -- SB3's scalar log;
* ``reward_terms.csv`` -- one row per finished episode: each term's sum,
  the true return, the length;
* ``model.zip`` (and ``vecnormalize.pkl``), ``summary.json``, ``reward_terms.png``.

``summary.json`` is written last, so its presence marks a finished run.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rewardlab.agents import ALGOS, RUNNER_KEYS, hyperparams
from rewardlab.callbacks import RewardLogger
from rewardlab.config.registry import ConfigError
from rewardlab.config.reward_config import build_reward
from rewardlab.envs import get_preset
from rewardlab.make import make_vec_env
from rewardlab.shaping.potential_shaping import PotentialShaping
from rewardlab.wrappers.frames import frame_settings
from rewardlab.wrappers.vec_env import RewardVecWrapper

SUMMARY_FILE = "summary.json"


def parse_steps(value: str | int | float) -> int:
    """``"200k"`` → 200000, ``"1.5M"`` → 1500000, ``5000`` → 5000."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
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
        """Raise :class:`ConfigError` naming the first invalid field."""
        if self.algo.lower() not in ALGOS:
            raise ConfigError(f"unknown algo {self.algo!r}; valid: {', '.join(ALGOS)}")
        self.algo = self.algo.lower()
        self.steps = parse_steps(self.steps)
        if self.steps <= 0:
            raise ConfigError(f"steps must be positive, got {self.steps}")
        try:
            get_preset(self.env)
        except ValueError as err:
            raise ConfigError(str(err)) from err


def resolve_classes(params: dict[str, Any]) -> dict[str, Any]:
    """Import ``"module:Class"`` strings under keys ending in ``_class`` (YAML can't hold classes)."""
    import importlib

    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            value = resolve_classes(value)
        elif key.endswith("_class") and isinstance(value, str) and ":" in value:
            module, _, attr = value.partition(":")
            value = getattr(importlib.import_module(module), attr)
        out[key] = value
    return out


def _algo_class(algo: str) -> Any:
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN, "sac": sb3.SAC, "td3": sb3.TD3}[algo]


def resolved_hyperparams(config: RunConfig) -> dict[str, Any]:
    """Preset hyper-parameters for the run's env and algo, overridden by the config's."""
    preset = get_preset(config.env)
    hp = hyperparams(config.algo, config.env, preset.family)
    hp.update(config.hyperparams)
    if config.n_envs is not None:
        hp["n_envs"] = config.n_envs
    return hp


def build_run(config: RunConfig, run_dir: str | Path | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Env stack and SB3 model for ``config``: ``(model, venv, hyperparams)``."""
    from stable_baselines3.common.vec_env import VecNormalize

    config.validate()
    hp = resolved_hyperparams(config)
    runner = {k: hp.pop(k) for k in RUNNER_KEYS if k in hp}
    reward = build_reward(config.reward)
    gamma = hp.get("gamma", 0.99)
    for leaf in reward.leaves():
        if isinstance(leaf, PotentialShaping) and abs(leaf.gamma - gamma) > 1e-12:
            warnings.warn(
                f"shaping term {leaf.name!r} uses gamma={leaf.gamma} but the agent uses gamma={gamma}; "
                "potential shaping only keeps optimal policies when they match",
                UserWarning,
                stacklevel=2,
            )
    venv = make_vec_env(
        config.env,
        runner.get("n_envs", 8),
        seed=config.seed,
        vec_env=config.vec_env,
        env_kwargs=config.env_kwargs,
        frames=frame_settings(reward),  # None unless a term reads pixels
    )
    venv = RewardVecWrapper(
        venv,
        reward,
        nan_policy=config.nan_policy,  # type: ignore[arg-type]
        run_dir=None if run_dir is None else str(run_dir),
    )
    if runner.get("normalize"):
        venv = VecNormalize(venv, gamma=gamma)
    model = _algo_class(config.algo)(
        runner.get("policy", "MlpPolicy"),
        venv,
        seed=config.seed,
        verbose=0,
        device="cpu",
        **resolve_classes(hp),
    )
    return model, venv, {**runner, **hp}


def train(config: RunConfig, out_dir: str | Path, *, progress_bar: bool = True) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its summary (also written to ``summary.json``)."""
    from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).unlink(missing_ok=True)
    model, venv, hp = build_run(config, run_dir=out)
    (out / "config.yaml").write_text(
        yaml.safe_dump({"run": asdict(config), "resolved_hyperparams": hp}, sort_keys=False)
    )
    model.set_logger(
        Logger(str(out), [CSVOutputFormat(str(out / "progress.csv")), TensorBoardOutputFormat(str(out / "tb"))])
    )
    logger = RewardLogger(csv_path=out / "reward_terms.csv")
    start = time.perf_counter()
    model.learn(config.steps, callback=logger, progress_bar=progress_bar)
    wall = time.perf_counter() - start
    model.save(out / "model.zip")
    if hasattr(venv, "obs_rms"):
        venv.save(str(out / "vecnormalize.pkl"))
    summary = {
        "env": config.env,
        "algo": config.algo,
        "seed": config.seed,
        "steps": config.steps,
        "wall_seconds": round(wall, 2),
        **training_stats(out / "reward_terms.csv"),
        **evaluate(model, config, venv),
    }
    _plot_terms(out)
    venv.close()
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
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


def evaluate(model: Any, config: RunConfig, train_venv: Any) -> dict[str, float]:
    """Deterministic episodes on fresh envs with the true reward: mean return and termination rate."""
    from stable_baselines3.common.vec_env import VecNormalize

    if config.eval_episodes <= 0:
        return {}
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
    env.close()
    return {"eval_true_return": float(np.mean(returns)), "eval_terminated_rate": float(np.mean(terminated))}


def _plot_terms(out: Path) -> None:
    from rewardlab.plot.curves import plot_run_terms

    csv_path = out / "reward_terms.csv"
    if csv_path.exists() and csv_path.stat().st_size > 0:
        plot_run_terms(csv_path, out / "reward_terms.png")
