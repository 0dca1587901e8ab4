"""Wrapper overhead: raw SB3 DummyVecEnv vs the same env under reward wrappers, side by side.

Stacks, all over ``rl.make_vec_env(env, 8)`` stepping the same pre-drawn random actions:

* ``raw`` -- the env's own reward;
* ``imitation, 1 term`` -- imitation 1.0.1's ``RewardVecEnvWrapper`` with one potential-shaping
  function (only when ``imitation`` is installed: ``pip install --no-deps imitation==1.0.1``);
* ``rewardlab, 1 term`` -- ``RewardVecWrapper`` with the same shaping term;
* ``rewardlab, 3 terms`` -- extrinsic + potential shaping (a numba kernel) + ``0.01 ×`` a global
  count bonus (a numba hash table);
* ``3 terms, no step info`` -- the same with ``step_info=False``, as ``rewardlab train`` wraps its envs
  (episode sums only, no per-env ``info["rewardlab"]`` views).

Raw steps: every stack wraps one and the same vector env (``--separate-envs``: each its own; each env
instance's memory placement then biases its stack by a few per cent for the whole process), and a second
raw stack over it (``raw, control``) shows what the measurement cannot resolve. Within each round the
stacks take turns every 100 steps (order alternating), timing CPU
time of this process (not wall time), so load from other jobs hits all alike; each round's time is
divided by the raw time of the same round and the median over rounds is reported. End to end (``--e2e``): PPO learns
``--e2e-steps`` steps on 8 CartPole envs through each stack (same seed and hyper-parameters), the models
taking turns one rollout and update at a time, CPU time of ``learn`` divided by the raw stack's, median over
``--e2e-rounds`` (after 600 warm-up steps: numba compiles the kernels on their first call, 0.2–0.6 s, and the
engine its fused step after 500 steps, about 1 s,
once per process); a second raw stack (``raw, control``) shows what the measurement cannot resolve.

``--before DIR`` also times the 1- and 3-term stacks of an older rewardlab (a folder holding its
``rewardlab`` package, e.g. ``git archive <commit> rewardlab | tar -x -C DIR``) in the same rounds,
imported beside the current one, so a change of the engine is measured side by side.

``--breakdown`` times the parts of a wrapped step instead: a wrapper that does nothing (the floor under any
Python wrapper) and one that also holds each step's infos until the next step, the engine with one cheap term,
per-step ``info["rewardlab"]`` views on and off, and the 3-term reward.

``--own`` also reports each wrapper's **own time** per vector step: its ``step`` minus the wrapped env's
``step_async`` and ``step_wait`` inside it (``perf_counter_ns``; a thin timing layer goes between each wrapper
and the shared env, so the ratios then include its cost too). The difference of two ratios after a
~400 µs MuJoCo step resolves a few µs at best; the own time resolves a fraction of one, but leaves out what
the wrapper's work costs the env's next step (cold caches), which the ratio counts.

``--parts`` times each part of the 3-term reward's step on its own (the observation copy, the batch, each
term's ``compute_into``, the engine's kernel; median µs per vector step, ``perf_counter``), once right after
each env step and once in a loop without the env: what the env's step costs the parts that follow it.

    .venv/bin/python benchmarks/bench_wrapper_overhead.py [--rounds 9] [--steps 3000] [--e2e] [--before DIR]
    .venv/bin/python benchmarks/bench_wrapper_overhead.py --breakdown --envs CartPole-v1
    .venv/bin/python benchmarks/bench_wrapper_overhead.py --own --envs HalfCheetah-v5 --before DIR
    .venv/bin/python benchmarks/bench_wrapper_overhead.py --parts --envs HalfCheetah-v5 CartPole-v1
    .venv/bin/python benchmarks/bench_wrapper_overhead.py --processes 10 --rounds 15 --envs HalfCheetah-v5 CartPole-v1

``--processes K`` runs the whole measurement in ``K`` fresh processes, one after another, and reports each
stack's median ratio over them with the range. One process's ratios carry a bias of their own (where its
objects and the env's data land in memory): the same code, timed as two stacks of one process, reads up to
1.6 % apart, and the 3-term HalfCheetah stack has read 1.035 to 1.061 from one process to the next, while
the rounds within a process agree far better. The median over processes estimates what a user's process
pays; the bars are judged on it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from stable_baselines3.common.vec_env import VecEnvWrapper  # noqa: E402

import rewardlab as rl  # noqa: E402

CASES = {
    "CartPole-v1": {
        "potential": "cartpole_upright",
        "key": lambda lib: lib.bonus.keys.grid(dims=["cart_position", "pole_angle"], cell=[0.2, 0.02]),
        "target": 1.20,
    },
    "HalfCheetah-v5": {
        "potential": "forward_progress",
        "key": lambda lib: lib.bonus.keys.simhash(bits=32),
        "target": 1.05,
    },
}
E2E_TARGET = 1.02
#: steps each stack takes before timing: numba compiles the kernels at their first call, and the engine its
#: fused step after ``RewardEngine.fuse_after`` (500) steps, once per process and reward (about a second): the
#: common step at its next call, the long way at the first episode end after it (HalfCheetah: step 1000)
WARM_UP = 1100


def three_term_reward(case: dict, lib: Any = rl) -> rl.RewardTerm:
    return (
        lib.extrinsic()
        + lib.shaping.potential(case["potential"], gamma=0.99)
        + 0.01 * lib.bonus.count(case["key"](lib), mode="global")
    )


#: an older rewardlab imported beside this one (``--before``), or None
BEFORE: Any = None


def import_before(path: str) -> Any:
    """The ``rewardlab`` package in ``path``, imported under its own module objects beside the current one."""
    mine = {k: m for k, m in sys.modules.items() if k == "rewardlab" or k.startswith("rewardlab.")}
    for k in mine:
        del sys.modules[k]
    sys.path.insert(0, path)
    try:
        before = importlib.import_module("rewardlab")
        if not before.__file__.startswith(os.path.abspath(path)):
            raise SystemExit(f"--before {path}: no rewardlab package there")
    finally:
        sys.path.remove(path)
        for k in [k for k in sys.modules if k == "rewardlab" or k.startswith("rewardlab.")]:
            del sys.modules[k]
        sys.modules.update(mine)
    return before


def imitation_wrapper() -> Callable[[Any, dict], Any] | None:
    """``wrap(venv, case)`` with imitation's RewardVecEnvWrapper and one shaping function, or None."""
    try:
        from imitation.rewards.reward_wrapper import RewardVecEnvWrapper
    except ImportError:
        return None

    def wrap(venv: Any, case: dict) -> Any:
        phi = rl.shaping.potential(case["potential"], gamma=0.99).potential

        def shaping(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
            return 0.99 * (1.0 - dones) * phi(next_obs) - phi(obs)  # imitation cannot tell truncation apart

        return RewardVecEnvWrapper(venv, shaping)

    return wrap


#: whether every stack wraps one and the same vector env (``--separate-envs`` gives each stack its own)
SHARED_ENV = True


def stacks(env_id: str, n_envs: int, seed: int = 0, *, shared: bool | None = None) -> dict[str, Any]:
    """The stacks, all over one vector env (``shared``, by default :data:`SHARED_ENV`) or each over its own.

    One env for all: each env instance's memory placement makes its MuJoCo step a few per cent faster or slower
    for the whole process (a raw-vs-raw control over separate instances read 0.96–1.04), a bias no number of
    rounds averages away. Over one env the stacks differ only in the wrapper; they take turns stepping it
    (a wrapper's previous observation is then from its own last turn, which changes the reward's values, not
    its cost). End to end, each PPO needs envs of its own (``shared=False``).
    """
    case = CASES[env_id]
    one = rl.make_vec_env(env_id, n_envs=n_envs, seed=seed)
    shared = SHARED_ENV if shared is None else shared

    def env() -> Any:
        return one if shared else rl.make_vec_env(env_id, n_envs=n_envs, seed=seed)

    out = {"raw": one, "raw, control": env()}  # the control: what the measurement cannot resolve
    wrap = imitation_wrapper()
    if wrap is not None:
        out["imitation, 1 term"] = wrap(env(), case)
    shaping = rl.shaping.potential(case["potential"], gamma=0.99)
    out["rewardlab, 1 term"] = rl.RewardVecWrapper(env(), shaping)
    out["rewardlab, 3 terms"] = rl.RewardVecWrapper(env(), three_term_reward(case))
    out["3 terms, no step info"] = rl.RewardVecWrapper(  # as `rewardlab train` wraps: episode sums only
        env(), three_term_reward(case), step_info=False
    )
    if BEFORE is not None:
        old_shaping = BEFORE.shaping.potential(case["potential"], gamma=0.99)
        out["before, 1 term"] = BEFORE.RewardVecWrapper(env(), old_shaping)
        out["before, 3 terms"] = BEFORE.RewardVecWrapper(env(), three_term_reward(case, BEFORE))
    return out


def time_steps(venv: Any, actions: np.ndarray) -> float:
    venv.reset()
    start = time.process_time()
    for a in actions:
        venv.step(a)
    return time.process_time() - start


class PassThrough(VecEnvWrapper):
    """A vector env wrapper that does nothing but be one (``keep``: it also holds each step's infos until the next
    step, as the engine did before its eighth pass): the floor under any Python wrapper."""

    def __init__(self, venv: Any, *, keep: bool = False) -> None:
        super().__init__(venv)
        self.keep, self.infos = keep, None

    def reset(self) -> Any:
        return self.venv.reset()

    def step(self, actions: np.ndarray) -> Any:
        self.venv.step_async(actions)
        return self.step_wait()

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        if self.keep:
            self.infos = infos
        return obs, rewards, dones, infos


def breakdown_stacks(env_id: str, n_envs: int, seed: int = 0) -> dict[str, Any]:
    """Where a wrapped step's time goes: a wrapper that does nothing (and one that keeps each step's infos alive
    until the next), the engine with one cheap term, per-step info views on and off, and the 3-term reward."""
    case = CASES[env_id]
    shared = rl.make_vec_env(env_id, n_envs=n_envs, seed=seed)

    def env() -> Any:
        return shared if SHARED_ENV else rl.make_vec_env(env_id, n_envs=n_envs, seed=seed)

    def wrapped(reward: rl.RewardTerm, **options: Any) -> Any:
        return rl.RewardVecWrapper(env(), reward, **options)

    return {
        "raw": shared,
        "pass-through wrapper": PassThrough(env()),
        "pass-through, keeps infos": PassThrough(env(), keep=True),
        "extrinsic, no step info": wrapped(rl.extrinsic(), step_info=False),
        "extrinsic": wrapped(rl.extrinsic()),
        "3 terms, no step info": wrapped(three_term_reward(case), step_info=False),
        "3 terms": wrapped(three_term_reward(case)),
    }


class EnvClock:
    """Between a wrapper and its env: the time spent in the env's ``step_async`` and ``step_wait``
    (``perf_counter_ns``), so that the wrapper's own time is its ``step``'s time minus :attr:`ns`."""

    def __init__(self, venv: Any) -> None:
        self.venv, self.ns, self._begin = venv, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venv, name)

    def step_async(self, actions: Any) -> None:
        self._begin = time.perf_counter_ns()
        self.venv.step_async(actions)

    def step_wait(self) -> Any:
        out = self.venv.step_wait()
        self.ns += time.perf_counter_ns() - self._begin
        return out


