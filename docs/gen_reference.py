"""Pages generated from the code at build time, so they cannot drift from it.

* ``reference/yaml.md``: every reward term and potential of the registry, each
  parameter with its type, default and description (one definition, see
  :mod:`rewardlab.config.registry`);
* ``reference/cli.md``: the ``--help`` of every command and sub-command, from the argparse parsers;
* ``reference/api/<package>.md``: one mkdocstrings page per public package.

``missing_docstrings()`` lists public names without a docstring; the mkdocs
hook (``docs/hooks.py``) fails the build when it is not empty, and so does
``tests/test_docs.py``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import types
from typing import Any

#: the public packages of the API reference, in the order of the nav
PACKAGES = [
    "rewardlab",
    "rewardlab.core",
    "rewardlab.wrappers",
    "rewardlab.shaping",
    "rewardlab.bonus",
    "rewardlab.learned",
    "rewardlab.learned.preference",
    "rewardlab.learned.adversarial",
    "rewardlab.vlm",
    "rewardlab.perceptual",
    "rewardlab.llm",
    "rewardlab.codegen",
    "rewardlab.oni",
    "rewardlab.qd",
    "rewardlab.analysis",
    "rewardlab.plot",
    "rewardlab.runs",
    "rewardlab.sweep",
    "rewardlab.config",
    "rewardlab.zoo",
]

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`~?([^`]+)`")


def rst_to_md(text: str) -> str:
    """Docstring markup to Markdown: ``x`` -> `x`, :class:`~a.B` -> `B`."""
    text = _ROLE.sub(lambda m: f"`{m.group(1).split('.')[-1] if m.group(0).count('~') else m.group(1)}`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def yaml_reference() -> str:
    """The YAML term reference, from ``TERMS`` and ``POTENTIALS``."""
    import rewardlab  # noqa: F401  (registers every family)
    from rewardlab.config import POTENTIALS, TERMS
    from rewardlab.config.registry import type_name

    out = [
        "# YAML reference",
        "",
        "Generated from the registry when the site is built: every reward term and potential a reward file or",
        "`--reward` can name, with each parameter's type, default and description. The same definitions validate",
        "configs and feed `rewardlab rewards`. Every term also takes `weight` (a number) and `name` (its label in",
        "logs); see [Getting started](../getting-started.md#the-same-reward-in-yaml) for the file format.",
        "",
    ]
    families: dict[str, list[Any]] = {}
    for entry in TERMS.entries():
        families.setdefault(entry.family, []).append(entry)
    for family in sorted(families):
        out += [f"## Terms: {family}", ""]
        for entry in families[family]:
            out += _entry_section(entry, type_name, "term")
    out += ["## Potentials", "", "Potentials Φ for `{term: potential, potential: NAME}` (or `{name: NAME, ...}`).", ""]
    for entry in POTENTIALS.entries():
        out += _entry_section(entry, type_name, "potential")
    return "\n".join(out) + "\n"


def _entry_section(entry: Any, type_name: Any, kind: str) -> list[str]:
    lines = [f"### `{entry.name}`", "", rst_to_md(entry.doc) or rst_to_md(entry.summary), ""]
    if entry.params:
        lines += ["| parameter | type | default | description |", "|---|---|---|---|"]
        for p in entry.params.values():
            default = "*required*" if p.required else f"`{p.default!r}`"
            kind_ = type_name(p.annotation).replace(" | ", " or ")  # a pipe cannot sit in a table's code span
            lines.append(f"| `{p.name}` | `{kind_}` | {_cell(default)} | {_cell(rst_to_md(p.description))} |")
    else:
        lines.append("No parameters.")
    example = f"{{term: {entry.name}}}" if kind == "term" else f"{{term: potential, potential: {entry.name}}}"
    required = [p.name for p in entry.params.values() if p.required]
    if required:
        example = example[:-1] + ", " + ", ".join(f"{r}: ..." for r in required) + "}"
    lines += ["", f"```yaml\n- {example}\n```", ""]
    return lines


def _walk_parsers(parser: argparse.ArgumentParser, prog: str) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _walk_parsers(sub, f"{prog} {name}")
    return out


def cli_reference() -> str:
    """Every command's ``--help``, from the parsers of ``rewardlab.cli.main``."""
    from rewardlab.cli.main import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        pages = _walk_parsers(build_parser(), "rewardlab")
        out = [
            "# Command line",
            "",
            "Generated from the argparse parsers when the site is built, so it is the `--help` you get.",
            "Errors the CLI can foresee print one line and exit non-zero; `--debug` shows the traceback.",
            "",
        ]
        for prog, parser in pages:
            out += [f"## `{prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(out) + "\n"


def public_names(package: str) -> tuple[list[str], list[str]]:
    """``(objects, submodules)`` listed in the package's ``__all__``."""
    mod = importlib.import_module(package)
    names = list(getattr(mod, "__all__", []))
    objects, modules = [], []
    for n in names:
        obj = getattr(mod, n)
        (modules if isinstance(obj, types.ModuleType) else objects).append(n)
    return objects, modules


def api_page(package: str) -> str:
    """A mkdocstrings page of ``package``'s public names, then its public modules that are not packages of their own."""
    objects, modules = public_names(package)
    out = [f"# `{package}`", "", f"::: {package}", "    options:", "      show_root_heading: false"]
    out.append("      members:" if objects else "      members: false")
    out += [f"        - {n}" for n in objects]
    out.append("")
    for m in modules:
        full = f"{package}.{m}"
        if full in PACKAGES or package == "rewardlab":
            continue
        out += [f"## `{full}`", "", f"::: {full}", "    options:", "      show_root_heading: false", ""]
    return "\n".join(out) + "\n"


def _own_public_members(cls: type) -> list[tuple[str, Any]]:
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
    return out


def missing_docstrings(*, members: bool = False) -> list[str]:
    """Public names without a docstring over every package of the reference (``members``: their own methods too)."""
    missing = []
    for package in PACKAGES:
        objects, modules = public_names(package)
        mod = importlib.import_module(package)
        if not inspect.getdoc(mod):
            missing.append(package)
        for n in objects:
            obj = getattr(mod, n)
            if not (callable(obj) or inspect.isclass(obj)):
                continue  # constants, registries: documented by their module
            if not (obj.__doc__ or "").strip():
                missing.append(f"{package}.{n}")
            if members and inspect.isclass(obj):
                for m, value in _own_public_members(obj):
                    if not inspect.getdoc(getattr(obj, m, value)):
                        missing.append(f"{package}.{n}.{m}")
        for m in modules:
            if not inspect.getdoc(getattr(mod, m)):
                missing.append(f"{package}.{m}")
    return sorted(set(missing))


def unlisted_packages() -> list[str]:
    """Public sub-packages of rewardlab the reference does not cover (a new package must be added to PACKAGES)."""
    import rewardlab

    found = [
        m.name
        for m in pkgutil.walk_packages(rewardlab.__path__, "rewardlab.")
        if m.ispkg and not any(part.startswith("_") for part in m.name.split("."))
    ]
    skip = {"rewardlab.cli", "rewardlab.envs", "rewardlab.agents", "rewardlab.policies", "rewardlab.codegen.sandbox"}
    return sorted(set(found) - set(PACKAGES) - skip)
