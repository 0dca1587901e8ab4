"""One progress display for every long job: a live bar in a terminal, a few plain lines in a log file.

A tqdm bar redrawn into a file leaves hundreds of ``\\r`` lines behind (83 for
``rewardlab compare``, 201 for ``annotate``). :func:`progress_bar` draws tqdm's
bar only when its stream is a terminal; otherwise it prints a line at the
start, at each quarter and at the end (``lines``), which is what SB3's rich bar
does for ``rewardlab train`` too (no live redraw off a terminal)::

    with progress_bar(total=10, desc="eval", unit="episode") as bar:
        for episode in range(10):
            ...
            bar.write(f"episode {episode}: return {ret:.1f}")  # one line each, above the bar
            bar.update()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: standard error, where bars go) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


class LineProgress:
    """tqdm's interface (``update``, ``set_postfix``, ``write``, ``close``, iteration) as a few printed lines.

    Prints ``desc: n/total (p%) [elapsed] postfix`` when the count first
    reaches each of ``lines`` evenly spaced marks (the last one is the end),
    so a log gets ``lines`` lines however many updates there are.
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        lines: int = 4,
        file: IO[str] | None = None,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.file = file
        self.postfix = ""
        self.start = time.monotonic()
        self.closed = False
        marks = set() if not total or lines <= 0 else {max(1, round(total * k / lines)) for k in range(1, lines + 1)}
        self._marks = sorted(m for m in marks if m > initial)
        if lines > 0:
            self._print(f"{self.desc}: {self._count()} started")

    def _out(self) -> IO[str]:
        return sys.stderr if self.file is None else self.file

    def _print(self, line: str) -> None:
        print(line, file=self._out(), flush=True)

    def _count(self) -> str:
        if self.total:
            return f"{self.n}/{self.total} {self.unit}s ({100 * self.n / self.total:.0f}%)"
        return f"{self.n} {self.unit}s"

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress display wraps no iterable")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more done; print a line when a mark is passed."""
        self.n += n
        passed = False
        while self._marks and self.n >= self._marks[0]:
            self._marks.pop(0)
            passed = True
        if passed:
            elapsed = time.monotonic() - self.start
            self._print(f"{self.desc}: {self._count()} [{elapsed:.0f}s]{self.postfix}")

    def set_postfix_str(self, text: str) -> None:
        """Text printed after the count on the next progress line."""
        self.postfix = f"  {text}" if text else ""

    def set_postfix(self, **values: Any) -> None:
        """``key=value`` pairs printed after the count on the next progress line."""
        self.postfix = "  " + ", ".join(f"{k}={v}" for k, v in values.items()) if values else ""

    def write(self, line: str) -> None:
        """A result line (standard output, as ``tqdm.write``), e.g. one finished episode."""
        print(line, file=sys.stdout if self.file is None else self.file, flush=True)

    def close(self) -> None:
        """Mark the display closed (nothing to clear off a terminal)."""
        self.closed = True


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    enabled: bool = True,
    lines: int = 4,
    leave: bool = True,
    file: IO[str] | None = None,
) -> Any:
    """A progress display with tqdm's interface: tqdm's bar in a terminal, :class:`LineProgress` elsewhere.

    Args:
        iterable: wrap it (as ``tqdm(iterable)``), or ``None`` and call ``update``.
        total: expected count (default: ``len(iterable)``).
        desc, unit: label and unit name.
        initial: count already done (resumed work).
        enabled: ``False``: a display that prints nothing but ``write`` lines.
        lines: off a terminal, how many progress lines at most (0: only ``write`` lines).
        leave: keep tqdm's bar on screen when done.
        file: stream (default: standard error).

    >>> import io
    >>> log = io.StringIO()                  # not a terminal: a few lines, whatever the number of updates
    >>> for _ in progress_bar(range(1000), desc="work", lines=2, file=log):
    ...     pass
    >>> print(log.getvalue().splitlines()[0])
    work: 0/1000 its (0%) started
    """
    if enabled and is_terminal(file):
        from tqdm import tqdm

        return tqdm(
            iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=file, dynamic_ncols=True
        )
    return LineProgress(
        iterable, total=total, desc=desc, unit=unit, initial=initial, lines=lines if enabled else 0, file=file
    )
