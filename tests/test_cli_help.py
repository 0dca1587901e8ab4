"""Every command explains itself: a description, help on every option, examples at the end of --help."""

from __future__ import annotations

import argparse

import pytest

from rewardlab.cli.common import EXAMPLES_HEADER
from rewardlab.cli.main import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: str = "rewardlab") -> list[tuple[str, argparse.ArgumentParser]]:
    """``(name, parser)`` of every command and sub-command below ``parser``."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((f"{prefix} {name}", sub))
                out.extend(_commands(sub, f"{prefix} {name}"))
    return out


COMMANDS = [("rewardlab", build_parser()), *_commands(build_parser())]


def test_every_command_is_walked() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"rewardlab train", "rewardlab eval", "rewardlab plot decomposition", "rewardlab demos show"} <= names
    assert len(names) >= 19


@pytest.mark.parametrize("name,parser", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_option_has_help(name: str, parser: argparse.ArgumentParser) -> None:
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        and (not a.help or a.help == argparse.SUPPRESS)
    ]
    assert not missing, f"{name}: options without help: {missing}"


@pytest.mark.parametrize("name,parser", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_description_and_examples(name: str, parser: argparse.ArgumentParser) -> None:
    assert parser.description, f"{name} has no description"
    text = parser.format_help()
    assert EXAMPLES_HEADER in text, f"{name} --help has no examples"
    tail = text[text.index(EXAMPLES_HEADER) :].splitlines()[1:]
    commands = [line.strip() for line in tail if line.strip().startswith("rewardlab ")]
    assert 2 <= len(commands) <= 3, f"{name}: {len(commands)} examples"
    assert all(c.startswith(name) for c in commands), f"{name}: an example runs another command: {commands}"
    for command in commands:  # each example parses (files need not exist)
        words = [w.strip('"') for w in _split(command)[1:]]
        build_parser().parse_args(words)


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def test_progress_flag_has_one_style_and_old_spelling_works() -> None:
    parser = build_parser()
    for command in (["eval", "r"], ["compare", "a", "b", "--out", "o"], ["sweep", "s.yaml"], ["qd", "--env", "X"]):
        assert parser.parse_args(command).progress is True
        assert parser.parse_args([*command, "--no-progress"]).progress is False
        assert parser.parse_args([*command, "--progress"]).progress is True
    assert parser.parse_args(["train", "--env", "X", "--no-progress"]).progress is False
    assert parser.parse_args(["annotate", "--messages", "m.txt", "--no-progress"]).progress is False


def test_descriptions_wrap_and_examples_keep_their_lines() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["eval"].format_help()
    body = text[: text.index(EXAMPLES_HEADER)]
    assert max(len(line) for line in body.splitlines()) <= 100  # wrapped, not one long line
    examples = text[text.index(EXAMPLES_HEADER) :].splitlines()
    assert examples[1].strip() == "rewardlab eval runs/CartPole-v1-ppo-seed0"