def bench_steps(
    env_id: str,
    n_envs: int,
    steps: int,
    rounds: int,
    chunk: int = 100,
    make: Callable[..., dict] | None = None,
    *,
    own: bool = False,
) -> dict[str, dict[str, float]]:
    """CPU time of ``steps`` vector steps through each stack, per round; stacks take turns every ``chunk`` steps.

    Fine interleaving puts load from other jobs on every stack alike within a round (whole rounds of one
    stack after another let a burst of load land on one of them). ``own``: each wrapper's own time too
    (``own_us``: µs per vector step, median over rounds; :class:`EnvClock`).
    """
    venvs = (make or stacks)(env_id, n_envs)
    clocks = {}
    if own:
        for name, venv in venvs.items():
            if hasattr(venv, "venv"):
                clocks[name] = venv.venv = EnvClock(venv.venv)
    space = venvs["raw"].action_space
    rng = np.random.default_rng(0)
    if hasattr(space, "n"):
        actions = rng.integers(space.n, size=(steps, n_envs))
    else:
        actions = rng.uniform(space.low, space.high, size=(steps, n_envs, *space.shape)).astype(np.float32)
    warm_up = np.resize(actions, (WARM_UP, *actions.shape[1:]))
    for venv in venvs.values():
        time_steps(venv, warm_up)  # compile the numba kernels, and the fused step, before timing
    times: dict[str, list[float]] = {name: [] for name in venvs}
    own_us: dict[str, list[float]] = {name: [] for name in clocks}
    names = list(venvs)
    for r in range(rounds):
        spent = dict.fromkeys(names, 0.0)
        wall = dict.fromkeys(names, 0)
        for clock in clocks.values():
            clock.ns = 0
        for venv in venvs.values():
            venv.reset()
        # a random untimed start, so the steps where a time limit resets the envs (HalfCheetah: every 1000) fall
        # on different stacks each round; from the same start every round they land on the same stacks
        skip = np.resize(actions, (int(rng.integers(0, 1000)), *actions.shape[1:]))
        for venv in [venvs["raw"]] if SHARED_ENV else venvs.values():
            for a in skip:
                venv.step(a)
        for c, start in enumerate(range(0, steps, chunk)):
            block = actions[start : start + chunk]
            for name in names if (r + c) % 2 == 0 else names[::-1]:
                step = venvs[name].step
                begin, begin_ns = time.process_time(), time.perf_counter_ns()
                for a in block:
                    step(a)
                spent[name] += time.process_time() - begin
                wall[name] += time.perf_counter_ns() - begin_ns
        for name in names:
            times[name].append(spent[name])
        for name, clock in clocks.items():
            own_us[name].append((wall[name] - clock.ns) / steps / 1e3)
    for venv in venvs.values():
        venv.close()
    raw = times["raw"]
    return {
        name: {
            "steps_per_s": steps * n_envs / statistics.median(t),
            "ratio": statistics.median(a / b for a, b in zip(t, raw)),
            "us_per_step": statistics.median((a - b) / len(actions) * 1e6 for a, b in zip(t, raw)),
            "times": t,
            **({"own_us": statistics.median(own_us[name]), "own_rounds": own_us[name]} if name in own_us else {}),
        }
        for name, t in times.items()
    }


