"""The parent side of the sandbox: a warm worker process per program, batches over a pipe.

:class:`SandboxProcess` starts ``worker.py`` in its own session (process group)
with a stripped environment, sends it the program once, then one frame per
batch. Every read has a deadline: a call that takes longer than
``Limits.call_timeout`` kills the whole process group. What the worker sends
back is never unpickled or evaluated: frames are a kind byte, a length and raw
float64 values or short UTF-8/JSON text, each checked against its expected size
before it is read, so a worker that escaped every other fence can still only
hand back numbers, which are checked for shape and finiteness again here.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.codegen.sandbox import worker as proto

WORKER_PATH = str(Path(proto.__file__).resolve())
MAX_TEXT_BYTES = 65536
_warned: set[str] = set()



@dataclass(frozen=True)
class Limits:
    """What a generated program may use.

    Args:
        memory_mb: address space the program may add to the worker (``RLIMIT_AS``).
        cpu_seconds: CPU seconds over the worker's whole life (``RLIMIT_CPU``; a backstop).
        call_timeout: wall-clock seconds per batch before the worker is killed.
        startup_timeout: seconds for the worker to start and define the function.
        max_components: most named components a program may return.
        allow_unfenced: run programs even where neither filesystem fence (Landlock, an empty
            mount namespace) is available; by default such a machine refuses (:class:`SandboxUnavailable`).

    Examples:
        >>> from rewardlab.codegen import Limits
        >>> Limits(memory_mb=256, call_timeout=2.0).call_timeout
        2.0
    """

    memory_mb: float = 512.0
    cpu_seconds: float = 3600.0
    call_timeout: float = 5.0
    startup_timeout: float = 60.0
    max_components: int = 16
    allow_unfenced: bool = False


class SandboxError(RuntimeError):
    """A generated program failed; the message says what it did, where, and why it was stopped.

    The base of :class:`ProgramError` (the program's own fault; the worker lives on) and
    :class:`SandboxKilled` (the worker was stopped); catch it to handle both.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.codegen import SandboxError, SandboxProcess
        >>> source = "def compute_reward(next_obs):\\n    return {'x': np.log(next_obs[:, 0])}"
        >>> with SandboxProcess(source, fields=["next_obs"], shapes={"next_obs": (2,)}) as box:
        ...     try:
        ...         box.call({"next_obs": np.array([[-1.0, 0.0]])})
        ...     except SandboxError as exc:
        ...         print(type(exc).__name__, exc)
        ProgramError component 'x' is NaN in 1 of 1 rows (first: row 0)
    """


class ProgramError(SandboxError):
    """The program raised, or returned something that is not one finite value per env per component.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.codegen import ProgramError, SandboxProcess
        >>> source = "def compute_reward(next_obs):\\n    return {'x': next_obs[:, 5]}"   # no column 5
        >>> with SandboxProcess(source, fields=["next_obs"], shapes={"next_obs": (2,)}) as box:
        ...     try:
        ...         box.call({"next_obs": np.zeros((3, 2))})
        ...     except ProgramError as exc:
        ...         print(str(exc).splitlines()[-1])
        line 2: `return {'x': next_obs[:, 5]}`: IndexError: index 5 is out of bounds for axis 1 with size 2
        >>> # the worker lives on: the next call runs in the same process
    """


class SandboxKilled(SandboxError):
    """The worker was killed (timeout, protocol violation) or died (a limit, a crash).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.codegen import Limits, SandboxKilled, SandboxProcess
        >>> source = "def compute_reward(next_obs):\\n    while True:\\n        pass"
        >>> with SandboxProcess(source, fields=["next_obs"], shapes={"next_obs": (2,)},
        ...                     limits=Limits(call_timeout=0.5)) as box:
        ...     try:
        ...         box.call({"next_obs": np.zeros((1, 2))})
        ...     except SandboxKilled as exc:
        ...         print(str(exc).split(" (")[0])
        timed out after 0.5 s while computing a batch and was killed
    """


class SandboxUnavailable(SandboxError):
    """This machine cannot fence generated code off the filesystem and the user did not accept the risk.

    Examples:
        >>> from rewardlab.codegen.sandbox import Limits, SandboxUnavailable, check_fences
        >>> try:
        ...     fences = check_fences(Limits())
        ... except SandboxUnavailable:                   # neither Landlock nor a mount namespace here:
        ...     fences = check_fences(Limits(allow_unfenced=True))   # run anyway, knowingly
        >>> fences["rlimits"]["RLIMIT_FSIZE"]            # the program may not write a byte
        '0'
    """


def _describe_exit(code: int | None, limits: Limits) -> str:
    if code is None:
        return "is still running"
    if code >= 0:
        return f"exited with status {code}"
    sig = -code
    reasons = {
        signal.SIGXCPU: f"exceeded its CPU-time limit ({limits.cpu_seconds:g} s)",
        signal.SIGKILL: "was killed (SIGKILL: a limit of the machine, or the parent)",
        signal.SIGSEGV: "crashed (segmentation fault)",
        signal.SIGSYS: "made a forbidden system call",
        signal.SIGXFSZ: "tried to write a file",
        signal.SIGABRT: "aborted",
    }
    return reasons.get(sig, f"was killed by signal {signal.Signals(sig).name}")


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def worker_env() -> dict[str, str]:
    """The worker's whole environment: no secrets (API keys) from ours, one thread per BLAS."""
    return {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
    }


class SandboxProcess:
    """Run ``function`` of ``source`` in a contained worker, one call per batch.

    Args:
        source: the program's code.
        fields: the arguments the function takes, in order (``obs``, ``action``, ``next_obs``,
            ``terminated``, ``truncated``).
        shapes: per field, the shape of one row (``()`` for flags).
        function: the function to call.
        limits: memory, CPU and time limits (:class:`Limits`).

    ``call(arrays)`` returns a ``(k, n)`` float64 array, one row per named
    component (``names``, fixed by the first call). A program error raises
    :class:`ProgramError` and keeps the worker; a timeout, a protocol violation
    or a dead worker raises :class:`SandboxKilled` and the next call starts a
    fresh worker.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.codegen import SandboxProcess
        >>> source = "def compute_reward(next_obs):\\n    return {'height': next_obs[:, 0], 'speed': next_obs[:, 1]}"
        >>> with SandboxProcess(source, fields=["next_obs"], shapes={"next_obs": (2,)}) as box:
        ...     values = box.call({"next_obs": np.array([[0.5, 0.01], [-0.3, 0.0]])})
        >>> box.names, values                                # (components, envs)
        (['height', 'speed'], array([[ 0.5 , -0.3 ],
               [ 0.01,  0.  ]]))
    """

    _disable: tuple[str, ...] = ()  # tests and benchmarks only: fences to leave off, to test each alone or price them

    def __init__(
        self,
        source: str,
        *,
        fields: Sequence[str],
        shapes: Mapping[str, Sequence[int]],
        function: str = "compute_reward",
        limits: Limits = Limits(),
    ) -> None:
        self.source = source
        self.fields = list(fields)
        self.shapes = {f: tuple(int(d) for d in shapes[f]) for f in self.fields}
        self.function = function
        self.limits = limits
        self.names: list[str] | None = None
        self.mechanisms: dict[str, Any] = {}
        self.calls = 0
        self._proc: subprocess.Popen | None = None
        self._finalizer: weakref.finalize | None = None
        self._buf = bytearray()
        self._pollers: dict[int, Any] = {}

    # -- life cycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> dict[str, Any]:
        """Start the worker and define the program; return the containment mechanisms in force."""
        if self.running:
            return self.mechanisms
        self.close()
        proc = subprocess.Popen(
            [sys.executable, "-I", WORKER_PATH],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=worker_env(),
            start_new_session=True,
            close_fds=True,
        )
        self._proc = proc
        self._finalizer = weakref.finalize(self, _kill_group, proc)
        self._buf.clear()
        self._pollers = {}
        for fd, event in ((proc.stdin.fileno(), select.POLLOUT), (proc.stdout.fileno(), select.POLLIN)):
            self._pollers[fd] = select.poll()
            self._pollers[fd].register(fd, event | select.POLLHUP | select.POLLERR)
        os.set_blocking(proc.stdin.fileno(), False)
        init = {
            "source": self.source,
            "function": self.function,
            "fields": self.fields,
            "shapes": {f: list(s) for f, s in self.shapes.items()},
            "limits": asdict(self.limits),
            "max_components": self.limits.max_components,
            "disable": list(self._disable),
        }
        deadline = time.monotonic() + self.limits.startup_timeout
        self._send(proto.FRAME_INIT, [json.dumps(init).encode()], deadline, "starting")
        kind, payload = self._recv(deadline, "starting", {proto.FRAME_READY, proto.FRAME_ERROR, proto.FRAME_REFUSED})
        if kind == proto.FRAME_REFUSED:
            self.close()
            raise SandboxUnavailable(payload.decode("utf-8", "replace"))
        if kind == proto.FRAME_ERROR:
            message = payload.decode("utf-8", "replace")
            self.close()
            raise ProgramError(message)
        self.mechanisms = json.loads(payload)["mechanisms"]
        _warn_missing(self.mechanisms)
        return self.mechanisms

    def close(self) -> None:
        """Kill the worker (the next call starts a fresh one)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------
    def call(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Evaluate the program on one batch: ``(k, n)`` float64, rows in the order of ``names``."""
        if not self.running:
            self.start()
        n = len(arrays[self.fields[0]])
        parts: list[Any] = [struct.pack("<I", n)]
        for f in self.fields:
            dtype = np.bool_ if f in proto.BOOL_FIELDS else np.float64
            a = np.ascontiguousarray(arrays[f], dtype=dtype)
            if a.shape != (n, *self.shapes[f]):
                raise ValueError(f"field {f!r} has shape {a.shape}; the program was set up for {(n, *self.shapes[f])}")
            parts.append(memoryview(a).cast("B"))
        deadline = time.monotonic() + self.limits.call_timeout
        self._send(proto.FRAME_CALL, parts, deadline, "computing a batch")
        expected = {proto.FRAME_VALUES, proto.FRAME_ERROR, proto.FRAME_NAMES}
        kind, payload = self._recv(deadline, "computing a batch", expected, n=n)
        if kind == proto.FRAME_ERROR:
            raise ProgramError(payload.decode("utf-8", "replace"))
        if kind == proto.FRAME_NAMES:
            self._set_names(payload)
            kind, payload = self._recv(deadline, "computing a batch", {proto.FRAME_VALUES}, n=n)
        if self.names is None:
            self._violation("sent values before naming its components")
        values = np.frombuffer(payload, dtype=np.float64).reshape(len(self.names), n)
        if not np.isfinite(values).all():
            self._violation("sent non-finite values that its own check should have refused")
        self.calls += 1
        return values

    def _set_names(self, payload: bytes) -> None:
        try:
            names = json.loads(payload)
        except ValueError:
            names = None
        if not (isinstance(names, list) and names and all(isinstance(x, str) for x in names)):
            self._violation("sent malformed component names")
        if len(names) > self.limits.max_components:
            self._violation(f"named {len(names)} components (at most {self.limits.max_components})")
        if self.names is not None and names != self.names:
            raise ProgramError(f"returned components {names}; this program returned {self.names} before")
        self.names = names

    # -- framing ----------------------------------------------------------------------------
    def _send(self, kind: int, parts: list[Any], deadline: float, doing: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        fd = self._proc.stdin.fileno()
        chunks = [proto.HEADER.pack(kind, sum(len(p) for p in parts)), *parts]
        total = sum(len(c) for c in chunks)
        try:
            sent = os.writev(fd, chunks)
            if sent < total:
                rest = memoryview(b"".join(bytes(c) for c in chunks))[sent:]
                while rest:
                    self._wait(fd, select.POLLOUT, deadline, doing)
                    rest = rest[os.write(fd, rest) :]
        except BlockingIOError:
            self._wait(fd, select.POLLOUT, deadline, doing)
            self._send(kind, parts, deadline, doing)
        except (BrokenPipeError, ConnectionResetError):
            self._died(doing)

    def _recv(self, deadline: float, doing: str, expected: set[int], n: int = 0) -> tuple[int, bytes]:
        kind, length = proto.HEADER.unpack(self._read(proto.HEADER.size, deadline, doing))
        if kind not in expected:
            self._violation(f"sent a frame of kind {kind} while {doing}")
        limit = {
            proto.FRAME_VALUES: 8 * n * len(self.names or ()),
            proto.FRAME_ERROR: proto.MAX_ERROR_BYTES,
            proto.FRAME_REFUSED: proto.MAX_ERROR_BYTES,
        }.get(kind, MAX_TEXT_BYTES)
        if (kind == proto.FRAME_VALUES and length != limit) or length > limit:
            self._violation(f"announced {length} bytes for a frame of kind {kind} (expected at most {limit})")
        return kind, self._read(length, deadline, doing)

    def _read(self, size: int, deadline: float, doing: str) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while len(self._buf) < size:
            self._wait(fd, select.POLLIN, deadline, doing)
            chunk = os.read(fd, max(65536, size - len(self._buf)))
            if not chunk:
                self._died(doing)
            self._buf += chunk
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def _wait(self, fd: int, event: int, deadline: float, doing: str) -> None:
        poller = self._pollers[fd]
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            timeout = self.limits.startup_timeout if doing == "starting" else self.limits.call_timeout
            self.close()
            raise SandboxKilled(
                f"timed out after {timeout:g} s while {doing} and was killed "
                "(an endless loop, or far too much work per batch?)"
            )

    def _died(self, doing: str) -> None:
        proc = self._proc
        code = proc.wait(timeout=10) if proc is not None else None
        self.close()
        raise SandboxKilled(f"the program's process {_describe_exit(code, self.limits)} while {doing}")

    def _violation(self, what: str) -> None:
        self.close()
        raise SandboxKilled(f"protocol violation: the worker {what}; killed")


def check_fences(limits: Limits = Limits()) -> dict[str, Any]:
    """Start a worker with a trivial program: the fences in force here, or :class:`SandboxUnavailable`.

    Lets a caller that will run many programs (the codegen loop) refuse once, up front,
    on a machine with no filesystem fence, instead of once per program.

    Examples:
        >>> from rewardlab.codegen.sandbox import check_fences
        >>> fences = check_fences()                      # what `rewardlab codegen` checks before a loop
        >>> fences["parent_death_signal"], "seccomp" in fences
        ('on', True)
    """
    source = "def compute_reward(obs):\n    return {'zero': obs[:, 0] * 0.0}\n"
    with SandboxProcess(source, fields=["obs"], shapes={"obs": (1,)}, limits=limits) as sandbox:
        return sandbox.mechanisms


def _warn_missing(mechanisms: Mapping[str, Any]) -> None:
    """Warn once per process about each containment mechanism this machine lacks."""
    flat = {k: v for k, v in mechanisms.items() if isinstance(v, str)}
    flat.update({f"rlimit {k}": v for k, v in mechanisms.get("rlimits", {}).items()})
    missing = {k: v for k, v in flat.items() if v.startswith("unavailable")}
    key = ",".join(sorted(missing))
    if missing and key not in _warned:
        _warned.add(key)
        detail = "; ".join(f"{k}: {v}" for k, v in missing.items())
        warnings.warn(
            f"codegen sandbox runs with fewer fences on this machine ({detail}). The others still hold; "
            "see rewardlab.codegen.sandbox.worker for the list.",
            RuntimeWarning,
            stacklevel=3,
        )
