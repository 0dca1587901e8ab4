"""A run folder: the files one training run writes, its status, and who may write into it.

Layout (every file belongs to one run; :func:`claim` refuses to mix two)::

    config.yaml        the resolved run config (reward spec, hyper-parameters)
    status.json        {"state": running|interrupted|failed|done, "step", "pid", "host", "time", "error"}
    error.txt          the traceback of a failed run
    progress.csv, tb/  SB3's scalar log and TensorBoard events (appended on resume)
    reward_terms.csv   one row per training episode: each term's sum, the true return
    checkpoint/        the last checkpoint while the run is unfinished (see rewardlab.runs.checkpoint)
    model.zip, vecnormalize.pkl, reward_state.pt, summary.json, reward_terms.png   written at the end
    labels.sqlite, oni_labels.sqlite, *.npz, clips/   what a person (or a paid LLM) made: never deleted (clear())

``summary.json`` is written last: its presence (with status ``done``) marks a finished run.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import fnmatch
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewardlab.config.registry import ConfigError

CONFIG_FILE = "config.yaml"
STATUS_FILE = "status.json"
ERROR_FILE = "error.txt"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.zip"
VECNORMALIZE_FILE = "vecnormalize.pkl"
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
REWARD_TERMS_FILE = "reward_terms.csv"
PROGRESS_FILE = "progress.csv"
TENSORBOARD_DIR = "tb"
#: what a person (or a paid LLM) made in a run folder: answers to preference queries (``labels.sqlite``), ONI's
#: LLM labels (``oni_labels.sqlite``), demonstrations (``*.npz``), the clips a person watched. Clearing a run
#: folder (``--overwrite``, a restart without a checkpoint, a sweep rerunning a run) never deletes these.
KEPT_ON_CLEAR = ("*.sqlite", "*.sqlite-journal", "*.sqlite-wal", "*.sqlite-shm", "*.npz", "clips")
#: status keys that survive a status update (a sweep's config hash)
KEPT_STATUS_KEYS = ("config_hash",)
RUN_STATES = ("running", "interrupted", "failed", "done")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the whole new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json(path: str | Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``status.json`` (``None`` when missing or unreadable)."""
    status = read_json(Path(run_dir) / STATUS_FILE)
    return status if isinstance(status, dict) else None


def write_status(run_dir: str | Path, state: str, **extra: Any) -> dict[str, Any]:
    """Atomically write ``status.json``: the state, this process, the time, ``extra``; keeps a sweep's config hash."""
    old = read_status(run_dir) or {}
    status = {k: old[k] for k in KEPT_STATUS_KEYS if k in old}
    status.update(state=state, host=socket.gethostname(), pid=os.getpid(), time=time.strftime("%Y-%m-%dT%H:%M:%S"))
    status.update(extra)
    write_json_atomic(Path(run_dir) / STATUS_FILE, status)
    return status


def mark_failed(run_dir: str | Path, message: str, traceback_text: str | None = None, **extra: Any) -> None:
    """Record a failed run: the traceback (or message) in ``error.txt``, the message in ``status.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ERROR_FILE).write_text(traceback_text or message)
    write_status(run_dir, "failed", error=message, **extra)


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a run that started training (it has ``config.yaml``)."""
    return (Path(path) / CONFIG_FILE).is_file()


def is_finished(path: str | Path) -> bool:
    """Whether the run in ``path`` finished: its ``summary.json`` (written after every other final file) reads."""
    return isinstance(read_json(Path(path) / SUMMARY_FILE), dict)


def describe(path: str | Path) -> str:
    """``"finished"``, ``"failed"``, ``"interrupted"``, ... : how the run in ``path`` stands, for messages."""
    path = Path(path)
    status = read_status(path) or {}
    state = status.get("state")
    if is_finished(path):
        return "finished"
    if state == "running" and not process_alive(status):
        return "unfinished (its process is gone)"
    return {"running": "running", "failed": "failed", "interrupted": "interrupted"}.get(state, "unfinished")


