"""Registries of named factories with validated keyword parameters.

Every reward term and potential that can appear in a YAML config is
registered here under a name, with its parameters defined once: names, type
hints and defaults come from one signature (the term class's ``__init__`` or
the factory function), descriptions from the ``Args:`` section of its
docstring. That one definition serves YAML validation, ``rewardlab rewards``
and the generated reference in the docs, so they cannot drift apart.

Building from a config checks the parameters against the signature, so an
unknown term, a misspelt parameter or a wrong type fails with a message that
names the problem and lists the valid choices.

Examples:
    >>> from rewardlab.config import TERMS
    >>> entry = TERMS.get("count")
    >>> entry.params["mode"].default
    'global'
    >>> term = TERMS.build("constant", {"value": -1.0})
    >>> type(term).__name__
    'Constant'
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import re
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Union

from rewardlab.core.term import RewardTerm
from rewardlab.errors import ConfigError, suggest

__all__ = ["POTENTIALS", "TERMS", "ConfigError", "Entry", "Param", "Registry", "coerce", "suggest", "type_name"]


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a registered term or potential."""

    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required
    description: str = ""

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        """``name: type = default``, as ``rewardlab rewards`` lists it."""
        ann = type_name(self.annotation)
        return f"{self.name}: {ann}" + ("" if self.required else f" = {self.default!r}")


