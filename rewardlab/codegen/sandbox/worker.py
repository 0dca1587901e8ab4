"""The sandbox worker: runs one generated reward program in a locked-down process.

Started by :class:`rewardlab.codegen.sandbox.process.SandboxProcess` as
``python -I worker.py`` with the protocol pipes on fds 0 and 1. It imports only
the standard library, numpy and (when installed) pyseccomp, never rewardlab.

Before the program's first line runs, the worker

1. asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``);
2. moves the protocol pipes to fds 3/4 and points 0/1/2 at ``/dev/null``;
3. enters a new network namespace where it can (no interfaces: no network);
4. fences the filesystem off, independently of seccomp, with two mechanisms, each
   enough alone: a private mount namespace whose root is an empty read-only
   tmpfs (``chroot``; root, or an unprivileged user namespace), and Landlock
   (Linux >= 5.13, unprivileged) with a ruleset that allows no filesystem access
   at all (and, from Landlock ABI 4/6, no TCP and no signals out). Where neither
   is available the worker refuses to run the program (``FRAME_REFUSED``)
   unless the user accepted the risk (``Limits(allow_unfenced=True)``);
5. closes every other file descriptor and sets resource limits: address
   space (memory), CPU seconds, file size 0, no new file descriptors
   (``RLIMIT_NOFILE`` = 5), no new processes (``RLIMIT_NPROC`` = 0), no core dumps;
6. drops root to ``nobody`` (so the limits cannot be raised and ``RLIMIT_NPROC`` applies);
7. installs a seccomp filter that allows only the system calls a numpy
   computation needs (read/write on the open pipes, memory, futex, signals,
   exit) and fails every other one with ``EPERM`` (no open, socket, clone,
   execve, kill, ptrace ...).

The program then runs with restricted builtins (no ``open``, ``eval``,
``getattr``, ``__import__`` beyond math/numpy). The static ``ast`` check in the
parent is the first line of defence; everything above holds even if a program
gets around it. Each mechanism that is unavailable on this machine is reported
to the parent, which warns once.

Frames are ``<kind: u8><length: u32><payload>``; see the ``FRAME_*`` constants.
"""

from __future__ import annotations

import os
import struct
import sys

# -- protocol (imported by the parent) ------------------------------------------------------
HEADER = struct.Struct("<BI")
FRAME_INIT = 1  # parent → worker: JSON {source, function, fields, shapes, limits, max_components}
FRAME_CALL = 2  # parent → worker: u32 n, then each field's raw bytes (float64, bool as u8)
FRAME_READY = 10  # worker → parent: JSON {mechanisms}
FRAME_NAMES = 11  # worker → parent: JSON list of component names (first successful call)
FRAME_VALUES = 12  # worker → parent: k × n float64, row-major
FRAME_ERROR = 13  # worker → parent: UTF-8 message
FRAME_REFUSED = 14  # worker → parent: UTF-8 message: no filesystem fence here, the program was not run
MAX_ERROR_BYTES = 8192
FILENAME = "<generated>"
PROTO_IN, PROTO_OUT = 3, 4
BOOL_FIELDS = ("terminated", "truncated")

# System calls a running numpy program needs; every other call fails with EPERM.
ALLOWED_SYSCALLS = (
    "read", "readv", "write", "writev", "close", "lseek", "fstat", "newfstatat",
    "mmap", "munmap", "mremap", "brk", "madvise", "mprotect",
    "futex", "sched_yield", "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
    "clock_gettime", "clock_getres", "gettimeofday", "time", "getrusage",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "exit", "exit_group", "getrandom", "restart_syscall",
)  # fmt: skip

SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
    "isinstance", "len", "list", "map", "max", "min", "pow", "range", "reversed", "round", "set",
    "slice", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None",
    "ArithmeticError", "AssertionError", "Exception", "IndexError", "KeyError", "TypeError",
    "ValueError", "ZeroDivisionError", "FloatingPointError", "OverflowError", "RuntimeError",
)  # fmt: skip
IMPORTABLE = ("math", "numpy", "typing")


