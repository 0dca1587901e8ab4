"""Sweep specs: one YAML file → a validated list of runs (env × reward × algo × variant × seed).

A spec names every axis of the grid::

    name: mountaincar                 # default: the file's stem
    out: runs/sweeps/mountaincar      # default: runs/sweeps/<name>
    envs: [MountainCar-v0]            # ids, or {id: ..., kwargs: {...}} for gymnasium.make kwargs
    rewards:                          # name → inline reward spec or a reward YAML file
      extrinsic: extrinsic
      energy: ../configs/mountaincar_shaped.yaml
    algos:                            # name → hyper-parameter overrides of the agents/ presets
      ppo: {}
      ppo_fast: {algo: ppo, learning_rate: 0.001}
    seeds: 3                          # an int n (seeds 0..n-1) or a list
    steps: 50k
    n_envs: null                      # override the preset's number of envs
    eval_episodes: 10
    search:                           # optional hyper-parameter axis
      mode: grid                      # grid: every combination of the choices; random: n samples
      n: 8                            # random only
      seed: 0                         # random only
      params:
        learning_rate: [0.0003, 0.001]          # choices
        ent_coef: {low: 0.0001, high: 0.01, log: true}   # range (random only)

Reward file paths are read relative to the spec file first, then to the working
directory; the reward spec itself (not the path) goes into each run's config,
so the run id's hash changes when the file's content changes.

Each run gets a stable id: a readable name and a short hash of its resolved
:class:`~rewardlab.train.RunConfig`, e.g. ``MountainCar-v0__energy__ppo__s1__3fa9c2d1``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rewardlab.agents import ALGOS
from rewardlab.config.hyperparams import algo_params, check_hyperparams
from rewardlab.config.registry import ConfigError, suggest
from rewardlab.config.reward_config import build_reward, load_reward_spec
from rewardlab.envs import get_preset
from rewardlab.train import RunConfig, parse_steps

SPEC_KEYS = ("name", "out", "envs", "rewards", "algos", "seeds", "steps", "n_envs", "eval_episodes", "search", "tune")
SEARCH_KEYS = ("mode", "n", "seed", "params")
RANGE_KEYS = ("low", "high", "log", "int")


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its config, where it goes and which group (all but the seed) it belongs to.

    Examples:
        >>> import rewardlab as rl
        >>> spec = rl.sweep.parse_spec({"envs": ["CartPole-v1"], "rewards": {"plain": "extrinsic", "bonus":
        ...     ["extrinsic", {"term": "constant", "value": 0.1}]}, "algos": {"ppo": {}}, "seeds": 2, "steps": "20k"})
        >>> run = spec.runs()[0]                # built by SweepSpec.runs(), not by hand
        >>> run.reward, run.seed, run.config.steps
        ('plain', 0, 20000)
    """

    run_id: str
    group: str
    env: str
    reward: str
    algo: str
    variant: dict[str, Any]
    seed: int
    config: RunConfig
    config_hash: str


@dataclass
class SweepSpec:
    """A parsed, validated sweep spec (see the module docs for the YAML layout).

    Examples:
        >>> import rewardlab as rl
        >>> spec = rl.sweep.parse_spec({"envs": ["CartPole-v1"], "rewards": {"plain": "extrinsic", "bonus":
        ...     ["extrinsic", {"term": "constant", "value": 0.1}]}, "algos": {"ppo": {}}, "seeds": 2, "steps": "20k"})
        >>> spec.seeds, len(spec.runs())        # 2 rewards × 1 algo × 2 seeds
        ([0, 1], 4)
    """

    name: str
    out: Path
    envs: list[dict[str, Any]]
    rewards: dict[str, Any]
    algos: dict[str, dict[str, Any]]
    seeds: list[int]
    steps: int
    n_envs: int | None = None
    eval_episodes: int = 10
    search: dict[str, Any] = field(default_factory=dict)
    tune: dict[str, Any] | None = None
    source: Path | None = None

    def variants(self) -> list[dict[str, Any]]:
        """Hyper-parameter variants from ``search`` (``[{}]`` without one)."""
        return expand_search(self.search)

    def runs(self) -> list[SweepRun]:
        """Every run of the grid, seeds innermost, in a stable order."""
        runs = []
        variants = self.variants()
        for env, (reward_name, reward), (algo_name, algo_hp) in itertools.product(
            self.envs, self.rewards.items(), self.algos.items()
        ):
            for index, variant in enumerate(variants):
                hp = {k: v for k, v in algo_hp.items() if k != "algo"}
                hp.update(variant)
                parts = [safe_name(env["id"]), reward_name, algo_name]
                if len(variants) > 1:
                    parts.append(f"p{index}")
                group = "__".join(parts)
                for seed in self.seeds:
                    config = RunConfig(
                        env=env["id"],
                        reward=copy.deepcopy(reward),
                        algo=algo_hp.get("algo", algo_name),
                        steps=self.steps,
                        seed=seed,
                        n_envs=self.n_envs,
                        hyperparams=copy.deepcopy(hp),
                        env_kwargs=copy.deepcopy(env.get("kwargs", {})),
                        eval_episodes=self.eval_episodes,
                    )
                    digest = config_hash(config)
                    runs.append(
                        SweepRun(
                            run_id=f"{group}__s{seed}__{digest}",
                            group=group,
                            env=env["id"],
                            reward=reward_name,
                            algo=algo_name,
                            variant=dict(variant),
                            seed=seed,
                            config=config,
                            config_hash=digest,
                        )
                    )
        return runs


