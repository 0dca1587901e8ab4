"""Containment of generated programs with the static check bypassed: the worker process alone must hold.

Each hostile program below would be refused by ``check_program``; here it goes
straight to :class:`SandboxProcess`, as if that check had a hole, and reaches the
interpreter's real ``os`` module through ``object.__subclasses__()``.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

from rewardlab.codegen.sandbox import Limits, ProgramError, SandboxKilled, SandboxProcess
from rewardlab.codegen.sandbox import process as sandbox_process

OS = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__"
BUILTINS = OS + "['__builtins__']"
CTYPES = BUILTINS + "['__import__']('ctypes')"
OBS = np.arange(12, dtype=np.float64).reshape(4, 3)


def run(source: str, *, limits: Limits = Limits(call_timeout=2.0), disable: tuple[str, ...] = ()) -> np.ndarray:
    sandbox = SandboxProcess(source, fields=["obs"], shapes={"obs": (3,)}, limits=limits)
    sandbox._disable = disable
    try:
        return sandbox.call({"obs": OBS})
    finally:
        sandbox.close()


def program(*body: str) -> str:
    return "import numpy as np\ndef compute_reward(obs):\n" + "".join(f"    {line}\n" for line in body)


def test_a_good_program_runs_with_every_fence_up():
    sandbox = SandboxProcess(program("return {'x': obs[:, 0], 'c': 1.0}"), fields=["obs"], shapes={"obs": (3,)})
    mechanisms = sandbox.start()
    values = sandbox.call({"obs": OBS})
    sandbox.close()
    np.testing.assert_array_equal(values, [OBS[:, 0], np.ones(4)])
    assert sandbox.names == ["x", "c"]
    assert mechanisms["rlimits"]["RLIMIT_NOFILE"] == "5"
    assert mechanisms["rlimits"]["RLIMIT_FSIZE"] == "0"
    # where seccomp is missing, dropping root to nobody (or never having been root) must hold
    assert mechanisms["seccomp"].startswith("on") or not mechanisms["privileges"].startswith("unavailable")


FENCES = [(), ("seccomp", "network_namespace")]  # everything; and the fall-back without seccomp


@pytest.mark.parametrize("disable", FENCES, ids=["all-fences", "without-seccomp"])
def test_file_reads_and_writes_fail(tmp_path, disable):
    secret = tmp_path / "secret.txt"
    secret.write_text("42")
    os.chmod(tmp_path, 0o777)
    with pytest.raises(ProgramError, match=r"line 4: .*(PermissionError|OSError).*(not permitted|Too many open files)"):
        run(program("b = " + BUILTINS, f"data = b['open']({str(secret)!r}).read()", "return {'x': obs[:, 0]}"),
            disable=disable)  # fmt: skip
    target = tmp_path / "written.txt"
    with pytest.raises(ProgramError, match=r"(PermissionError|OSError)"):
        run(program("b = " + BUILTINS, f"b['open']({str(target)!r}, 'w').write('x')", "return {'x': obs[:, 0]}"),
            disable=disable)  # fmt: skip
    assert not target.exists()


@pytest.mark.parametrize("disable", FENCES, ids=["all-fences", "without-seccomp"])
def test_processes_cannot_be_started(tmp_path, disable):
    marker = tmp_path / "pwned"
    os.chmod(tmp_path, 0o777)
    values = run(program(f"status = {OS}['system']('touch {marker}')", "return {'status': float(status)}"),
                 disable=disable)  # fmt: skip
    assert values[0, 0] != 0  # the shell never ran
    assert not marker.exists()
    start = time.monotonic()
    with pytest.raises(ProgramError, match=r"line 5: `g\[.fork.\]\(\)`: (PermissionError|BlockingIOError)"):
        run(program(f"g = {OS}", "while True:", "    g['fork']()", "return {'x': obs[:, 0]}"), disable=disable)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("disable", FENCES, ids=["all-fences", "without-seccomp"])
def test_no_network(disable):
    values = run(program(f"libc = {CTYPES}.CDLL(None)", "return {'fd': float(libc.socket(2, 1, 0))}"), disable=disable)
    assert values[0, 0] == -1
    with pytest.raises(ProgramError, match="socket"):
        run(program(f"s = {BUILTINS}['__import__']('socket')", "return {'x': obs[:, 0]}"), disable=disable)


def test_the_parent_cannot_be_signalled_and_privileges_stay_dropped():
    with pytest.raises(ProgramError, match=r"PermissionError"):
        run(program(f"g = {OS}", "g['kill'](g['getppid'](), 9)", "return {'x': obs[:, 0]}"))
    values = run(program(f"libc = {CTYPES}.CDLL(None)", "libc.setuid(0)", "return {'uid': float(libc.getuid())}"))
    assert values[0, 0] != 0 or os.geteuid() != 0
    with pytest.raises(ProgramError, match="not allowed to raise maximum limit"):
        run(program(f"r = {BUILTINS}['__import__']('resource')", "r.setrlimit(r.RLIMIT_NOFILE, (64, 64))",
                    "return {'x': obs[:, 0]}"))  # fmt: skip


def test_the_worker_sees_none_of_our_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    values = run(program(f"env = {OS}['environ']", "return {'leak': float('OPENAI_API_KEY' in env)}"))
    assert values[0, 0] == 0


def test_an_endless_loop_is_killed_at_the_timeout():
    sandbox = SandboxProcess(program("while True:", "    pass"), fields=["obs"], shapes={"obs": (3,)},
                             limits=Limits(call_timeout=0.5))  # fmt: skip
    start = time.monotonic()
    with pytest.raises(SandboxKilled, match=r"timed out after 0.5 s while computing a batch and was killed"):
        sandbox.call({"obs": OBS})
    assert time.monotonic() - start < 5
    assert not sandbox.running


@pytest.mark.parametrize(
    "body",
    [
        ["x = [np.ones(10 ** 6) for _ in range(100)]", "return {'x': obs[:, 0]}"],
        ["x = [1] * (10 ** 10)", "return {'x': obs[:, 0]}"],
        ["x = np.ones((1 << 40,))", "return {'x': obs[:, 0]}"],
    ],
    ids=["800MB-of-arrays", "list-bomb", "8TiB-array"],
)
def test_memory_bombs_fail_with_memory_error(body):
    with pytest.raises(ProgramError, match=r"line 3: .*MemoryError"):
        run(program(*body), limits=Limits(memory_mb=128, call_timeout=10.0))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["return {'x': obs[:, 0] * np.nan}"], "component 'x' is NaN in 4 of 4 rows (first: row 0)"),
        (["return {'x': np.where(obs[:, 0] > 3, np.inf, 0.0)}"], "'x' is infinite in 2 of 4 rows (first: row 2)"),
        (["return {'x': obs}"], "component 'x' has shape (4, 3); expected (4,), one value per env (reduce the last"),
        (["return {'x': np.zeros(10 ** 7)}"], "component 'x' has shape (10000000,); expected (4,)"),
        (["return obs[:, 0], {'x': obs[:, 0]}"], "returned a (total, components) tuple"),
        (["return obs[:, 0]"], "returned ndarray; it must return a dict of named components"),
        (["return {'not valid': obs[:, 0]}"], "component name 'not valid' is not an identifier"),
        (["return {f'c{i}': obs[:, 0] for i in range(40)}"], "returned 40 components; return between 1 and 16"),
        (["return {'x': 'fast'}"], "component 'x' is not numeric"),
        (["return compute_reward(obs)"], "line 3: `return compute_reward(obs)`: RecursionError"),
        (["return {'x': obs[:, 7]}"], "line 3: `return {'x': obs[:, 7]}`: IndexError"),
    ],
)
def test_bad_outputs_are_refused_with_the_reason(body, message):
    with pytest.raises(ProgramError) as info:
        run(program(*body))
    assert message in str(info.value)


def test_huge_writes_to_stdout_go_nowhere_and_protocol_forgery_kills_the_worker():
    values = run(program(f"{OS}['write'](1, b'x' * 10 ** 7)", "return {'x': obs[:, 0]}"))
    np.testing.assert_array_equal(values[0], OBS[:, 0])
    with pytest.raises(SandboxKilled, match="protocol violation"):
        run(program(f"{OS}['write'](4, b'\\x0c\\xff\\xff\\xff\\x7f' + b'x' * 100)", "return {'x': obs[:, 0]}"))


def test_components_must_stay_the_same_between_calls():
    source = program("if obs[0, 0] > 100:", "    return {'y': obs[:, 0]}", "return {'x': obs[:, 0]}")
    with SandboxProcess(source, fields=["obs"], shapes={"obs": (3,)}) as sandbox:
        sandbox.call({"obs": OBS})
        with pytest.raises(ProgramError, match=r"returned components \['y'\], but the first call returned \['x'\]"):
            sandbox.call({"obs": OBS + 1000})
        np.testing.assert_array_equal(sandbox.call({"obs": OBS})[0], OBS[:, 0])  # the worker lives on


def test_a_crashed_worker_is_reported_and_replaced():
    source = program("if obs[0, 0] > 100:", f"    {OS}['_exit'](3)", "return {'x': obs[:, 0]}")
    with SandboxProcess(source, fields=["obs"], shapes={"obs": (3,)}) as sandbox:
        with pytest.raises(SandboxKilled, match="exited with status 3 while computing a batch"):
            sandbox.call({"obs": OBS + 1000})
        np.testing.assert_array_equal(sandbox.call({"obs": OBS})[0], OBS[:, 0])


def test_missing_fences_warn_once_naming_them():
    sandbox_process._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sandbox_process._warn_missing({"seccomp": "unavailable (no libseccomp)", "rlimits": {"RLIMIT_AS": "5"}})
        sandbox_process._warn_missing({"seccomp": "unavailable (no libseccomp)", "rlimits": {"RLIMIT_AS": "5"}})
    assert len(caught) == 1
    assert "seccomp: unavailable (no libseccomp)" in str(caught[0].message)
