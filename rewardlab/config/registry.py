"""Registries of named factories with validated keyword parameters.

Every reward term and potential that can appear in a YAML config is a
factory registered here under a name. Building from a config checks the
parameters against the factory's signature and type hints, so an unknown
term, a misspelt parameter or a wrong type fails with a message that names
the problem and lists the valid choices.
"""

from __future__ import annotations

import difflib
import inspect
import math
import types
import typing
from collections import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union

from rewardlab.core.term import RewardTerm


class ConfigError(ValueError):
    """A reward or run configuration is invalid; the message says where and why."""


def suggest(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` when ``word`` is close to one of ``choices``."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a factory."""

    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        ann = type_name(self.annotation)
        return f"{self.name}: {ann}" + ("" if self.required else f" = {self.default!r}")


@dataclass(frozen=True)
class Entry:
    """A registered factory."""

    name: str
    factory: Callable[..., Any]
    family: str
    params: dict[str, Param]

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""


def type_name(ann: Any) -> str:
    """A short readable name of a type hint."""
    if ann is inspect.Parameter.empty or ann is Any:
        return "any"
    origin = typing.get_origin(ann)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(ann))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(ann))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(ann, "__name__", str(ann))


class Registry:
    """Named factories of one kind (``"reward term"``, ``"potential"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, family: str = "core") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register ``factory`` under ``name``."""

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, factory, family, _params_of(factory))
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str, where: str = "") -> Entry:
        if name not in self._entries:
            raise ConfigError(
                f"{where}unknown {self.kind} {name!r}{suggest(name, self.names())}; valid: {', '.join(self.names())}"
            )
        return self._entries[name]

    def build(self, name: str, params: dict[str, Any], where: str = "") -> Any:
        """Validate ``params`` against the factory of ``name`` and call it."""
        entry = self.get(name, where)
        loc = f"{where}{self.kind} {name!r}: "
        kwargs = {}
        for key, value in params.items():
            if key not in entry.params:
                valid = ", ".join(entry.params) or "none"
                raise ConfigError(f"{loc}unknown parameter {key!r}{suggest(key, list(entry.params))}; valid: {valid}")
            kwargs[key] = coerce(value, entry.params[key].annotation, f"{loc}parameter {key!r}")
        missing = [p.name for p in entry.params.values() if p.required and p.name not in kwargs]
        if missing:
            raise ConfigError(f"{loc}missing required parameter(s) {missing}")
        try:
            return entry.factory(**kwargs)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{loc}{err}") from err


def _params_of(factory: Callable[..., Any]) -> dict[str, Param]:
    hints = typing.get_type_hints(factory)
    params = {}
    for p in inspect.signature(factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        params[p.name] = Param(p.name, hints.get(p.name, Any), p.default)
    return params


def coerce(value: Any, ann: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``ann``; convert where lossless.

    Nested reward terms (``RewardTerm`` hints) and potentials are built from
    their own specs, so configs can nest transforms and combinations.
    """
    if ann is Any or ann is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{where} must be one of {list(args)}, got {value!r}{suggest(str(value), [str(a) for a in args])}"
            )
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} must be {type_name(ann)}, got {value!r}")
    if origin in (list, tuple, abc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list ({type_name(ann)}), got {value!r}")
        item = args[0] if args else Any
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or ann is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return value
    if inspect.isclass(ann) and issubclass(ann, RewardTerm):
        from rewardlab.config.reward_config import build_reward  # nested specs

        return build_reward(value, where=f"{where} > ")
    if ann is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if ann is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if ann is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if ann is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    builder = getattr(ann, "from_config", None)
    if builder is not None:
        return builder(value, where=f"{where} > ")
    if inspect.isclass(ann) and not isinstance(value, ann):
        raise ConfigError(f"{where} must be {type_name(ann)}, got {value!r}")
    return value


TERMS = Registry("reward term")
POTENTIALS = Registry("potential")
