"""``rewardlab labels``: what a label store holds (pairs asked, answers), and its training data as a file.

    rewardlab labels runs/cartpole_human              # a run folder trained with ``teacher: human``
    rewardlab labels runs/cartpole_human --list       # every pair, in the order asked, with its answer
    rewardlab labels labels.sqlite --export labels.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rewardlab.cli.common import examples
from rewardlab.config.registry import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "labels",
        help="show or export the preference labels of a run folder or label store",
        description="Count, list or export the preference labels (pairs of segments and who was preferred) "
        "that a preference reward asked for in a run.",
        **examples(
            "rewardlab labels runs/preference",
            "rewardlab labels runs/preference --list",
            "rewardlab labels runs/preference/labels.sqlite --export labels.npz",
        ),
    )
    p.add_argument("path", help="a run folder (its labels.sqlite) or a label store file")
    p.add_argument("--list", action="store_true", help="list every pair asked with its answer")
    p.add_argument("--export", default=None, help="write the answered pairs (inputs, masks, labels) to this .npz")
    p.set_defaults(func=run)


def store_path(path: str | Path) -> Path:
    """The label store file of ``path`` (a run folder or the file itself); raise when there is none."""
    from rewardlab.learned.preference.store import LABEL_STORE_FILE

    path = Path(path)
    candidate = path / LABEL_STORE_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise ConfigError(
            f"no label store at {str(candidate)!r}; give a run folder trained with a human teacher or a .sqlite file"
        )
    return candidate


def run(args: argparse.Namespace) -> int:
    import sqlite3

    import numpy as np

    from rewardlab.learned.preference.store import LabelStore

    path = store_path(args.path)
    try:
        store = LabelStore(path)
        counts = store.counts()
    except sqlite3.DatabaseError as err:
        raise ConfigError(f"cannot read label store {str(path)!r}: {err}") from err
    answers = ", ".join(f"{name} {counts[name]}" for name in ("left", "right", "equal", "skip"))
    print(f"{path}: {counts['asked']} pairs asked, {counts['answered']} answered ({answers})")
    if args.list:
        for i, (key, answer) in enumerate(store.answers()):
            print(f"{i:5d}  {key[:16]}  {answer or '-'}")
    if args.export:
        data = store.dataset()
        if not data:
            raise ConfigError(f"{str(path)!r} has no answered pairs to export (skips are not labels)")
        np.savez_compressed(args.export, **data)
        print(f"wrote {len(data['labels'])} labelled pairs to {args.export}")
    store.close()
    return 0