def safe_name(text: str) -> str:
    """``text`` with characters that are awkward in folder names replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def config_hash(config: RunConfig) -> str:
    """Short hash of a run config's canonical JSON: equal configs, equal hashes, across machines."""
    blob = json.dumps(asdict(config), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def _check_keys(data: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in valid:
            raise ConfigError(f"{where}unknown key {key!r}{suggest(str(key), list(valid))}; valid: {', '.join(valid)}")


def _as_mapping(value: Any, where: str) -> dict[str, Any]:
    """A name → value mapping; a list of names becomes ``{name: {}}`` (algos) or ``{name: name}`` (rewards)."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {v: None for v in value}
    raise ConfigError(f"{where} must be a mapping of name → value or a list of names, got {value!r}")


def _parse_envs(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    envs = []
    for item in items:
        env = {"id": item} if isinstance(item, str) else item
        if not isinstance(env, dict) or not isinstance(env.get("id"), str):
            raise ConfigError(f"envs: each entry is an env id or {{id: ..., kwargs: {{...}}}}, got {item!r}")
        _check_keys(env, ("id", "kwargs"), f"envs[{env['id']}]: ")
        try:
            get_preset(env["id"])
        except ValueError as err:
            raise ConfigError(f"envs: {err}") from err
        envs.append({"id": env["id"], "kwargs": dict(env.get("kwargs") or {})})
    if not envs:
        raise ConfigError("envs: list at least one environment")
    return envs


def _resolve_reward(name: str, value: Any, base: Path | None) -> Any:
    """The reward spec of ``name``: inline (a spec, or a string of inline YAML as ``--reward`` takes), or
    loaded from a YAML file next to the spec or in the cwd."""
    if value is None:
        value = name
    if isinstance(value, str) and value.endswith((".yaml", ".yml")):
        candidates = [base / value] if base is not None else []
        candidates.append(Path(value))
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            tried = ", ".join(str(p) for p in candidates)
            raise ConfigError(f"rewards[{name}]: reward file {value!r} not found (looked at {tried})")
        value = load_reward_spec(path)
    elif isinstance(value, str):
        try:
            value = load_reward_spec(value) if value.strip() else value
        except ConfigError as err:
            raise ConfigError(f"rewards[{name}]: {err}") from err
    build_reward(value, where=f"rewards[{name}]: ")
    return value


def _parse_algos(value: Any) -> dict[str, dict[str, Any]]:
    algos = {}
    for name, params in _as_mapping(value, "algos").items():
        params = dict(params or {})
        algo = str(params.get("algo", name)).lower()
        if algo not in ALGOS:
            raise ConfigError(
                f"algos[{name}]: unknown algo {algo!r}{suggest(algo, list(ALGOS))}; valid: {', '.join(ALGOS)}"
                " (name an entry after its algo, or give it an 'algo' key)"
            )
        check_hyperparams(algo, {k: v for k, v in params.items() if k != "algo"}, where=f"algos[{name}]: ")
        algos[str(name)] = {**params, "algo": algo}
    if not algos:
        raise ConfigError("algos: list at least one algorithm")
    return algos


def _parse_seeds(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ConfigError(f"seeds: an int means 'seeds 0..n-1' and must be positive, got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"seeds: repeated seed in {value}")
        return list(value)
    raise ConfigError(f"seeds: give a positive int n (seeds 0..n-1) or a list of ints, got {value!r}")


def _parse_search(value: Any, algos: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"search: expected a mapping with keys {', '.join(SEARCH_KEYS)}, got {value!r}")
    _check_keys(value, SEARCH_KEYS, "search: ")
    mode = value.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise ConfigError(f"search.mode: {mode!r} is not one of 'grid', 'random'")
    params = value.get("params") or {}
    if not isinstance(params, dict) or not params:
        raise ConfigError("search.params: give at least one hyper-parameter with its choices or range")
    used = sorted({a["algo"] for a in algos.values()})
    for algo in used:
        for key in params:
            if key not in algo_params(algo):
                check_hyperparams(algo, {key: None}, where="search.params: ")  # an unknown name: did-you-mean
    for key, dom in params.items():
        if isinstance(dom, dict):
            _check_keys(dom, RANGE_KEYS, f"search.params.{key}: ")
            if "low" not in dom or "high" not in dom or not dom["low"] < dom["high"]:
                raise ConfigError(f"search.params.{key}: a range needs numbers low < high, got {dom!r}")
            if dom.get("log") and dom["low"] <= 0:
                raise ConfigError(f"search.params.{key}: a log range needs low > 0, got {dom['low']}")
            if mode == "grid":
                raise ConfigError(f"search.params.{key}: a range needs mode: random; grid takes a list of choices")
        elif not isinstance(dom, list) or not dom:
            raise ConfigError(f"search.params.{key}: give a non-empty list of choices or {{low, high}}, got {dom!r}")
    for algo in used:
        for key, dom in params.items():
            for choice in [dom["low"], dom["high"]] if isinstance(dom, dict) else dom:
                check_hyperparams(algo, {key: choice}, where=f"search.params.{key}: ")
    out = {"mode": mode, "params": params}
    if mode == "random":
        n = value.get("n")
        if not isinstance(n, int) or n <= 0:
            raise ConfigError(f"search.n: random search needs a positive number of samples, got {n!r}")
        out.update(n=n, seed=int(value.get("seed", 0)))
    return out


def expand_search(search: dict[str, Any]) -> list[dict[str, Any]]:
    """Hyper-parameter variants: the grid's combinations, or ``n`` seeded random samples."""
    if not search:
        return [{}]
    params = search["params"]
    if search["mode"] == "grid":
        keys = list(params)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(params[k] for k in keys))]
    rng = np.random.default_rng(search["seed"])
    variants = []
    for _ in range(search["n"]):
        variant = {}
        for key, dom in params.items():
            if isinstance(dom, list):
                variant[key] = dom[int(rng.integers(len(dom)))]
                continue
            low, high = float(dom["low"]), float(dom["high"])
            value = float(np.exp(rng.uniform(np.log(low), np.log(high)))) if dom.get("log") else rng.uniform(low, high)
            variant[key] = int(round(value)) if dom.get("int") else float(f"{value:.6g}")
        variants.append(variant)
    return variants


