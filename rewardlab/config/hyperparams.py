"""Check SB3 hyper-parameters before a run starts: names, types, ranges, and the algorithm's action space.

Names come from the algorithm's constructor signature (plus the runner keys
``policy``, ``n_envs`` and ``normalize``); types from its defaults; ranges from
:data:`RANGES`. An unknown name gets a did-you-mean, a value out of range
names the range, so ``--hp gamma=1.5`` fails in one line before any env is built.
"""

from __future__ import annotations

import inspect
import math
from functools import cache
from typing import Any

from rewardlab.errors import ConfigError, suggest

RUNNER_TYPES = {"policy": str, "n_envs": int, "normalize": bool}
#: name → (low, high, low inclusive, high inclusive); None means unbounded
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "learning_rate": (0.0, None, False, True),
    "n_steps": (1, None, True, True),
    "batch_size": (1, None, True, True),
    "n_epochs": (1, None, True, True),
    "n_envs": (1, None, True, True),
    "gamma": (0.0, 1.0, True, True),
    "gae_lambda": (0.0, 1.0, True, True),
    "clip_range": (0.0, None, False, True),
    "clip_range_vf": (0.0, None, False, True),
    "ent_coef": (0.0, None, True, True),
    "vf_coef": (0.0, None, True, True),
    "max_grad_norm": (0.0, None, False, True),
    "target_kl": (0.0, None, False, True),
    "buffer_size": (1, None, True, True),
    "learning_starts": (0, None, True, True),
    "tau": (0.0, 1.0, False, True),
    "gradient_steps": (-1, None, True, True),
    "target_update_interval": (1, None, True, True),
    "exploration_fraction": (0.0, 1.0, True, True),
    "exploration_initial_eps": (0.0, 1.0, True, True),
    "exploration_final_eps": (0.0, 1.0, True, True),
    "policy_delay": (1, None, True, True),
    "target_policy_noise": (0.0, None, True, True),
    "target_noise_clip": (0.0, None, True, True),
    "sde_sample_freq": (-1, None, True, True),
    "rms_prop_eps": (0.0, None, False, True),
    "stats_window_size": (1, None, True, True),
}
#: hyper-parameters that also take rl-baselines3-zoo's schedule strings (``lin_0.001``)
SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")
#: hyper-parameters that also take these strings (SAC's automatic entropy)
STRING_FORMS = {"ent_coef": ("auto",), "target_entropy": ("auto",)}
IGNORED = {"self", "env", "seed", "device", "tensorboard_log", "_init_setup_model", "verbose"}
ACTION_SPACES = {
    "ppo": ("Box", "Discrete", "MultiDiscrete", "MultiBinary"),
    "a2c": ("Box", "Discrete", "MultiDiscrete", "MultiBinary"),
    "dqn": ("Discrete",),
    "sac": ("Box",),
    "td3": ("Box",),
}


def algo_class(algo: str) -> Any:
    """The SB3 class of ``algo`` (``ppo``, ``a2c``, ``dqn``, ``sac``, ``td3``)."""
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN, "sac": sb3.SAC, "td3": sb3.TD3}[algo]


@cache
def algo_params(algo: str) -> dict[str, Any]:
    """Hyper-parameter name → default of ``algo`` (constructor arguments and runner keys)."""
    sig = inspect.signature(algo_class(algo).__init__)
    params = {n: p.default for n, p in sig.parameters.items() if n not in IGNORED}
    params.update({k: None for k in RUNNER_TYPES})
    return params


def _range_text(low: Any, high: Any, low_in: bool, high_in: bool) -> str:
    if high is None:
        return f"{'>=' if low_in else '>'} {low:g}"
    return f"in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def _check_number(name: str, value: Any, kind: type, where: str, algo: str) -> None:
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}{algo} hyper-parameter {name!r} must be an integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}{algo} hyper-parameter {name!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}{algo} hyper-parameter {name!r} must be finite, got {value!r}")
    if name in RANGES:
        low, high, low_in, high_in = RANGES[name]
        ok = (low is None or value > low or (low_in and value == low)) and (
            high is None or value < high or (high_in and value == high)
        )
        if not ok:
            raise ConfigError(
                f"{where}{algo} hyper-parameter {name!r} must be {_range_text(low, high, low_in, high_in)}, "
                f"got {value!r}"
            )


def schedule_start(name: str, value: str, *, where: str = "", algo: str = "") -> float:
    """The initial value of a zoo schedule string ``lin_<initial>``; one clear line when it is not one."""
    kind, _, number = value.partition("_")
    try:
        start = float(number)
    except ValueError:
        start = math.nan
    if kind != "lin" or not math.isfinite(start):
        raise ConfigError(
            f"{where}{algo} hyper-parameter {name!r} must be a number or a linear schedule 'lin_<initial>' "
            f"(rl-baselines3-zoo's, e.g. lin_0.001: decays linearly to 0), got {value!r}"
        )
    return start