# -- framing -------------------------------------------------------------------------------
class FrameReader:
    """Read whole frames from ``fd`` with as few system calls as possible (one for a small frame)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()

    def _fill(self, size: int) -> None:
        while len(self.buf) < size:
            chunk = os.read(self.fd, max(1 << 16, size - len(self.buf)))
            if not chunk:
                raise EOFError
            self.buf += chunk

    def frame(self) -> tuple[int, bytearray]:
        self._fill(HEADER.size)
        kind, length = HEADER.unpack_from(self.buf)
        self._fill(HEADER.size + length)
        payload = self.buf[HEADER.size : HEADER.size + length]
        del self.buf[: HEADER.size + length]
        return kind, payload


def send(fd: int, kind: int, *parts: bytes | memoryview) -> None:
    chunks = [HEADER.pack(kind, sum(len(p) for p in parts)), *parts]
    total = sum(len(c) for c in chunks)
    sent = os.writev(fd, chunks)
    if sent < total:  # the pipe was full: write the rest
        rest = memoryview(b"".join(bytes(c) for c in chunks))[sent:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def send_error(fd: int, message: str) -> None:
    send(fd, FRAME_ERROR, message.encode("utf-8", "replace")[:MAX_ERROR_BYTES])


# -- containment ---------------------------------------------------------------------------
def _libc():  # noqa: ANN202
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def set_parent_death_signal() -> str:
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        if _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return "unavailable (prctl failed)"
    except (OSError, AttributeError) as err:
        return f"unavailable ({err})"
    return "on"


def enter_network_namespace() -> str:
    """A fresh network namespace has only a downed loopback: no network at all."""
    import ctypes

    CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
    libc = _libc()
    # root with CAP_SYS_ADMIN directly; anyone else (root without capabilities too) inside a new user namespace
    if libc.unshare(CLONE_NEWNET) == 0 or libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        return "on"
    return f"unavailable ({os.strerror(ctypes.get_errno())})"


LANDLOCK_CREATE_RULESET, LANDLOCK_RESTRICT_SELF = 444, 446  # the same numbers on every architecture
LANDLOCK_FS_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}  # handled filesystem rights: bits 0..n-1
PR_SET_NO_NEW_PRIVS = 38


def enter_landlock() -> str:
    """Landlock (Linux >= 5.13): deny every filesystem right everywhere, TCP bind/connect, signals out.

    A ruleset that *handles* every access right the kernel knows and *allows* none:
    no file can be opened, read, written, created, removed, renamed, linked,
    truncated or executed, at any path, from now on (the pipes already open stay
    usable). From ABI 4 TCP bind/connect are refused too; from ABI 6 so are
    signals to processes outside this one and abstract unix sockets. Needs no
    privilege (``PR_SET_NO_NEW_PRIVS`` instead).
    """
    import ctypes

    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 0:
        return f"unavailable (Landlock: {os.strerror(ctypes.get_errno())})"
    fs = (1 << LANDLOCK_FS_BITS_BY_ABI.get(abi, 16)) - 1
    net = 0b11 if abi >= 4 else 0
    scoped = 0b11 if abi >= 6 else 0
    attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
    size = 8 * (3 if abi >= 6 else 2 if abi >= 4 else 1)
    create = ctypes.c_long(LANDLOCK_CREATE_RULESET)
    fd = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        return f"unavailable (Landlock ruleset: {os.strerror(ctypes.get_errno())})"
    try:
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"unavailable (no_new_privs: {os.strerror(ctypes.get_errno())})"
        if libc.syscall(ctypes.c_long(LANDLOCK_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            return f"unavailable (Landlock restrict: {os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    return f"on (ABI {abi}: no filesystem access at all" + (", no TCP" if net else "") + ")"


def enter_empty_root(mount_point: str) -> str:
    """A private mount namespace whose root is an empty, read-only tmpfs (``chroot``): no file is reachable.

    Root does it directly; an unprivileged user inside a new user namespace. The
    tmpfs is mounted over ``mount_point`` only in this process's own namespace.
    """
    import ctypes

    CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 0x40000
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0 and libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        return f"unavailable (mount namespace: {os.strerror(ctypes.get_errno())})"
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"unavailable (private mounts: {os.strerror(ctypes.get_errno())})"
    flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    if libc.mount(b"none", mount_point.encode(), b"tmpfs", flags, b"size=4k,nr_inodes=1,mode=0555") != 0:
        return f"unavailable (empty tmpfs: {os.strerror(ctypes.get_errno())})"
    try:
        os.chdir(mount_point)
        os.chroot(".")
        os.chdir("/")
    except OSError as err:
        return f"unavailable (chroot: {err.strerror})"
    return "on (private mount namespace, chroot into an empty read-only tmpfs)"


def filesystem_fence_refusal(mechanisms: dict) -> str | None:
    """The one-line refusal when neither filesystem fence holds, else ``None``."""
    if any(str(mechanisms.get(k, "")).startswith("on") for k in ("landlock", "empty_root")):
        return None
    return (
        "refused to run generated code: no filesystem fence on this machine "
        f"(landlock: {mechanisms.get('landlock')}; empty root: {mechanisms.get('empty_root')}); "
        "without one, a program that gets past the static check could read and write your files. "
        "Accept the risk with --allow-unfenced-code (Limits(allow_unfenced=True), YAML allow_unfenced: true)"
    )


def load_seccomp_module():  # noqa: ANN201
    """pyseccomp (over the system's libseccomp), imported before lock-down, or the reason it is missing."""
    try:
        import pyseccomp

        return pyseccomp, None
    except Exception as err:  # noqa: BLE001 -- ImportError, or RuntimeError when libseccomp is missing
        return None, f"unavailable (pyseccomp: {err}; pip install pyseccomp, apt install libseccomp2)"


def address_space_bytes() -> int:
    """This process's address space now (read before the filesystem fences hide ``/proc``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def set_limits(memory_mb: float, cpu_seconds: float, current: int) -> dict[str, str]:
    import resource

    out = {}
    limits = {
        "RLIMIT_AS": current + int(memory_mb * 2**20),
        "RLIMIT_CPU": max(1, int(cpu_seconds)),
        "RLIMIT_FSIZE": 0,
        "RLIMIT_CORE": 0,
        "RLIMIT_NOFILE": PROTO_OUT + 1,
        "RLIMIT_NPROC": 0,
        "RLIMIT_MEMLOCK": 0,
    }
    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
            out[name] = str(value)
        except (ValueError, OSError) as err:
            out[name] = f"unavailable ({err})"
    return out


def drop_privileges() -> str:
    if os.geteuid() != 0:
        return f"already unprivileged (uid {os.geteuid()})"
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError as err:
        return f"unavailable ({err})"
    return "nobody (uid 65534)"


def install_seccomp(pyseccomp) -> str:  # noqa: ANN001
    import errno

    try:
        filt = pyseccomp.SyscallFilter(defaction=pyseccomp.ERRNO(errno.EPERM))
        arch = pyseccomp.system_arch()
        for name in ALLOWED_SYSCALLS:
            try:
                pyseccomp.resolve_syscall(arch, name)
            except Exception:  # noqa: BLE001 -- not a syscall on this architecture (e.g. 'time' on arm64)
                continue
            filt.add_rule(pyseccomp.ALLOW, name)
        filt.load()
    except Exception as err:  # noqa: BLE001
        return f"unavailable ({type(err).__name__}: {err})"
    return f"on ({len(ALLOWED_SYSCALLS)} system calls allowed, others fail with EPERM)"


def restricted_builtins() -> dict:
    import builtins

    safe = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}

    def restricted_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002, ANN001, ANN202
        top = name.split(".")[0]
        if level != 0 or top not in IMPORTABLE:
            raise ImportError(f"import of {name!r} is not allowed; available modules: math, numpy")
        return sys.modules[top] if not fromlist else sys.modules[name]

    safe["__import__"] = restricted_import
    return safe


# -- running the program -------------------------------------------------------------------
def program_error(err: BaseException, lines: list[str]) -> str:
    """``line N: `code`: Type: message`` for the deepest frame inside the program."""
    import traceback

    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == FILENAME]
    where = ""
    if frames:
        lineno = frames[-1].lineno or 0
        code = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
        where = f"line {lineno}: `{code}`: "
    return f"{where}{type(err).__name__}: {err}"


def check_components(result, n: int, names: list[str] | None, max_components: int, np):  # noqa: ANN001, ANN201
    """``(values (k, n) float64, names, None)`` for an acceptable result, else ``(None, None, reason)``."""
    if type(result) is not dict:
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
            return None, None, "returned a (total, components) tuple; return only the dict (its sum is the reward)"
        kind = type(result).__name__
        return None, None, f"returned {kind}; it must return a dict of named components {{name: array}}"
    keys = list(result)
    if names is None:
        import re

        if not 1 <= len(keys) <= max_components:
            return None, None, f"returned {len(keys)} components; return between 1 and {max_components}"
        for key in keys:
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,39}", key):
                return None, None, f"component name {key!r} is not an identifier of at most 40 characters"
    elif keys != names:
        return None, None, f"returned components {keys}, but the first call returned {names}; keep them the same"
    out = np.empty((len(keys), n))
    for row, key in enumerate(keys):
        value = result[key]
        try:
            out[row] = value
        except (TypeError, ValueError) as err:
            shape = getattr(value, "shape", None)
            if shape is None:
                return None, None, f"component {key!r} is not numeric ({type(value).__name__}: {err})"
        shape = getattr(value, "shape", ())
        if shape not in ((), (n,)):  # numpy would broadcast (1,), (1, n) ... silently: refuse
            hint = " (reduce the last axis, e.g. .sum(axis=-1))" if len(shape) == 2 and shape[0] == n else ""
            return None, None, f"component {key!r} has shape {tuple(shape)}; expected ({n},), one value per env{hint}"
    if not np.isfinite(out).all():
        for row, key in enumerate(keys):
            bad = ~np.isfinite(out[row])
            if bad.any():
                kind = "NaN" if np.isnan(out[row][bad]).any() else "infinite"
                first = int(np.flatnonzero(bad)[0])
                return None, None, f"component {key!r} is {kind} in {int(bad.sum())} of {n} rows (first: row {first})"
    return out, keys, None


def main() -> None:  # noqa: C901 -- one straight sequence of lock-down steps
    import json

    mechanisms = {"parent_death_signal": set_parent_death_signal()}
    os.dup2(0, PROTO_IN)
    os.dup2(1, PROTO_OUT)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    mechanisms["network_namespace"] = "pending"

    import builtins
    import ctypes  # noqa: F401 -- the fences below run after the filesystem is gone: load what they use now
    import math  # noqa: F401 -- loaded for the program
    import re  # noqa: F401 -- used after lock-down, when no module can be loaded from disk
    import resource  # noqa: F401
    import traceback  # noqa: F401
    import typing  # noqa: F401

    import numpy as np

    pyseccomp, seccomp_missing = load_seccomp_module()
    reader = FrameReader(PROTO_IN)
    try:
        kind, payload = reader.frame()
        init = json.loads(bytes(payload))
    except EOFError:
        return
    if kind != FRAME_INIT:
        send_error(PROTO_OUT, f"protocol: expected an init frame, got kind {kind}")
        return
    source = init["source"]
    lines = source.splitlines()
    try:
        code = compile(source, FILENAME, "exec", flags=__import__("__future__").annotations.compiler_flag)
    except SyntaxError as err:
        send_error(PROTO_OUT, f"line {err.lineno}: SyntaxError: {err.msg}")
        return

    os.closerange(PROTO_OUT + 1, 65536)
    limits = init["limits"]
    off = set(init.get("disable", ()))  # for tests and benchmarks: fences to leave off; never set by rewardlab
    current = address_space_bytes()
    mechanisms["network_namespace"] = "off" if "network_namespace" in off else enter_network_namespace()
    mount_point = os.path.dirname(os.path.abspath(__file__))
    mechanisms["empty_root"] = "off" if "empty_root" in off else enter_empty_root(mount_point)
    mechanisms["landlock"] = "off" if "landlock" in off else enter_landlock()
    refusal = filesystem_fence_refusal(mechanisms)
    if refusal and not limits.get("allow_unfenced", False):
        send(PROTO_OUT, FRAME_REFUSED, refusal.encode())
        return
    mechanisms["rlimits"] = {} if "rlimits" in off else set_limits(limits["memory_mb"], limits["cpu_seconds"], current)
    mechanisms["privileges"] = "off" if "privileges" in off else drop_privileges()
    mechanisms["seccomp"] = "off" if "seccomp" in off else (seccomp_missing or install_seccomp(pyseccomp))

    env = {"__builtins__": restricted_builtins(), "__name__": "generated", "np": np, "numpy": np}
    env["math"] = sys.modules["math"]
    try:
        exec(code, env)  # noqa: S102 -- contained: see the module docstring
    except BaseException as err:  # noqa: BLE001 -- any failure of the module body is the program's error
        send_error(PROTO_OUT, program_error(err, lines))
        return
    fn = env.get(init["function"])
    if not callable(fn):
        send_error(PROTO_OUT, f"the program defines no function {init['function']!r}")
        return
    fields = init["fields"]
    shapes = {f: tuple(init["shapes"][f]) for f in fields}
    dtypes = {f: np.dtype(np.bool_ if f in BOOL_FIELDS else np.float64) for f in fields}
    row_bytes = {f: int(np.prod(shapes[f], dtype=np.int64)) * dtypes[f].itemsize for f in fields}
    max_components = int(init["max_components"])
    send(PROTO_OUT, FRAME_READY, json.dumps({"mechanisms": mechanisms}).encode())
    del builtins

    names = None
    layouts: dict[int, list] = {}  # batch size → [(field, shape, dtype, offset)]
    while True:
        try:
            kind, payload = reader.frame()
        except EOFError:
            return
        (n,) = struct.unpack_from("<I", payload)
        layout = layouts.get(n)
        if layout is None:
            layout, offset = [], 4
            for f in fields:
                layout.append((f, (n, *shapes[f]), dtypes[f], offset))
                offset += n * row_bytes[f]
            layouts[n] = layout
        args = {f: np.ndarray(shape, dtype, buffer=payload, offset=off) for f, shape, dtype, off in layout}
        try:
            values, keys, problem = check_components(fn(**args), n, names, max_components, np)
        except BaseException as err:  # noqa: BLE001 -- MemoryError, RecursionError ... are the program's
            values, keys, problem = None, None, program_error(err, lines)
        if problem is not None:
            send_error(PROTO_OUT, problem)
            continue
        if names is None:
            names = keys
            send(PROTO_OUT, FRAME_NAMES, json.dumps(names).encode())
        send(PROTO_OUT, FRAME_VALUES, memoryview(values).cast("B"))


if __name__ == "__main__":
    main()
