"""Error types shared by every package, importable without import cycles.

``rewardlab.core`` and ``rewardlab.config`` both raise :class:`ConfigError`;
it lives here, below both. The old path ``rewardlab.config.registry.ConfigError``
still works.

Examples:
    >>> from rewardlab.errors import ConfigError, suggest
    >>> suggest("extrinsc", ["extrinsic", "constant"])
    " (did you mean 'extrinsic'?)"
    >>> issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

import difflib

__all__ = ["ConfigError", "suggest"]


class ConfigError(ValueError):
    """A reward or run configuration is invalid; the message says where and why.

    Examples:
        >>> import rewardlab as rl
        >>> try:
        ...     rl.load_reward("{term: constant, valeu: 1}")
        ... except rl.ConfigError as err:
        ...     print(err)
        reward term 'constant': unknown parameter 'valeu' (did you mean 'value'?); valid: value
    """


def suggest(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` when ``word`` is close to one of ``choices``, else ``""``."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
