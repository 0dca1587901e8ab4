"""The second fence around generated code: each fence tested with the others switched off.

A program that walks generator frames (``gen.gi_frame.f_back.f_globals``) reaches
the worker's own ``os`` module without any import or underscore name. The static
check must refuse it (first fence); and with that check bypassed *and* seccomp
switched off, the filesystem fences (Landlock, an empty mount namespace; each
alone) must still stop it creating, writing, reading or connecting to anything.
Where neither filesystem fence exists the worker refuses to run programs unless
the user accepted the risk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile

import numpy as np
import pytest

from rewardlab.codegen.sandbox import Limits, SandboxProcess, SandboxUnavailable, check_fences
from rewardlab.codegen.validate import ValidationError, check_program
from rewardlab.config.registry import ConfigError

OBS = np.arange(6, dtype=np.float64).reshape(2, 3)
# the escape of the issue: a running generator's frame → compute_reward's frame → the worker's main() → its globals
WORKER_OS = [
    "box = []",
    "gen = (box[0].gi_frame.f_back.f_back.f_globals['os'] for _ in [0])",
    "box.append(gen)",
    "for found in gen:",
    "    os_ = found",
]


def program(*body: str) -> str:
    return "import numpy as np\ndef compute_reward(obs):\n" + "".join(f"    {line}\n" for line in body)


def attempt(name: str, *lines: str) -> list[str]:
    """Lines that set ``name`` to 1.0 when ``lines`` run without an error, else 0.0 (the program may use try)."""
    return ["try:", *[f"    {line}" for line in lines], f"    {name} = 1.0", "except Exception:", f"    {name} = 0.0"]


@pytest.fixture
def open_dir():
    """A directory anyone may write in (``tmp_path`` sits under a root-only folder the worker could not reach)."""
    path = tempfile.mkdtemp(prefix="rewardlab-fence-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def fences_here() -> dict:
    """The fences this machine offers (a kernel without Landlock, or without user namespaces, lacks one)."""
    return check_fences(Limits(allow_unfenced=True))


def _skip_unless_on(fences_here: dict, disable: tuple[str, ...]) -> None:
    for fence in ("landlock", "empty_root"):
        if fence not in disable and not fences_here[fence].startswith("on"):
            pytest.skip(f"this machine has no {fence}: {fences_here[fence]}")


def run(source: str, disable: tuple[str, ...], limits: Limits = Limits(call_timeout=5.0)) -> tuple[np.ndarray, dict]:
    sandbox = SandboxProcess(source, fields=["obs"], shapes={"obs": (3,)}, limits=limits)
    sandbox._disable = disable
    try:
        mechanisms = sandbox.start()
        return sandbox.call({"obs": OBS}), mechanisms
    finally:
        sandbox.close()


# -- first fence: the static check -------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "construct"),
    [
        ("x = (y for y in [0]).gi_frame.f_back.f_globals['os']", ".gi_frame"),
        ("x = (y for y in [0]).gi_frame.f_back.f_globals['os']", ".f_back"),
        ("x = (y for y in [0]).gi_frame.f_back.f_globals['os']", ".f_globals"),
        ("x = (y for y in [0]).gi_code.co_consts", ".gi_code"),
        ("x = (y for y in [0]).gi_code.co_consts", ".co_consts"),
        ("x = obs.cr_frame.f_locals", ".cr_frame"),
        ("x = obs.ag_frame.f_builtins", ".ag_frame"),
        ("x = obs.tb_frame.f_locals", ".tb_frame"),
        ("x = obs.co_code", ".co_code"),
        ("x = '{0.__globals__}'.format(compute_reward)", "attribute .format"),
        ("x = '{0.__globals__}'.format(compute_reward)", "format field {0.__globals__}"),
        ("x = str.format('{0.gi_frame}', obs)", "attribute .format"),
        ("x = '{a[os]}'.format_map(obs)", "attribute .format_map"),
        ("x = f\"{'{0.__globals__}'}\"", "format field {0.__globals__}"),
        ("x = f'{{0.f_globals}}'", "format field {0.f_globals}"),
        ("x = '{0[os]:{1.y}}'", "format field {1.y}"),
    ],
)
def test_the_static_check_refuses_frame_code_and_format_introspection_naming_it(line, construct):
    with pytest.raises(ValidationError) as info:
        check_program(program(line, "return {'x': obs[:, 0]}"))
    assert construct in str(info.value), str(info.value)


def test_the_static_check_still_accepts_plain_f_strings_and_braces():
    check_program(program("label = f'{obs.shape[0]} envs {{literal}}'", "return {'x': obs[:, 0]}"))


# -- second fence: the filesystem, with seccomp off and the static check bypassed ---------------
# rlimits off too: RLIMIT_NOFILE = 5 alone would make every open() and socket() fail, hiding what the fence does
FS_FENCES = [("seccomp", "rlimits"), ("seccomp", "rlimits", "landlock"), ("seccomp", "rlimits", "empty_root")]
FS_IDS = ["landlock+empty-root", "empty-root-alone", "landlock-alone"]


@pytest.mark.parametrize("disable", FS_FENCES, ids=FS_IDS)
def test_a_frame_walking_program_reaches_os_but_creates_writes_reads_and_connects_nothing(
    open_dir, disable, fences_here
):
    _skip_unless_on(fences_here, disable)
    secret = os.path.join(open_dir, "secret.txt")
    with open(secret, "w") as f:
        f.write("42")
    os.chmod(secret, 0o644)
    made, written = os.path.join(open_dir, "made"), os.path.join(open_dir, "written.txt")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    unix_path = os.path.join(open_dir, "unix.sock")
    unix_server = socket.socket(socket.AF_UNIX)
    unix_server.bind(unix_path)
    os.chmod(unix_path, 0o777)
    unix_server.listen(4)
    unix_server.settimeout(0.2)
    source = program(
        *WORKER_OS,
        "ct = os_.sys.modules['ctypes']",
        "libc = ct.CDLL(None)",
        "B = os_.sys.modules['builtins']",
        *attempt("created", f"os_.mkdir({made!r})"),
        *attempt("wrote", f"fd = os_.open({written!r}, os_.O_WRONLY | os_.O_CREAT, 0o666)", "os_.write(fd, b'x')"),
        *attempt("read", f"fd = os_.open({secret!r}, os_.O_RDONLY)", "assert os_.read(fd, 2) == b'42'"),
        *attempt("listed", f"assert 'secret.txt' in os_.listdir({open_dir!r})"),
        "addr = ct.create_string_buffer(16)",
        f"addr.raw = (2).to_bytes(2, 'little') + ({port}).to_bytes(2, 'big') + B.bytes([127, 0, 0, 1]) + B.bytes(8)",
        "fd = libc.socket(2, 1, 0)",
        "tcp = float(fd >= 0 and libc.connect(fd, addr, 16) == 0)",
        "uaddr = ct.create_string_buffer(110)",
        f"uaddr.raw = (1).to_bytes(2, 'little') + {unix_path.encode()!r} + B.bytes(108 - {len(unix_path.encode())})",
        "ufd = libc.socket(1, 1, 0)",
        "unix = float(ufd >= 0 and libc.connect(ufd, uaddr, 110) == 0)",
        "return {'created': created, 'wrote': wrote, 'read': read, 'listed': listed, 'tcp': tcp, 'unix': unix}",
    )
    try:
        values, mechanisms = run(source, disable)
        connections = []
        for srv in (server, unix_server):
            with contextlib.suppress(TimeoutError):
                connections.append(srv.accept()[0])
    finally:
        server.close()
        unix_server.close()
    assert mechanisms["seccomp"] == "off"
    outcome = dict(zip(["created", "wrote", "read", "listed", "tcp", "unix"], values[:, 0]))
    if "empty_root" in disable:  # Landlock (ABI <= 7) does not cover connecting to a pathname unix socket: a
        outcome.pop("unix")  # documented limit; the empty root does (see the README's "Generated code")
        connections = [c for c in connections if c.family != socket.AF_UNIX]
    assert outcome == dict.fromkeys(outcome, 0.0), (outcome, mechanisms)
    assert sorted(os.listdir(open_dir)) == ["secret.txt", "unix.sock"]
    assert not connections


def test_the_frame_walk_really_reaches_the_workers_os_without_the_fences(open_dir):
    """The escape is real: with every fence off (and the risk accepted) the same walk reaches ``os``."""
    off = ("seccomp", "landlock", "empty_root", "network_namespace", "rlimits", "privileges")
    values, _ = run(program(*WORKER_OS, "return {'pid': float(os_.getpid())}"), off, Limits(allow_unfenced=True))
    assert values[0, 0] > 1


def test_without_any_filesystem_fence_the_worker_refuses_before_the_program_runs(open_dir):
    marker = os.path.join(open_dir, "ran")
    module_level = "".join(line + "\n" for line in WORKER_OS)  # the walk works at module level too
    source = f"{module_level}os_.mkdir({marker!r})\n" + program("return {'x': obs[:, 0]}")
    with pytest.raises(SandboxUnavailable) as info:
        run(source, ("seccomp", "landlock", "empty_root"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("refused to run generated code: no filesystem fence on this machine")
    assert "landlock: off; empty root: off" in message and "--allow-unfenced-code" in message
    assert not os.path.exists(marker)
    # accepting the risk runs it (a harmless program: nothing guards the files now)
    harmless = program("return {'x': obs[:, 0]}")
    values, mechanisms = run(harmless, ("landlock", "empty_root"), Limits(allow_unfenced=True))
    np.testing.assert_array_equal(values[0], OBS[:, 0])
    assert mechanisms["landlock"] == mechanisms["empty_root"] == "off"


def test_this_machine_has_a_filesystem_fence_and_reports_it(fences_here):
    if not any(fences_here[k].startswith("on") for k in ("landlock", "empty_root")):
        pytest.skip(f"no filesystem fence on this machine: {fences_here}; generated code is refused here")
    mechanisms = check_fences()  # by default: refuses where there is none
    assert (mechanisms["landlock"], mechanisms["empty_root"]) == (fences_here["landlock"], fences_here["empty_root"])


def test_the_codegen_loop_refuses_an_unfenced_machine_once_up_front(tmp_path, monkeypatch, capsys):
    from rewardlab.cli.main import main
    from rewardlab.codegen import GenerationStore
    from rewardlab.codegen.loop import CodegenLoop, LoopConfig

    monkeypatch.setattr(SandboxProcess, "_disable", ("landlock", "empty_root"))
    config = LoopConfig(env="CartPole-v1", task="balance", rounds=1, candidates=2, steps=64)
    with pytest.raises(ConfigError, match=r"^codegen: refused to run generated code: no filesystem fence"):
        CodegenLoop(config, tmp_path / "loop", model="m", store=GenerationStore(tmp_path / "s"), log=None)
    code = main(["codegen", "--env", "CartPole-v1", "--task", "balance", "--model", "m",
                 "--store", str(tmp_path / "s"), "--out", str(tmp_path / "cli")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("refused to run generated code") == 1 and "--allow-unfenced-code" in err
    loop = CodegenLoop(config, tmp_path / "ok", model="m", store=GenerationStore(tmp_path / "s"), log=None,
                       allow_unfenced=True)  # fmt: skip
    assert loop.limits.allow_unfenced
    assert loop._reward_entry(type("C", (), {"program_id": "abc"})())["allow_unfenced"] is True


def test_a_generated_term_on_an_unfenced_machine_fails_in_one_line_naming_the_option(monkeypatch):
    from rewardlab.codegen import GeneratedTerm, make_program
    from rewardlab.core.transitions import Transitions

    source = "import numpy as np\ndef compute_reward(next_obs):\n    return {'up': next_obs[:, 0]}\n"
    program = make_program(source, "CartPole-v1")
    monkeypatch.setattr(SandboxProcess, "_disable", ("landlock", "empty_root"))
    batch = Transitions.from_arrays(np.zeros((2, 4)), np.zeros(2, dtype=np.int64), np.ones((2, 4)))
    with pytest.raises(ConfigError, match=r"^refused to run generated code: .*allow_unfenced") as info:
        GeneratedTerm(program).compute(batch)
    assert "\n" not in str(info.value)
    term = GeneratedTerm(program, limits=Limits(allow_unfenced=True))
    np.testing.assert_array_equal(term.compute(batch), [1.0, 1.0])
    term.close()
