"""Exact resume: what decides a run's future besides the model, saved with each checkpoint and put back on resume.

SB3's ``model.zip`` holds the weights, optimisers, counters and the last
observations (``_last_obs``, ``_last_episode_starts``, ``_last_original_obs``);
the replay buffer, ``VecNormalize`` statistics and the reward's state have
their own files. The rest is captured here, in ``run_state.pkl``:

* random streams: Python's ``random``, numpy's global generator, torch's CPU
  generator, the generator of every action and observation space;
* every vector-env layer: the reward wrapper's ``get_state()`` (previous observations, the
  engine's per-env episode sums, update schedule and buffered batches),
  ``VecNormalize``'s discounted returns, ``DummyVecEnv``'s buffers and seeds;
* every env: the plain attributes (numbers, arrays, lists, dicts) and random
  generators of each gymnasium wrapper and of the env itself (``TimeLimit``'s
  elapsed steps, ``Monitor``'s episode accumulators, CartPole's or Pendulum's
  physical state, ``np_random``), and MuJoCo's ``MjData`` whole (its derived
  quantities too: some envs read them before stepping);
* callbacks with a ``state_dict`` (``RewardLogger``'s window of episodes, the replay relabeler's base rewards).

The state is taken when a rollout starts (where the checkpoint is taken); the
envs, the engine and the callbacks are put back when the resumed run is built,
the random streams at its first rollout start, after SB3's load and setup have
re-seeded them. A killed and resumed run continues as the uninterrupted one
would: the same ``reward_terms.csv``, byte for byte, and the same final parameters.

Not exact (warned once; the envs restart at the checkpoint as before):
envs in subprocesses (``vec_env: subproc``: their state is in other
processes), NetHack/MiniHack (the game state lives in NLE's C library and
cannot be saved). gSDE exploration noise and Ornstein–Uhlenbeck action noise
are re-drawn at resume by SB3 itself, so runs that use them diverge after it.
"""

from __future__ import annotations

import copy
import pickle
import random
import warnings
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError

RUN_STATE_FILE = "run_state.pkl"
VERSION = 1
#: env packages whose state cannot be saved from Python
_UNSAVABLE = {"nle": "NetHack's game state lives in NLE's C library", "minihack": "MiniHack runs on NLE, whose "
              "game state lives in its C library"}  # fmt: skip
_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic)


def _plain(value: Any) -> bool:
    """Numbers, strings, numeric arrays and containers of them: what can be copied and put back as it is."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False


class _Random:
    """A numpy ``Generator`` or ``RandomState``, by its state."""

    def __init__(self, rng: Any) -> None:
        self.legacy = isinstance(rng, np.random.RandomState)
        self.state = rng.get_state() if self.legacy else rng.bit_generator.state

    def into(self, current: Any) -> Any:
        if self.legacy:
            rng = current if isinstance(current, np.random.RandomState) else np.random.RandomState()
            rng.set_state(self.state)
            return rng
        name = self.state["bit_generator"]
        ok = isinstance(current, np.random.Generator) and type(current.bit_generator).__name__ == name
        rng = current if ok else np.random.Generator(getattr(np.random, name)())
        rng.bit_generator.state = self.state
        return rng


class _MjData:
    """MuJoCo's ``MjData``, whole (copied back into the env's own ``MjData`` so that references stay valid).

    Its pickle carries the model too (about 0.7 MB for HalfCheetah), mostly zeros: compressed (zlib, level 1).
    """

    def __init__(self, data: Any) -> None:
        self.blob = zlib.compress(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), 1)

    def into(self, current: Any, model: Any) -> Any:
        import mujoco

        mujoco.mj_copyData(current, model, pickle.loads(zlib.decompress(self.blob)))
        return current


def _capture_attrs(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Copies of ``obj``'s plain attributes, random generators and ``MjData`` (not those named in ``skip``)."""
    out: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name in skip:
            continue
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            out[name] = _Random(value)
        elif type(value).__name__ == "MjData" and type(value).__module__.startswith("mujoco"):
            out[name] = _MjData(value)
        elif _plain(value):
            out[name] = copy.deepcopy(value)
    return out


def _restore_attrs(obj: Any, attrs: dict[str, Any]) -> None:
    for name, value in attrs.items():
        current = getattr(obj, name, None)
        if isinstance(value, _Random):
            value = value.into(current)
        elif isinstance(value, _MjData):
            value = value.into(current, obj.model)
        else:
            value = copy.deepcopy(value)
        setattr(obj, name, value)


def _vec_layers(venv: Any) -> list[Any]:
    layers = []
    while venv is not None:
        layers.append(venv)
        venv = getattr(venv, "venv", None)
    return layers


def _env_layers(env: Any) -> list[Any]:
    layers = [env]
    while hasattr(layers[-1], "env") and layers[-1].env is not layers[-1]:
        layers.append(layers[-1].env)
    return layers


def _spaces(space: Any) -> list[Any]:
    """``space`` and its sub-spaces (Dict, Tuple, ...), parents first."""
    out = [space]
    children = getattr(space, "spaces", None)
    if isinstance(children, dict):
        children = list(children.values())
    for child in children or ():
        out.extend(_spaces(child))
    return out