_ARGS_HEADERS = ("Args:", "Arguments:", "Parameters:", "Keyword Args:", "Keyword Arguments:")
_ARG_LINE = re.compile(r"^([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_][\w]*)*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_args_section(doc: str | None) -> dict[str, str]:
    """Descriptions of parameters from a Google-style ``Args:`` section.

    ``lr, batch_size, epochs: encoder training`` gives the same text to each
    name; indented lines continue the entry above.

    Examples:
        >>> parse_args_section("Title.\\n\\nArgs:\\n    k: neighbours.\\n    lr, seed: training\\n        settings.")
        {'k': 'neighbours.', 'lr': 'training settings.', 'seed': 'training settings.'}
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        if lines[i].strip() not in _ARGS_HEADERS:
            i += 1
            continue
        i += 1
        base: int | None = None
        names: list[str] = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and (len(line) - len(line.lstrip())) == 0:
                break  # the section ended
            indent = len(line) - len(line.lstrip())
            if base is None and line.strip():
                base = indent
            match = _ARG_LINE.match(line.strip()) if line.strip() and indent == base else None
            if match:
                names = [n.strip() for n in match.group(1).split(",")]
                for n in names:
                    out[n] = match.group(2).strip()
            elif line.strip() and names:
                for n in names:
                    out[n] = f"{out[n]} {line.strip()}".strip()
            i += 1
    return out


def _resolve(target: Any) -> Any:
    """``target`` itself, or the object a ``"package.module:attribute"`` string names."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _signature_params(target: Any, *, skip_first: bool = False) -> list[Param]:
    """Keyword parameters of a class's ``__init__`` or a function, with hints and docstring descriptions."""
    fn = target.__init__ if inspect.isclass(target) else target
    try:
        hints = typing.get_type_hints(fn)
    except NameError:  # an annotation only importable for type checkers
        hints = {}
    docs = parse_args_section(inspect.getdoc(target))
    if inspect.isclass(target):
        docs = {**parse_args_section(inspect.getdoc(fn) if fn is not object.__init__ else ""), **docs}
    params = []
    sig = list(inspect.signature(fn).parameters.values())
    if inspect.isclass(target):
        sig = sig[1:]  # self
    if skip_first:
        sig = sig[1:]
    for p in sig:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        params.append(Param(p.name, hints.get(p.name, Any), p.default, docs.get(p.name, "")))
    return params


class Entry:
    """A registered term or potential: its name, family, parameters and how to build it.

    ``target`` is the factory or class (or a ``"module:attribute"`` string,
    imported on first use); its signature and ``Args:`` docstring define the
    parameters. ``exclude`` drops parameters a YAML config cannot give
    (``encoder``, ``name``), ``rename`` maps a parameter to the YAML key users
    write (``{"term": "of"}``), and ``post`` is a function ``post(term, **options)``
    applied after building whose keyword options are parameters too.
    """

    def __init__(
        self,
        name: str,
        target: Any,
        *,
        family: str,
        exclude: Iterable[str] = (),
        rename: dict[str, str] | None = None,
        post: Callable[..., Any] | None = None,
    ) -> None:
        self.name = name
        self.family = family
        self._target = target
        self._exclude = {"name", *exclude}
        self._rename = dict(rename or {})
        self._post = post

    @functools.cached_property
    def factory(self) -> Callable[..., Any]:
        """The class or function that builds the term (imported on first use)."""
        return _resolve(self._target)

    @functools.cached_property
    def _own(self) -> dict[str, Param]:
        out = {}
        for p in _signature_params(self.factory):
            if p.name in self._exclude:
                continue
            key = self._rename.get(p.name, p.name)
            out[key] = Param(key, p.annotation, p.default, p.description)
        return out

    @functools.cached_property
    def _post_params(self) -> dict[str, Param]:
        if self._post is None:
            return {}
        return {p.name: p for p in _signature_params(self._post, skip_first=True)}

    @property
    def params(self) -> dict[str, Param]:
        """Every YAML parameter: the target's own, then the post-processing options."""
        return {**self._own, **self._post_params}

    @property
    def summary(self) -> str:
        """The first line of the target's docstring."""
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def doc(self) -> str:
        """The target's docstring up to its ``Args:`` / ``Examples:`` sections (formula, paper, notes)."""
        out = []
        for line in (inspect.getdoc(self.factory) or "").splitlines():
            if line.strip() in (*_ARGS_HEADERS, "Examples:", "Example:", "Returns:", "Raises:"):
                break
            out.append(line)
        return "\n".join(out).strip()

    def __call__(self, **kwargs: Any) -> Any:
        """Build from already validated keyword arguments (YAML names)."""
        inverse = {v: k for k, v in self._rename.items()}
        own = {inverse.get(k, k): v for k, v in kwargs.items() if k in self._own}
        options = {k: v for k, v in kwargs.items() if k in self._post_params}
        built = self.factory(**own)
        return self._post(built, **options) if self._post is not None else built


class Registry:
    """Named factories of one kind (``"reward term"``, ``"potential"``).

    Examples:
        >>> from rewardlab.config import TERMS
        >>> "count" in TERMS and "extrinsic" in TERMS
        True
        >>> TERMS.get("extrinsc")
        Traceback (most recent call last):
        ...
        rewardlab.errors.ConfigError: unknown reward term 'extrinsc' (did you mean 'extrinsic'?); valid: ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(
        self,
        name: str,
        target: Any,
        *,
        family: str = "core",
        exclude: Iterable[str] = (),
        rename: dict[str, str] | None = None,
        post: Callable[..., Any] | None = None,
    ) -> Entry:
        """Register a class or factory (or its ``"module:attribute"`` path) under ``name``; see :class:`Entry`."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        entry = Entry(name, target, family=family, exclude=exclude, rename=rename, post=post)
        self._entries[name] = entry
        return entry

    def register(self, name: str, *, family: str = "core") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register a factory function under ``name`` (its signature and docstring define the parameters)."""

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, factory, family=family)
            return factory

        return decorator

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Registered entries, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str, where: str = "") -> Entry:
        """The entry of ``name``; a ``ConfigError`` naming the valid choices when there is none."""
        if name not in self._entries:
            raise ConfigError(
                f"{where}unknown {self.kind} {name!r}{suggest(name, self.names())}; valid: {', '.join(self.names())}"
            )
        return self._entries[name]

    def build(self, name: str, params: dict[str, Any], where: str = "") -> Any:
        """Validate ``params`` against the parameters of ``name`` and build it."""
        entry = self.get(name, where)
        loc = f"{where}{self.kind} {name!r}: "
        declared = entry.params
        kwargs = {}
        for key, value in params.items():
            if key not in declared:
                valid = ", ".join(declared) or "none"
                raise ConfigError(f"{loc}unknown parameter {key!r}{suggest(key, list(declared))}; valid: {valid}")
            kwargs[key] = coerce(value, declared[key].annotation, f"{loc}parameter {key!r}")
        missing = [p.name for p in declared.values() if p.required and p.name not in kwargs]
        if missing:
            raise ConfigError(f"{loc}missing required parameter(s) {missing}")
        try:
            return entry(**kwargs)
        except (ValueError, TypeError, FileNotFoundError) as err:
            raise ConfigError(f"{loc}{err}") from err


def type_name(ann: Any) -> str:
    """A short readable name of a type hint."""
    if ann is inspect.Parameter.empty or ann is Any:
        return "any"
    if ann is type(None):
        return "None"
    origin = typing.get_origin(ann)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(ann))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(ann))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(ann, "__name__", str(ann))


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
        structured: ConfigError | None = None  # the error of a built alternative (a term, a potential) says most
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as err:
                if structured is None and _builds_from_config(a):
                    structured = err
        if structured is not None:
            raise structured
        raise ConfigError(f"{where} must be {type_name(ann)}, got {value!r}")
    if origin is abc.Callable:
        if not callable(value):
            raise ConfigError(f"{where} must be a function (give it in Python), got {value!r}")
        return value
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


def _builds_from_config(ann: Any) -> bool:
    """True when YAML values of ``ann`` are built (a nested term, or a class with ``from_config``)."""
    return inspect.isclass(ann) and (issubclass(ann, RewardTerm) or hasattr(ann, "from_config"))


TERMS = Registry("reward term")
POTENTIALS = Registry("potential")
