"""``rewardlab`` command line: one module per sub-command in this folder.

Each command module defines ``register(subparsers)``, which adds its parser
and sets ``func`` to the function that runs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rewardlab.config.registry import ConfigError

COMMAND_MODULES = (
    "rewardlab.cli.train_cmd",
    "rewardlab.cli.list_cmd",
    "rewardlab.cli.sweep_cmd",
    "rewardlab.cli.plot_cmd",
    "rewardlab.cli.compare_cmd",
    "rewardlab.cli.codegen_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="rewardlab", description="Reward design for reinforcement learning.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"rewardlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rewardlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
