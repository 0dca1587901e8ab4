"""Argument checks for term constructors: a ``ValueError`` naming the parameter (configs show it in one line)."""

from __future__ import annotations

from typing import Any


def check_positive(**values: Any) -> None:
    """Every value must be > 0 (learning rates, sizes, scales)."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


def check_at_least(minimum: int, **values: Any) -> None:
    """Every value must be an integer >= ``minimum`` (sizes, counts)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