def _all_spaces(model: Any, venv: Any) -> list[Any]:
    """The model's spaces, then each env's, each followed by its sub-spaces (a space shared by two is listed twice:
    after SB3 loads a model its spaces are copies, no longer the env's)."""
    roots = [model.action_space, model.observation_space]
    for env in getattr(_vec_layers(venv)[-1], "envs", []):
        roots += [env.action_space, env.observation_space]
    return [space for root in roots for space in _spaces(root)]


def not_exact(venv: Any) -> str | None:
    """Why resuming runs on ``venv`` cannot be exact, or ``None`` when it can."""
    base = _vec_layers(venv)[-1]
    envs = getattr(base, "envs", None)
    if envs is None:
        return f"its envs run in other processes ({type(base).__name__}); use vec_env: dummy for an exact resume"
    for env in envs:
        package = type(env.unwrapped).__module__.split(".")[0]
        if package in _UNSAVABLE:
            return f"{_UNSAVABLE[package]} and cannot be saved"
    return None


def capture(model: Any, venv: Any, callbacks: list[Any]) -> dict[str, Any]:
    """Everything that decides the run's future besides the files SB3 and the reward write (see the module)."""
    import torch

    from rewardlab.wrappers.vec_env import RewardVecWrapper

    state: dict[str, Any] = {
        "version": VERSION,
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "spaces": [None if s._np_random is None else _Random(s._np_random) for s in _all_spaces(model, venv)],
        "callbacks": [cb.state_dict() for cb in callbacks],
        "exact": not_exact(venv) is None,
    }
    if not state["exact"]:
        return state
    layers = []
    for layer in _vec_layers(venv):
        if isinstance(layer, RewardVecWrapper):  # its own get_state: ids and caches of one process stay out
            layers.append({"wrapper": layer.get_state(), "metrics": dict(layer.engine.last_update_metrics)})
        else:
            layers.append({"self": _capture_attrs(layer, skip=("venv", "envs"))})
    state["vec_layers"] = [(type(layer).__name__, attrs) for layer, attrs in zip(_vec_layers(venv), layers)]
    state["envs"] = [
        [(type(layer).__name__, _capture_attrs(layer, skip=("env",))) for layer in _env_layers(env)]
        for env in _vec_layers(venv)[-1].envs
    ]
    return state


def restore_envs(state: dict[str, Any], venv: Any, callbacks: list[Any]) -> None:
    """Put back the env states, vector-env layers, reward engine and callbacks that :func:`capture` took.

    Called when the run is rebuilt and loaded from the checkpoint, before training starts (nothing resets the
    envs in between: the model keeps its last observations); the random streams come later
    (:func:`restore_streams`).
    """
    for callback, saved in zip(callbacks, state["callbacks"]):
        callback.load_state_dict(saved)
    if not state.get("exact") or "vec_layers" not in state:
        return
    layers = _vec_layers(venv)
    names = [type(layer).__name__ for layer in layers]
    if names != [name for name, _ in state["vec_layers"]]:
        raise ConfigError(f"the checkpoint's run state was saved for env layers {[n for n, _ in state['vec_layers']]}, "
                          f"not {names}")  # fmt: skip
    for layer, (_, attrs) in zip(layers, state["vec_layers"]):
        if "wrapper" in attrs:
            layer.set_state(attrs["wrapper"])
            layer.engine.last_update_metrics = dict(attrs["metrics"])
        else:
            _restore_attrs(layer, attrs["self"])
    envs = layers[-1].envs
    if len(envs) != len(state["envs"]):
        raise ConfigError(f"the checkpoint's run state holds {len(state['envs'])} envs, this run {len(envs)}")
    for env, saved in zip(envs, state["envs"]):
        chain = _env_layers(env)
        if [type(layer).__name__ for layer in chain] != [name for name, _ in saved]:
            raise ConfigError("the checkpoint's run state was saved for another env wrapper stack")
        for layer, (_, attrs) in zip(chain, saved):
            _restore_attrs(layer, attrs)


def restore_streams(state: dict[str, Any], model: Any, venv: Any) -> None:
    """Put back every random stream :func:`capture` took: at the first rollout start, where it was taken, after
    SB3's load and setup (which re-seed them)."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    spaces = _all_spaces(model, venv)
    if len(spaces) != len(state["spaces"]):
        raise ConfigError("the checkpoint's run state was saved for other action or observation spaces")
    for space, saved in zip(spaces, state["spaces"]):
        space._np_random = None if saved is None else saved.into(space._np_random)


def save_run_state(state: dict[str, Any], path: str | Path) -> None:
    with Path(path).open("wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)


def read_run_state(path: str | Path) -> dict[str, Any] | None:
    """The run state in ``path`` (``None`` when the checkpoint has none: written before exact resume)."""
    path = Path(path)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        state = pickle.load(fh)
    if not isinstance(state, dict) or state.get("version", 0) > VERSION:
        raise ConfigError(f"{str(path)!r} was written by a newer rewardlab (run state {state.get('version')!r})")
    return state


def warn_not_exact(venv: Any, state: dict[str, Any] | None) -> None:
    """Say once that resuming this run from a checkpoint with run state ``state`` restarts its envs (and why)."""
    reason = "its checkpoint was written by an older rewardlab, without a run state" if state is None else None
    reason = reason or not_exact(venv)
    if reason is not None:
        warnings.warn(
            f"this resume is not exact: {reason}; the envs restart at the checkpoint, so the run continues "
            "differently from an uninterrupted one",
            UserWarning,
            stacklevel=3,
        )
