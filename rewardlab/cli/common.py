"""What every sub-command's parser shares: help that ends with examples, one ``--progress`` flag.

::

    p = subparsers.add_parser("eval", help=..., description=..., **examples(
        "rewardlab eval runs/demo",
        "rewardlab eval runs/demo --episodes 3 --video-episodes 0",
    ))
    add_progress_flag(p)
"""

from __future__ import annotations

import argparse
from typing import Any

EXAMPLES_HEADER = "examples:"


class ExamplesFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps descriptions as usual but prints the ``examples:`` epilog as written (one command a line)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADER):
            return super()._fill_text(text, width, indent)  # raw: keep the lines
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


def examples(*commands: str) -> dict[str, Any]:
    """``add_parser`` keyword arguments for an epilog listing ``commands`` (two or three of them).

    A command may carry a comment after ``  # ``; it is printed on its own line above the command.
    """
    lines = [EXAMPLES_HEADER]
    for command in commands:
        cmd, sep, comment = command.partition("  # ")
        if sep:
            lines.append(f"  # {comment.strip()}")
        lines.append(f"  {cmd.strip()}")
    return {"epilog": "\n".join(lines), "formatter_class": ExamplesFormatter}


def add_progress_flag(
    parser: argparse.ArgumentParser, what: str = "a progress bar in a terminal, a few lines when output goes to a file"
) -> None:
    """``--progress/--no-progress`` (default on), the one spelling every command uses."""
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help=f"show {what} (default: on)"
    )
