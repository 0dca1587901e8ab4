"""Build reward terms from YAML-style specs.

Grammar (a *spec*):

* ``"extrinsic"`` -- a registered term with default parameters;
* ``"generated:3fa9c2"`` -- shorthand for a term whose only required parameter
  takes the value after the colon (``{term: generated, id: 3fa9c2}``);
* ``{term: count, weight: 0.1, name: explore, **params}`` -- a term with
  parameters, an optional weight and an optional log name;
* ``[spec, spec, ...]`` -- their weighted sum.

Transforms and combinations take nested specs in their ``of`` parameter::

    reward:
      - extrinsic
      - {term: potential, potential: mountaincar_energy, gamma: 0.99}
      - {term: clip, of: {term: constant, value: -1}, low: -0.5, high: 0.5}

A file may hold the spec alone or under a ``reward:`` key.
"""

from __future__ import annotations

import contextvars
import math
import os
from pathlib import Path
from typing import Any

import yaml

from rewardlab.config.registry import TERMS, ConfigError
from rewardlab.core.term import RewardTerm, WeightedSum

RESERVED = ("term", "weight", "name")
_RUN_SEED: contextvars.ContextVar[int | None] = contextvars.ContextVar("rewardlab_run_seed", default=None)


def build_reward(spec: Any, *, where: str = "", seed: int | None = None) -> RewardTerm:
    """Turn a spec (see module docs) into a reward term, validating every part.

    ``seed`` (a run's ``--seed``) becomes the ``seed`` of every term that takes one,
    nested ones included, unless the spec sets it.

    Examples:
        >>> import rewardlab as rl
        >>> reward = rl.build_reward(["extrinsic", {"term": "constant", "value": -1, "weight": 0.01}])
        >>> reward.component_names()
        ['extrinsic', 'constant']
    """
    if seed is not None:
        token = _RUN_SEED.set(int(seed))
        try:
            return build_reward(spec, where=where)
        finally:
            _RUN_SEED.reset(token)
    if isinstance(spec, RewardTerm):
        return spec
    if isinstance(spec, str):
        name, sep, value = spec.partition(":")
        if sep and name in TERMS:
            required = [p.name for p in TERMS.get(name).params.values() if p.required]
            if len(required) != 1:
                raise ConfigError(f"{where}{name!r} takes {len(required)} required parameters; write it as a mapping")
            return TERMS.build(name, _seeded(name, {required[0]: value.strip()}), where)
        return TERMS.build(spec, _seeded(spec, {}), where)
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}an empty list is not a reward; list at least one term")
        pairs = []
        for i, item in enumerate(spec):
            part = WeightedSum.of(build_reward(item, where=f"{where}[{i}] "))
            pairs.extend(zip(part.weights.tolist(), part.terms))
        return WeightedSum(pairs)
    if isinstance(spec, dict):
        if "term" not in spec:
            raise ConfigError(
                f"{where}a term mapping needs a 'term' key naming one of: {', '.join(TERMS.names())}; "
                f"got keys {sorted(spec)}"
            )
        name = spec["term"]
        if not isinstance(name, str):
            raise ConfigError(f"{where}'term' must be a string, got {name!r}")
        params = _seeded(name, {k: v for k, v in spec.items() if k not in RESERVED})
        term = TERMS.build(name, params, where)
        if "name" in spec:
            if not isinstance(spec["name"], str):
                raise ConfigError(f"{where}{name!r}: 'name' must be a string, got {spec['name']!r}")
            term.name = spec["name"]
        if "weight" in spec:
            weight = spec["weight"]
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise ConfigError(f"{where}{name!r}: 'weight' must be a number, got {weight!r}")
            if not math.isfinite(weight):
                raise ConfigError(f"{where}{name!r}: 'weight' must be a finite number, got {weight!r}")
            return term * float(weight)
        return term
    raise ConfigError(f"{where}a reward spec is a term name, a mapping with 'term', or a list; got {spec!r}")


def _seeded(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the run's seed added when term ``name`` takes a seed the spec does not set."""
    seed = _RUN_SEED.get()
    if seed is None or "seed" in params or name not in TERMS or "seed" not in TERMS.get(name).params:
        return params
    return {**params, "seed": seed}


def load_reward_spec(source: str | os.PathLike[str]) -> Any:
    """Read a spec from a YAML file, or parse ``source`` itself as inline YAML.

    Examples:
        >>> from rewardlab.config import load_reward_spec
        >>> load_reward_spec("[extrinsic, {term: constant, value: 1}]")
        ['extrinsic', {'term': 'constant', 'value': 1}]
    """
    if isinstance(source, str) and not source.strip():
        raise ConfigError("the reward is empty; give a reward YAML file or inline YAML such as 'extrinsic'")
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"reward file {str(path)!r} does not exist")
        if not path.is_file():
            raise ConfigError(f"reward source {str(path)!r} is a folder; give a reward YAML file or inline YAML")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"could not parse reward file {str(path)!r}: {yaml_error(err)}") from err
    else:
        try:
            data = yaml.safe_load(str(source))
        except yaml.YAMLError as err:
            raise ConfigError(f"could not parse inline reward {str(source)!r}: {yaml_error(err)}") from err
    if isinstance(data, dict) and "reward" in data:
        data = data["reward"]
    if data is None:
        raise ConfigError(f"reward source {str(source)!r} is empty")
    return data


def yaml_error(err: yaml.YAMLError) -> str:
    """A YAML syntax error in one line: what is wrong and where (line and column, 1-based)."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or str(err)
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def load_reward(source: str | os.PathLike[str]) -> RewardTerm:
    """Build a reward from a YAML file path or an inline YAML string.

    Examples:
        >>> import rewardlab as rl
        >>> rl.load_reward("{term: potential, potential: cartpole_upright, gamma: 0.98}").name
        'shaping'
        >>> rl.load_reward("configs/mountaincar_shaped.yaml").component_names()   # a file works the same
        ['extrinsic', 'shaping']
    """
    return build_reward(load_reward_spec(source))
