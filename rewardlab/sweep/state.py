"""Run status on disk, so a sweep can be resumed and inspected while it runs.

Every run folder gets a ``status.json`` written atomically (temp file, then
rename) by whoever runs it: ``running`` before training starts, ``done`` after
:func:`rewardlab.train.train` returned (it writes ``summary.json`` last), or
``failed`` with the error, its traceback also in ``error.txt``. A run counts as
finished only when ``status.json`` says ``done`` for the same config hash and
``summary.json`` reads as JSON; anything else (a crash, Ctrl-C, SIGKILL, an old
config) is unfinished, and a resume deletes the folder and runs it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewardlab.config.registry import ConfigError
from rewardlab.train import SUMMARY_FILE

STATUS_FILE = "status.json"
ERROR_FILE = "error.txt"
MANIFEST_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
STATES = ("done", "failed", "running", "pending")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the whole new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    return read_json(Path(run_dir) / STATUS_FILE)


def is_finished(run_dir: str | Path, config_hash: str) -> bool:
    """Finished = status ``done`` for this config hash and a readable ``summary.json``."""
    status = read_status(run_dir)
    return (
        status is not None
        and status.get("state") == "done"
        and status.get("config_hash") == config_hash
        and read_json(Path(run_dir) / SUMMARY_FILE) is not None
    )


def run_state(run_dir: str | Path, config_hash: str) -> str:
    """One of ``done``, ``failed``, ``running``, ``pending`` (never started, stale or interrupted)."""
    if is_finished(run_dir, config_hash):
        return "done"
    status = read_status(run_dir)
    if status is None or status.get("config_hash") != config_hash:
        return "pending"
    if status.get("state") == "failed":
        return "failed"
    if status.get("state") == "running" and _maybe_alive(status):
        return "running"
    return "pending"


def _maybe_alive(status: dict[str, Any]) -> bool:
    """False when the status names a process on this host that no longer exists."""
    if status.get("host") != socket.gethostname() or not isinstance(status.get("pid"), int):
        return True
    try:
        os.kill(status["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_run_dir(run_dir: str | Path, config_hash: str) -> Path:
    """Empty ``run_dir`` (removing a partial or failed earlier attempt) and mark it running."""
    run_dir = Path(run_dir)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    mark(run_dir, "running", config_hash)
    return run_dir


def mark(run_dir: str | Path, state: str, config_hash: str, **extra: Any) -> None:
    """Atomically write ``status.json`` with the state, this process and the time."""
    write_json_atomic(
        Path(run_dir) / STATUS_FILE,
        {
            "state": state,
            "config_hash": config_hash,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **extra,
        },
    )


def mark_failed(run_dir: str | Path, config_hash: str, error: BaseException | str, tb: str | None = None) -> str:
    """Record a failed run: ``error.txt`` with the traceback and a ``failed`` status. Returns the message."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if tb is None and isinstance(error, BaseException):
        tb = "".join(traceback.format_exception(error))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ERROR_FILE).write_text(tb or message)
    mark(run_dir, "failed", config_hash, error=message)
    return message


@contextlib.contextmanager
def sweep_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the sweep folder so two processes never run the same sweep at once.

    The OS drops the lock when the process dies, so a killed sweep never leaves a stale one.
    """
    import fcntl

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / LOCK_FILE).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another sweep process is running in {str(out)!r}; wait for it or stop it") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