def parse_spec(data: dict[str, Any], *, source: str | Path | None = None) -> SweepSpec:
    """Validate a spec mapping; every error names the key and the valid choices.

    Examples:
        >>> import rewardlab as rl
        >>> spec = rl.sweep.parse_spec({"envs": ["CartPole-v1"], "rewards": {"plain": "extrinsic", "bonus":
        ...     ["extrinsic", {"term": "constant", "value": 0.1}]}, "algos": {"ppo": {}}, "seeds": 2, "steps": "20k"})
        >>> sorted(spec.rewards), spec.steps
        (['bonus', 'plain'], 20000)
        >>> try:
        ...     rl.sweep.parse_spec({"envs": ["CartPole-v1"], "rewards": {"plain": "extrinsic"}, "seed": 3})
        ... except rl.ConfigError as err:
        ...     print(err)
        sweep spec: unknown key 'seed' (did you mean 'seeds'?); valid: name, out, envs, rewards, algos, seeds, ...
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a sweep spec is a mapping with keys {', '.join(SPEC_KEYS)}, got {type(data).__name__}")
    _check_keys(data, SPEC_KEYS, "sweep spec: ")
    for key in ("envs", "rewards"):
        if key not in data:
            raise ConfigError(f"sweep spec: missing required key {key!r}")
    source = Path(source) if source is not None else None
    base = source.parent if source is not None else None
    name = str(data.get("name") or (source.stem if source is not None else "sweep"))
    rewards = {str(k): _resolve_reward(str(k), v, base) for k, v in _as_mapping(data["rewards"], "rewards").items()}
    if not rewards:
        raise ConfigError("rewards: list at least one reward")
    algos = _parse_algos(data.get("algos", ["ppo"]))
    eval_episodes = data.get("eval_episodes", 10)
    if not isinstance(eval_episodes, int) or eval_episodes < 0:
        raise ConfigError(f"eval_episodes: expected an int >= 0, got {eval_episodes!r}")
    n_envs = data.get("n_envs")
    if n_envs is not None and (not isinstance(n_envs, int) or n_envs <= 0):
        raise ConfigError(f"n_envs: expected a positive int or null, got {n_envs!r}")
    steps = parse_steps(data.get("steps", "50k"))
    if steps <= 0:
        raise ConfigError(f"steps: must be positive, got {steps}")
    tune = data.get("tune")
    if tune is not None and not isinstance(tune, dict):
        raise ConfigError(f"tune: expected a mapping (see rewardlab.sweep.weight_search), got {tune!r}")
    return SweepSpec(
        name=name,
        out=Path(data.get("out") or Path("runs") / "sweeps" / safe_name(name)),
        envs=_parse_envs(data["envs"]),
        rewards=rewards,
        algos=algos,
        seeds=_parse_seeds(data.get("seeds", 1)),
        steps=steps,
        n_envs=n_envs,
        eval_episodes=eval_episodes,
        search=_parse_search(data.get("search"), algos),
        tune=tune,
        source=source,
    )


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec YAML file.

    Examples:
        >>> import rewardlab as rl
        >>> spec = rl.sweep.load_spec("sweeps/demo.yaml")
        >>> len(spec.runs()), sorted(spec.rewards)
        (10, ['extrinsic', 'upright_shaping'])
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"sweep spec {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"could not parse sweep spec {str(path)!r}: {err}") from err
    return parse_spec(data, source=path)
