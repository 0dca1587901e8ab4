"""NetHack messages: bytes to text, stable hashes, and what the goals mean.

NLE's ``message`` observation is the top line of the screen as 256 bytes,
zero-padded. ONI labels the *text*; the label store keys it by a stable
hash (SHA-1, 16 hex digits) so that labels outlive the process.
"""

from __future__ import annotations

import hashlib

import numpy as np

#: the goals the annotators know, with the phrase the LLM prompt uses (aliases map onto them)
GOALS = {
    "default": "play NetHack well: make progress in the game and raise the in-game score",
    "gold": "collect as much gold as possible",
    "stairs": "find the down staircase and descend deeper into the dungeon",
    "combat": "fight and defeat monsters",
}
GOAL_ALIASES = {"score": "default", "descend": "stairs"}


def resolve_goal(goal: str) -> str:
    """The canonical goal for ``goal`` (``score`` → ``default``, ``descend`` → ``stairs``); ValueError if unknown."""
    goal = GOAL_ALIASES.get(goal, goal)
    if goal not in GOALS:
        valid = sorted([*GOALS, *GOAL_ALIASES])
        raise ValueError(f"unknown ONI goal {goal!r}; valid: {valid}")
    return goal


def decode(raw: bytes | np.ndarray) -> str:
    """The text of a message (``bytes`` or a uint8 array), up to the first zero byte, stripped.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.oni import decode
        >>> decode(np.frombuffer(b"Hello\\x00\\x00", dtype=np.uint8))
        'Hello'
    """
    data = raw.tobytes() if isinstance(raw, np.ndarray) else bytes(raw)
    return data.split(b"\x00", 1)[0].decode("latin-1").strip()


def message_hash(text: str) -> str:
    """A stable 16-hex-digit hash of a message's text (the label store's key).

    Examples:
        >>> from rewardlab.oni import message_hash
        >>> len(message_hash("You find a hidden door.")), message_hash("a") == message_hash("a")
        (16, True)
    """
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def pair_key(a: str, b: str) -> str:
    """The store key of the ordered pair of messages ``(a, b)``."""
    return f"{message_hash(a)}|{message_hash(b)}"