def bench_parts(env_id: str, n_envs: int, steps: int) -> dict[str, dict[str, float]]:
    """Median µs per vector step of each part of the 3-term step, after an env step and in a loop without one."""
    from rewardlab.wrappers.kernels import accumulate_step

    venv = rl.make_vec_env(env_id, n_envs=n_envs, seed=0)
    engine = rl.RewardVecWrapper(
        rl.make_vec_env(env_id, n_envs=n_envs, seed=0), three_term_reward(CASES[env_id]), step_info=False
    ).engine
    space = venv.action_space
    rng = np.random.default_rng(0)
    if hasattr(space, "n"):
        actions = rng.integers(space.n, size=(steps, n_envs))
    else:
        actions = rng.uniform(space.low, space.high, size=(steps, n_envs, *space.shape)).astype(np.float32)
    names = ["obs copy", "batch", *(type(term).__name__ for _, _, term in engine._row_calls), "total, kernel"]
    obs = venv.reset()
    last, clock, no_end = obs.copy(), time.perf_counter_ns, np.zeros(n_envs, dtype=bool)

    def run(after_env_step: bool) -> list[float]:
        nonlocal obs, last
        rewards, dones, infos = np.zeros(n_envs, dtype=np.float32), no_end, [{} for _ in range(n_envs)]
        spent = []
        for a in actions:
            if after_env_step:
                obs, rewards, dones, infos = venv.step(a)
            t = [clock()]
            owned = obs.copy()
            t.append(clock())
            batch = rl.Transitions(last, a, owned, rewards.astype(np.float64), dones, no_end, infos)
            t.append(clock())
            for row, weight, term in engine._row_calls:
                term.compute_into(batch, row, weight)
                t.append(clock())
            accumulate_step(engine._state, batch.reward, dones, np.empty(n_envs, dtype=np.float32))
            t.append(clock())
            last = owned
            spent.append(np.diff(t))
        return (np.median(spent, axis=0) / 1e3).tolist()

    run(True), run(False)  # compile, warm up
    return {"after env step": dict(zip(names, run(True))), "no env step": dict(zip(names, run(False)))}


