"""Run status on disk, so a sweep can be resumed and inspected while it runs.

Every run folder gets a ``status.json`` written atomically (temp file, then
rename) by whoever runs it: ``running`` before training starts, ``done`` after
:func:`rewardlab.train.train` returned (it writes ``summary.json`` last), or
``failed`` with the error, its traceback also in ``error.txt``. A run counts as
finished only when ``status.json`` says ``done`` for the same config hash and
``summary.json`` reads as JSON; anything else (a crash, Ctrl-C, SIGKILL, an old
config) is unfinished: a resume continues it from its last checkpoint
(:func:`resumable`), or deletes the folder and runs it again when it has none.
The status file itself is :mod:`rewardlab.runs.folder`'s, shared with ``rewardlab train``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewardlab.config.registry import ConfigError
from rewardlab.runs import folder as run_files
from rewardlab.runs.folder import ERROR_FILE, STATUS_FILE, read_json, read_status, write_json_atomic

SUMMARY_FILE = run_files.SUMMARY_FILE
MANIFEST_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
STATES = ("done", "failed", "running", "pending")
__all__ = ["ERROR_FILE", "STATUS_FILE", "read_json", "read_status", "write_json_atomic"]


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
    if status.get("state") == "running" and run_files.process_alive(status):
        return "running"
    return "pending"


def resumable(run_dir: str | Path, config_hash: str) -> bool:
    """Whether ``run_dir`` holds an unfinished run of this config with a checkpoint to continue from."""
    from rewardlab.runs.checkpoint import latest_checkpoint

    status = read_status(run_dir) or {}
    return (
        status.get("config_hash") == config_hash
        and run_files.is_run_folder(run_dir)
        and not is_finished(run_dir, config_hash)
        and latest_checkpoint(run_dir) is not None
    )


def prepare_run_dir(run_dir: str | Path, config_hash: str) -> Path:
    """Empty ``run_dir`` (removing a partial or failed earlier attempt) and mark it running.

    What a person made there (label stores, demonstrations: ``runs.folder.KEPT_ON_CLEAR``) is kept and reused.
    """
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        run_files.clear(run_dir, keep_status=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    mark(run_dir, "running", config_hash)
    return run_dir


def mark(run_dir: str | Path, state: str, config_hash: str, **extra: Any) -> None:
    """Atomically write ``status.json`` with the state, the config hash, this process and the time."""
    run_files.write_status(run_dir, state, config_hash=config_hash, **extra)


def mark_failed(run_dir: str | Path, config_hash: str, error: BaseException | str, tb: str | None = None) -> str:
    """Record a failed run: ``error.txt`` with the traceback and a ``failed`` status. Returns the message."""
    import traceback

    message = error if isinstance(error, str) else f"{type(error).__name__}: {' '.join(str(error).split())}"
    if tb is None and isinstance(error, BaseException):
        tb = "".join(traceback.format_exception(error))
    run_files.mark_failed(run_dir, message, tb, config_hash=config_hash)
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