def process_alive(status: dict[str, Any]) -> bool:
    """False when ``status`` names a process on this host that no longer exists."""
    if status.get("host") != socket.gethostname() or not isinstance(status.get("pid"), int):
        return True
    try:
        os.kill(status["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_writable(out: Path) -> None:
    """Fail with one line when ``out`` is a file or cannot be created or written."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run folder {str(out)!r} is a file; give a folder for --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create run folder {str(out)!r}: {err.strerror or err}") from err
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into run folder {str(out)!r} (permission denied)")


def claim(out: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Check that a run may train into ``out``; with ``overwrite``, empty it first.

    A folder that holds a run (``config.yaml``) is refused unless ``resume``
    (continue it) or ``overwrite`` (delete it and start over) is given, so two
    runs never write into one folder. A non-empty folder that is not a run
    folder is refused too (``overwrite`` does not delete what rewardlab did
    not write). Nothing is written here except the folder itself.
    """
    out = Path(out)
    if resume and overwrite:
        raise ConfigError("--resume continues a run and --overwrite deletes it: give one of them")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run folder {str(out)!r} is a file; give a folder for --out")
    holds_run = is_run_folder(out)
    if resume:
        if not holds_run:
            raise ConfigError(f"{str(out)!r} holds no run to resume (no {CONFIG_FILE}); start one with --out")
    elif holds_run:
        if not overwrite:
            if is_finished(out):
                raise ConfigError(
                    f"run folder {str(out)!r} already holds a finished run; pass --overwrite to train it again "
                    "from the start, or choose another --out"
                )
            raise ConfigError(
                f"run folder {str(out)!r} already holds a {describe(out)} run; pass --resume to continue it, "
                "--overwrite to delete it and start over, or choose another --out"
            )
        clear(out)
    elif out.exists() and any(not _run_leftover(p.name) for p in out.iterdir()):
        raise ConfigError(
            f"{str(out)!r} is not empty and is not a run folder; choose a new or empty folder for --out"
        )
    check_writable(out)
    return out


def _run_leftover(name: str) -> bool:
    """What may be in a folder that is not a run folder yet: a status, an error, what a person made."""
    return name in (STATUS_FILE, ERROR_FILE) or kept_on_clear(name)


def kept_on_clear(name: str) -> bool:
    """Whether a file or folder called ``name`` in a run folder is something a person made (see ``KEPT_ON_CLEAR``)."""
    return any(fnmatch.fnmatch(name, pattern) for pattern in KEPT_ON_CLEAR)


def clear(out: Path, *, keep_status: bool = True) -> list[str]:
    """Delete what the run in ``out`` wrote; return the names kept.

    Kept: what a person made (label stores, demonstrations, clips: ``KEPT_ON_CLEAR``), which the next run in the
    folder reuses, and the status (a sweep's config hash) unless ``keep_status`` is false.
    """
    kept = []
    for child in sorted(out.iterdir()):
        if kept_on_clear(child.name):
            kept.append(child.name)
            continue
        if child.name == STATUS_FILE and keep_status:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    return kept


@contextlib.contextmanager
def run_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder while training, so two processes never write into it.

    The OS drops the lock when the process dies, so a killed run never leaves a stale one.
    """
    fd = os.open(out, os.O_RDONLY)  # a lock on the folder itself: no lock file to leave behind
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            status = read_status(out) or {}
            who = f" (pid {status['pid']})" if "pid" in status else ""
            raise ConfigError(f"another process{who} is training in {str(out)!r}; wait for it or stop it") from None
        yield
    finally:
        os.close(fd)


def truncate_csv(path: str | Path, column: str, last: float) -> int:
    """Keep the header and the rows of a CSV whose ``column`` is ``<= last``; return the rows kept.

    On resume the logs are cut back to the checkpoint's step, so episodes and
    updates logged after it by the interrupted process are not counted twice.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open(newline="") as f:
        lines = f.readlines()
    header = next(csv.reader([lines[0]]))
    if column not in header:
        return len(lines) - 1
    index = header.index(column)
    kept = [lines[0]]
    for line in lines[1:]:
        row = next(csv.reader([line]), [])
        if not line.endswith("\n") or len(row) <= index:  # a row cut short by a kill
            continue
        try:
            if float(row[index]) <= last:
                kept.append(line)
        except ValueError:
            continue
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(kept))
    os.replace(tmp, path)
    return len(kept) - 1
