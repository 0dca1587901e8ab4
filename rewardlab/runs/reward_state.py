"""The reward's trained state in a file: versioned, checked against the reward, loaded without running code.

``reward_state.pt`` (written with ``torch.save``) holds::

    {"format": "rewardlab.reward_state", "version": 1,
     "components": [["sum", "WeightedSum"], ["sum/count", "CountBonus"], ...],
     "spec": <the reward spec it was built from, or None>, "step": <env steps trained>,
     "state": reward.state_dict()}

``components`` lists every term of the reward tree (path of names, class
name). Loading compares it with the reward it is loaded into and refuses a
file written for another reward, or by a newer format, with one clear line:
never a silent partial load. Files are read with ``torch.load(weights_only=True)``
plus numpy arrays, so a reward state cannot run code; ``state_dict()`` must hold
numpy arrays, torch tensors and plain Python values (checked when saving).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError
from rewardlab.core.term import CompositeTerm, RewardTerm

FORMAT = "rewardlab.reward_state"
VERSION = 1
REWARD_STATE_FILE = "reward_state.pt"
_PLAIN = (str, bytes, int, float, bool, complex, type(None))


class RewardStateError(ConfigError):
    """A reward state file cannot be written or does not fit the reward it is loaded into.

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.runs import RewardStateError, load_reward_state, save_reward_state
        >>> _ = save_reward_state(rl.bonus.count("obs"), "count_state.pt")
        >>> try:
        ...     load_reward_state(rl.extrinsic() + rl.bonus.rnd(), "count_state.pt")
        ... except RewardStateError as err:
        ...     print(type(err).__name__)
        RewardStateError
    """


def components(reward: RewardTerm) -> list[tuple[str, str]]:
    """``(path, class name)`` of every term in the reward tree, parents first.

    Paths join component names with ``/`` from the root (``sum/count``);
    children of transforms are ``inner`` (and ``ref``).
    """
    return list(_walk(reward, reward.name))


def _walk(term: RewardTerm, path: str) -> Iterator[tuple[str, str]]:
    yield path, type(term).__name__
    if isinstance(term, CompositeTerm):
        for name, child in zip(term.child_names(), term.terms):
            yield from _walk(child, f"{path}/{name}")


def _check_plain(value: Any, where: str) -> None:
    """Raise when ``value`` holds anything but arrays, tensors and plain values (what loads safely)."""
    import torch

    if isinstance(value, (*_PLAIN, torch.Tensor)):
        return
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise RewardStateError(f"reward state {where} is a numpy array of Python objects; use a numeric dtype")
        return
    if isinstance(value, np.generic):
        return
    if isinstance(value, dict):  # includes OrderedDict
        for key, item in value.items():
            _check_plain(key, f"{where} (a key)")
            _check_plain(item, f"{where}/{key}")
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise RewardStateError(
        f"reward state {where} holds a {type(value).__name__}; state_dict() must return numpy arrays, "
        "torch tensors and plain Python values"
    )


def save_reward_state(
    reward: RewardTerm, path: str | Path, *, spec: Any = None, step: int | None = None
) -> Path:
    """Write ``reward.state_dict()`` with its format version and component list to ``path`` (atomically).

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.runs import save_reward_state, load_reward_state, read_reward_state
        >>> reward = rl.extrinsic() + rl.transforms.normalize(rl.constant(1.0))
        >>> save_reward_state(reward, "reward_state.pt").name
        'reward_state.pt'
        >>> sorted(read_reward_state("reward_state.pt"))[:2]
        ['components', 'format']
        >>> _ = load_reward_state(reward, "reward_state.pt")
    """
    import torch

    path = Path(path)
    state = reward.state_dict()
    _check_plain(state, reward.name)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "components": [list(c) for c in components(reward)],
        "spec": spec if not isinstance(spec, RewardTerm) else None,
        "step": step,
        "state": state,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _safe_globals() -> list[Any]:
    """What numpy arrays and scalars need to unpickle (object arrays excluded)."""
    from numpy._core.multiarray import _reconstruct, scalar

    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType") and n != "ObjectDType"]
    return [np.ndarray, np.dtype, scalar, _reconstruct, bytes, collections.OrderedDict, *dtypes]


def read_reward_state(path: str | Path) -> dict[str, Any]:
    """The payload of a reward state file, checked for its format and version (no code runs).

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.runs import save_reward_state, read_reward_state
        >>> _ = save_reward_state(rl.extrinsic(), "plain.pt")
        >>> read_reward_state("plain.pt")["components"]
        [['extrinsic', 'Extrinsic']]
    """
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise RewardStateError(f"no reward state file {str(path)!r}")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            payload = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RewardStateError(f"cannot read reward state {str(path)!r}: {first}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RewardStateError(f"{str(path)!r} is not a rewardlab reward state file")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise RewardStateError(
            f"{str(path)!r} has reward state format {version!r}; this rewardlab reads up to {VERSION} (upgrade it)"
        )
    return payload


def _listing(items: list[tuple[str, str]]) -> str:
    return ", ".join(f"{p} ({c})" for p, c in items)


def load_reward_state(reward: RewardTerm, path: str | Path) -> dict[str, Any]:
    """Restore ``reward`` from a reward state file; return the file's payload.

    Raises :class:`RewardStateError` (one line) when the file was written for a
    reward with other components, or when a component rejects its state.

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.runs import save_reward_state, load_reward_state
        >>> _ = save_reward_state(rl.constant(2.0), "constant.pt")
        >>> _ = load_reward_state(rl.constant(2.0), "constant.pt")   # the same components: loads
    """
    payload = read_reward_state(path)
    saved = [tuple(c) for c in payload["components"]]
    current = components(reward)
    if saved != current:
        at = next((i for i, (a, b) in enumerate(zip(saved, current)) if a != b), min(len(saved), len(current)))
        theirs = _listing(saved[at : at + 1]) or "nothing more"
        ours = _listing(current[at : at + 1]) or "nothing more"
        raise RewardStateError(
            f"reward state {str(path)!r} was saved for another reward: it has {theirs} where this reward has "
            f"{ours} (saved components: {_listing(saved)})"
        )
    try:
        reward.load_state_dict(payload["state"])
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as err:
        message = " ".join(str(err).split())
        raise RewardStateError(
            f"reward state {str(path)!r} does not fit the reward: {type(err).__name__}: {message}"
        ) from err
    return payload
