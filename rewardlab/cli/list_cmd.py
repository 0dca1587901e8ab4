"""``rewardlab envs`` and ``rewardlab rewards``: what is available, with parameters."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rewardlab.cli.common import examples
from rewardlab.config.registry import POTENTIALS, TERMS, ConfigError, Registry, suggest


def _check_family(family: str | None, valid: set[str], what: str) -> None:
    if family is not None and family not in valid:
        names = sorted(valid)
        raise ConfigError(f"unknown {what} family {family!r}{suggest(family, names)}; valid: {', '.join(names)}")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "envs",
        help="list environment presets",
        description="List the environment presets: id, family (which picks the SB3 hyper-parameters), the names "
        "of the observation dimensions (for --axes, count keys and potentials) and what each env is. Any other "
        "Gymnasium id works too, with generic settings.",
        **examples("rewardlab envs", "rewardlab envs --family mujoco"),
    )
    p.add_argument("--family", default=None, help="only this family (classic_control, mujoco, ...)")
    p.set_defaults(func=run_envs)
    p = subparsers.add_parser(
        "rewards",
        help="list reward terms and potentials with their parameters",
        description="List every reward term and potential a reward YAML (--reward) can name, with its "
        "parameters, their defaults and what it does.",
        **examples("rewardlab rewards", "rewardlab rewards --family bonus", "rewardlab rewards --family shaping"),
    )
    p.add_argument("--family", default=None, help="only this family (core, shaping, transform, bonus, ...)")
    p.set_defaults(func=run_rewards)


def run_envs(args: argparse.Namespace) -> int:
    from rewardlab.envs import presets

    _check_family(args.family, {p.family for p in presets().values()}, "env")
    table = Table(title="environment presets")
    for col in ("id", "family", "observation", "description"):
        table.add_column(col, overflow="fold")
    for preset in presets().values():
        if args.family and preset.family != args.family:
            continue
        table.add_row(
            *(
                escape(c)
                for c in (preset.id, preset.family, ", ".join(preset.obs_names or ()) or "-", preset.description)
            )
        )
    Console(width=160).print(table)
    return 0


def _registry_table(registry: Registry, family: str | None) -> Table:
    table = Table(title=f"{registry.kind}s")
    for col in ("name", "family", "parameters", "what it does"):
        table.add_column(col, overflow="fold")
    for entry in registry.entries():
        if family and entry.family != family:
            continue
        params = "\n".join(p.describe() for p in entry.params.values()) or "-"
        table.add_row(*(escape(c) for c in (entry.name, entry.family, params, entry.summary)))
    return table


def run_rewards(args: argparse.Namespace) -> int:
    import rewardlab  # noqa: F401  (registers every family's terms)

    _check_family(args.family, {e.family for e in TERMS.entries()} | {e.family for e in POTENTIALS.entries()}, "reward")
    console = Console(width=160)
    console.print(_registry_table(TERMS, args.family))
    # potentials belong to shaping; their own family names the env group they fit
    console.print(_registry_table(POTENTIALS, None if args.family == "shaping" else args.family))
    return 0