def without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` less ``option`` and its value (``--option N`` or ``--option=N``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def run_processes(argv: list[str], processes: int) -> dict[str, dict[str, list[float]]]:
    """This benchmark with ``argv``, ``processes`` times, each in a fresh process, one after another: each
    process's ratio to raw, by env and stack (``{env: {stack: [ratio per process]}}``)."""
    ratios: dict[str, dict[str, list[float]]] = {}
    for p in range(processes):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ratios.json")
            done = subprocess.run(
                [sys.executable, __file__, *argv, "--json", path], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                sys.exit(f"process {p + 1} of {processes} failed:\n{done.stderr[-2000:]}")
            with open(path) as f:
                result = json.load(f)
        for env_id, stacks_ in result.items():
            for name, ratio in stacks_.items():
                ratios.setdefault(env_id, {}).setdefault(name, []).append(ratio)
        three = "rewardlab, 3 terms"
        line = ", ".join(f"{env_id} {r[three]:.3f}" for env_id, r in result.items() if three in r)
        print(f"process {p + 1}/{processes} done" + (f": 3 terms {line}" if line else ""), flush=True)
    return ratios


def print_processes(ratios: dict[str, dict[str, list[float]]]) -> None:
    """Each stack's median ratio over the processes, their range, and the bar judged on the median."""
    print(f"{'env':<16} {'stack':<26} {'median ratio':>13} {'range over processes':>21} {'target':>7}")
    for env_id, by_stack in ratios.items():
        bar = CASES[env_id]["target"]
        for name, values in by_stack.items():
            median = statistics.median(values)
            target = f"{bar:.2f}" if name == "rewardlab, 3 terms" else ""
            ok = ""
            if target:
                within = sum(v <= bar for v in values)
                ok = f"{'ok' if median <= bar else 'MISSED'} ({within} of {len(values)} processes within)"
            print(f"{env_id:<16} {name:<26} {median:>13.3f} {min(values):>10.3f}-{max(values):.3f} {target:>7} {ok}")


def paired(results: dict[str, Any], a: str, b: str) -> float:
    """Median over rounds of ``a``'s time divided by ``b``'s in the same round."""
    return statistics.median(x / y for x, y in zip(results[a]["times"], results[b]["times"]))


class InSitu:
    """The wrapper's own CPU time inside a training run: a stack's ``step`` minus the wrapped env's ``step_async``
    and ``step_wait`` it calls, summed (``time.thread_time_ns``, immune to preemption by other jobs).

    It measures a small quantity directly, where the ratio of two whole ``learn`` times measures it as the
    difference of two large noisy ones; it still counts what PPO's work between steps costs the wrapper
    (cold caches), since it is timed where the wrapper runs. A raw stack gets the same clocks around one
    call and reads ~0. The clock calls inside the window are calibrated out (``clock_ns``).
    """

    def __init__(self, stack: Any) -> None:
        self.outer = self.inner = 0
        self.calls = 0
        clock = time.thread_time_ns
        samples = []
        for _ in range(2001):
            a = clock()
            samples.append(clock() - a)
        self.clock_ns = statistics.median(samples)  # one clock call's cost, as seen inside a window
        inner = getattr(stack, "venv", None)
        if inner is not None:
            step_async, step_wait = inner.step_async, inner.step_wait

            def timed_async(actions: Any) -> None:
                begin = clock()
                step_async(actions)
                self.inner += clock() - begin

            def timed_wait() -> Any:
                begin = clock()
                out = step_wait()
                self.inner += clock() - begin
                return out

            inner.step_async, inner.step_wait = timed_async, timed_wait
        outer_step = stack.step
        nested = 2 if inner is not None else 0  # clock pairs inside the outer window

        def timed_step(actions: Any) -> Any:
            begin = clock()
            out = outer_step(actions)
            self.outer += clock() - begin
            self.calls += 1
            return out

        self.nested = nested
        stack.step = timed_step

    @property
    def seconds(self) -> float:
        """The wrapper's own CPU seconds so far (the nested clocks' cost taken out)."""
        if not self.nested:
            return 0.0
        return max(self.outer - self.inner - self.calls * self.nested * self.clock_ns, 0) / 1e9


def bench_e2e(steps: int, rounds: int, n_envs: int = 8, n_steps: int = 128) -> dict[str, dict[str, Any]]:
    """CPU time of PPO learning on CartPole through each stack, divided by the raw stack's in the same round.

    Every stack gets its own PPO (same seed and hyper-parameters) and the models learn in turns, one rollout
    and its update (``n_steps × n_envs`` steps, one ``learn`` call) at a time, in alternating order, so load
    from other jobs lands on every stack alike (whole ``learn`` runs one after the other moved ±10 % with the
    load of this shared machine). ``raw, control`` is a second raw stack: its ratio is what the measurement
    cannot resolve. Each stack first steps ``WARM_UP`` times (numba compiles the kernels on their first call and
    the engine its fused step after 500 steps: one-offs of about a second per process that a short run would
    otherwise count).
    Returns, per stack, the median over all chunks of its time divided by the raw stack's same chunk
    (``ratio``), those ratios, the ratio of the summed times (``total``), and ``in_situ``: ``1 + w / (T − w)``
    with ``w`` the wrapper's own CPU time inside the run (:class:`InSitu`) and ``T`` the run's, median over
    rounds (``in_situ_rounds``): the end-to-end ratio with the learning run's noise taken out.
    """
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    times: dict[str, list[float]] = {}  # per chunk (one rollout and its update), all rounds
    in_situ: dict[str, list[float]] = {}  # per round: the wrapper's own time / the rest of learn
    warm_up = np.zeros((WARM_UP, n_envs), dtype=np.int64)
    chunk = n_steps * n_envs
    for r in range(rounds):
        venvs = stacks("CartPole-v1", n_envs, seed=r, shared=False)  # a PPO each: envs of their own
        for name in [name for name in venvs if name.endswith("1 term") and not name.startswith("imitation")]:
            venvs.pop(name).close()  # end to end: the 3-term stacks beside raw and imitation
        models, clocks = {}, {}
        for name, venv in venvs.items():
            time_steps(venv, warm_up)
            clocks[name] = InSitu(venv)
            models[name] = PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=256, seed=r, device="cpu", verbose=0)
        names = list(venvs)
        for c in range(max(steps // chunk, 1)):
            for name in names if (r + c) % 2 == 0 else names[::-1]:
                begin = time.process_time()
                models[name].learn(chunk, reset_num_timesteps=c == 0)
                times.setdefault(name, []).append(time.process_time() - begin)
        for name, venv in venvs.items():
            own = clocks[name].seconds
            learn = sum(times[name][-max(steps // chunk, 1) :])
            in_situ.setdefault(name, []).append(own / (learn - own))
            venv.close()
    raw = times["raw"]
    out = {}
    for name, t in times.items():
        ratios = [a / b for a, b in zip(t, raw)]
        out[name] = {
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "total": sum(t) / sum(raw),
            "in_situ": 1 + statistics.median(in_situ[name]),
            "in_situ_rounds": [1 + x for x in in_situ[name]],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3000, help="vector steps per timed round (CartPole; /5 MuJoCo)")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--envs", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--e2e", action="store_true", help="also time PPO learning end to end")
    parser.add_argument("--e2e-steps", type=int, default=20_000)
    parser.add_argument("--e2e-rounds", type=int, default=3)
    parser.add_argument("--before", metavar="DIR", help="also time an older rewardlab package found in DIR")
    parser.add_argument(
        "--breakdown", action="store_true", help="time the parts of a wrapped step instead (wrapper, engine, info)"
    )
    parser.add_argument(
        "--parts", action="store_true", help="time each part of the 3-term step after an env step and without one"
    )
    parser.add_argument(
        "--separate-envs", action="store_true", help="give each stack its own envs (the old design; biased)"
    )
    parser.add_argument(
        "--own", action="store_true", help="also each wrapper's own time per step (its step minus the env's)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="K",
        help="run the measurement in K fresh processes and report the median ratio over them",
    )
    parser.add_argument("--json", metavar="PATH", help=argparse.SUPPRESS)  # a --processes child's ratios
    args = parser.parse_args()
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    if args.processes > 1:
        if args.e2e or args.parts:
            parser.error("--processes times the step table only: leave out --e2e and --parts")
        rounds = f"each the median over {args.rounds} rounds"
        print(f"{args.processes} processes, one after another ({rounds}); {args.n_envs} envs, CPU time, ratio to raw")
        print_processes(run_processes(without_option(sys.argv[1:], "--processes"), args.processes))
        return
    global SHARED_ENV
    SHARED_ENV = not args.separate_envs
    if args.parts:
        for env_id in args.envs:
            for when, parts in bench_parts(env_id, args.n_envs, max(args.steps // 3, 200)).items():
                cells = ", ".join(f"{name} {us:.2f}" for name, us in parts.items())
                print(f"{env_id} {when}: {cells}; sum {sum(parts.values()):.1f} µs per vector step")
        return
    if args.before:
        global BEFORE
        BEFORE = import_before(args.before)
    if imitation_wrapper() is None:
        print("imitation is not installed: its column is left out (pip install --no-deps imitation==1.0.1)")
    over = "one vector env shared by all stacks" if SHARED_ENV else "each stack over its own envs"
    print(
        f"raw env steps: {args.n_envs} envs ({over}), CPU time, median over {args.rounds} rounds of the ratio to raw"
    )
    print(f"{'env':<16} {'stack':<22} {'env-steps/s':>12} {'ratio to raw':>13} {'µs/step over raw':>17} {'target':>7}")
    ratios: dict[str, dict[str, float]] = {}
    for env_id in args.envs:
        steps = args.steps if env_id == "CartPole-v1" else max(args.steps // 5, 200)
        make = breakdown_stacks if args.breakdown else None
        results = bench_steps(env_id, args.n_envs, steps, args.rounds, make=make, own=args.own)
        if args.json:
            ratios[env_id] = {name: res["ratio"] for name, res in results.items()}
            with open(args.json, "w") as f:
                json.dump(ratios, f)
        for name, res in results.items():
            target = f"{CASES[env_id]['target']:.2f}" if name == "rewardlab, 3 terms" else ""
            ok = ("ok" if res["ratio"] <= CASES[env_id]["target"] else "MISSED") if target else ""
            own = ""
            if "own_us" in res:
                rounds = res["own_rounds"]
                own = f"  own {res['own_us']:.2f} µs/step (rounds {min(rounds):.2f}-{max(rounds):.2f})"
            print(
                f"{env_id:<16} {name:<22} {res['steps_per_s']:>12,.0f} {res['ratio']:>13.3f} "
                f"{res['us_per_step']:>17.1f} {target:>7} {ok}{own}"
            )
        if BEFORE is not None and not args.breakdown:
            for terms in ("1 term", "3 terms"):
                ratio = paired(results, f"rewardlab, {terms}", f"before, {terms}")
                line = f"{env_id:<16} {terms}: this / before, median of paired rounds: {ratio:.3f}"
                if args.own:
                    this, before = (results[f"{who}, {terms}"]["own_rounds"] for who in ("rewardlab", "before"))
                    diff = statistics.median(a - b for a, b in zip(this, before))
                    line += f"; own time this − before, median of paired rounds: {diff:+.2f} µs/step"
                print(line)
    if args.e2e:
        print(
            f"\nPPO end to end, CartPole-v1, {args.n_envs} envs, {args.e2e_steps} steps, CPU time of learn(), "
            f"{args.e2e_rounds} rounds, median over rollout+update chunks of the ratio to raw's same chunk"
        )
        for name, res in bench_e2e(args.e2e_steps, args.e2e_rounds, args.n_envs).items():
            ratio = res["ratio"]
            target = f"{E2E_TARGET:.2f}" if name == "rewardlab, 3 terms" else ""
            ok = ("ok" if ratio <= E2E_TARGET else "MISSED") if target else ""
            q1, _, q3 = statistics.quantiles(res["ratios"], n=4)
            spread = (
                f"(chunks: quartiles {q1:.3f}-{q3:.3f}; summed times {res['total']:.3f}; "
                f"in situ {res['in_situ']:.4f}, rounds "
                f"{min(res['in_situ_rounds']):.4f}-{max(res['in_situ_rounds']):.4f})"
            )
            print(f"{'CartPole-v1':<16} {name:<22} {'':>12} {ratio:>13.3f} {target:>8} {ok:6} {spread}")


if __name__ == "__main__":
    main()
