"""``rewardlab`` command line: one module per sub-command in this folder.

Each command module defines ``register(subparsers)``, which adds its parser
and sets ``func`` to the function that runs it.

Errors the CLI can foresee (bad configs and options, rewards that do not fit
the env, unreadable files, a failed training run) print one line and exit
non-zero; ``--debug`` (anywhere on the command line) shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rewardlab.config.registry import ConfigError

COMMAND_MODULES = (
    "rewardlab.cli.train_cmd",
    "rewardlab.cli.eval_cmd",
    "rewardlab.cli.list_cmd",
    "rewardlab.cli.sweep_cmd",
    "rewardlab.cli.plot_cmd",
    "rewardlab.cli.compare_cmd",
    "rewardlab.cli.perceptual_cmd",
    "rewardlab.cli.codegen_cmd",
    "rewardlab.cli.label_cmd",
    "rewardlab.cli.demos_cmd",
    "rewardlab.cli.annotate_cmd",
    "rewardlab.cli.qd_cmd",
)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (sub-command parsers inherit it)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from rewardlab.cli.common import examples

    parser = Parser(
        prog="rewardlab",
        description="Reward design for reinforcement learning. 'rewardlab COMMAND --help' explains each command "
        "and ends with examples.",
        **examples(
            "rewardlab train --env MountainCar-v0 --reward configs/mountaincar_count.yaml --out runs/count",
            "rewardlab eval runs/count",
            "rewardlab plot landscape --run runs/count --axes position velocity --out landscape.png",
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks (may be given anywhere)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def one_line(message: str) -> str:
    """``message`` with its whitespace (newlines included) collapsed."""
    return " ".join(str(message).split())


def foreseen(err: BaseException) -> tuple[int, str] | None:
    """``(exit code, message)`` for errors the CLI expects; ``None`` for bugs (shown with a traceback)."""
    from rewardlab.cli.train_cmd import TrainingFailed
    from rewardlab.wrappers.engine import NonFiniteRewardError

    if isinstance(err, ConfigError):
        return 2, str(err)
    if isinstance(err, TrainingFailed):
        return 1, str(err)
    if isinstance(err, NonFiniteRewardError):
        return 1, str(err)
    if isinstance(err, OSError):  # a file that cannot be read or written
        if not err.strerror:
            return 1, str(err)
        return 1, err.strerror + (f": {err.filename!r}" if err.filename else "")
    if isinstance(err, ImportError) and "pip install" in str(err):
        return 1, str(err)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("REWARDLAB_DEBUG"))
    argv = [a for a in argv if a != "--debug"]
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rewardlab: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        known = foreseen(err)
        if debug or known is None:
            raise
        code, message = known
        print(f"rewardlab: error: {one_line(message)}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