def linear_schedule(value: str) -> Any:
    """rl-baselines3-zoo's ``lin_<initial>``: ``initial × progress_remaining`` (1 at the start, 0 at the end).

    Returned as SB3's picklable ``LinearSchedule`` (saved with the model).
    """
    from stable_baselines3.common.utils import LinearSchedule

    return LinearSchedule(start=schedule_start("schedule", value), end=0.0, end_fraction=1.0)


def _check_value(name: str, value: Any, default: Any, where: str, algo: str) -> None:
    if name in SCHEDULE_KEYS and isinstance(value, str):
        _check_number(name, schedule_start(name, value, where=where, algo=algo), float, where, algo)
        return
    if name in STRING_FORMS and isinstance(value, str):
        if not any(value == s or value.startswith(f"{s}_") for s in STRING_FORMS[name]):
            raise ConfigError(
                f"{where}{algo} hyper-parameter {name!r} must be a number or {STRING_FORMS[name]}, got {value!r}"
            )
        return
    if name == "train_freq" and isinstance(value, (list, tuple)):
        if len(value) != 2 or value[1] not in ("step", "episode"):
            raise ConfigError(f"{where}{algo} train_freq must be an int or [n, 'step'|'episode'], got {value!r}")
        _check_number(name, value[0], int, where, algo)
        if value[0] < 1:
            raise ConfigError(f"{where}{algo} train_freq must be >= 1, got {value!r}")
        return
    if name == "train_freq":
        _check_number(name, value, int, where, algo)
        if value < 1:
            raise ConfigError(f"{where}{algo} hyper-parameter 'train_freq' must be >= 1, got {value!r}")
        return
    if name == "policy":
        aliases = sorted(getattr(algo_class(algo), "policy_aliases", {}))
        if value not in aliases:
            raise ConfigError(
                f"{where}{algo} policy {value!r} is unknown{suggest(str(value), aliases)}; valid: {', '.join(aliases)}"
            )
        return
    kind = RUNNER_TYPES.get(name) or (type(default) if default is not None else None)
    if name in RANGES and kind not in (int, float):
        kind = float
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}{algo} hyper-parameter {name!r} must be true or false, got {value!r}")
    elif kind in (int, float):
        if value is None and default is None:
            return
        _check_number(name, value, kind, where, algo)
    elif kind is str and not isinstance(value, str):
        raise ConfigError(f"{where}{algo} hyper-parameter {name!r} must be a string, got {value!r}")
    elif name.endswith("_kwargs") and value is not None and not isinstance(value, dict):
        raise ConfigError(f"{where}{algo} hyper-parameter {name!r} must be a mapping, got {value!r}")


def check_hyperparams(algo: str, params: dict[str, Any], *, where: str = "") -> None:
    """Raise :class:`ConfigError` for an unknown name, a wrong type or a value out of range."""
    valid = algo_params(algo)
    for name, value in params.items():
        if name not in valid:
            raise ConfigError(
                f"{where}unknown {algo} hyper-parameter {name!r}{suggest(str(name), sorted(valid))}; "
                f"valid: {', '.join(sorted(valid))}"
            )
        _check_value(name, value, valid[name], where, algo)


def check_rollout_size(algo: str, params: dict[str, Any], *, where: str = "") -> None:
    """PPO needs ``n_steps × n_envs > 1`` and ``batch_size > 1`` (SB3 asserts both)."""
    if algo != "ppo":
        return
    defaults = algo_params(algo)
    size = params.get("n_steps", defaults["n_steps"]) * params.get("n_envs", 1)
    if size <= 1:
        raise ConfigError(f"{where}ppo needs n_steps × n_envs > 1, got {size}")
    if params.get("batch_size", defaults["batch_size"]) <= 1:
        raise ConfigError(f"{where}ppo needs batch_size > 1, got {params.get('batch_size')}")


def check_action_space(algo: str, action_space: Any, env_id: str) -> None:
    """Fail when ``algo`` cannot act in ``action_space`` (SAC/TD3 need Box, DQN needs Discrete)."""
    kind = type(action_space).__name__
    if kind not in ACTION_SPACES[algo]:
        fits = [a for a, kinds in ACTION_SPACES.items() if kind in kinds]
        needs = " or ".join(ACTION_SPACES[algo])
        raise ConfigError(
            f"{algo} needs a {needs} action space but {env_id} has {action_space}; "
            f"algos for it: {', '.join(fits) or 'none'}"
        )


def parse_number(value: Any) -> Any:
    """``"3e-4"`` → ``0.0003``: YAML 1.1 reads exponents without a dot as strings."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    return value
