"""Suggestions for a mistyped env id: only when the name is close, not because both end in ``-vN``."""

from __future__ import annotations

import difflib
import re


def close_env_id(env_id: str, ids: list[str], cutoff: float = 0.75) -> str | None:
    """The id in ``ids`` whose name is close to ``env_id``'s, if any.

    Names are compared without namespace and version (``-v5``): the shared
    ``-vN`` tail made ``Nope-v0`` look like ``Hopper-v5``. An id that differs
    only in its version (``CartPole-v0``) gets the version we have.
    """

    def name(i: str) -> str:
        return re.sub(r"-v\d+$", "", i.rsplit("/", 1)[-1]).lower()

    by_name: dict[str, str] = {}
    for i in ids:
        by_name.setdefault(name(i), i)
    close = difflib.get_close_matches(name(env_id), list(by_name), n=1, cutoff=cutoff)
    return by_name[close[0]] if close else None
