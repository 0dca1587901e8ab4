"""What containment costs: a generated reward program in its sandbox worker vs the same function in process.

For CartPole-v1 and HalfCheetah-v5 with 8 envs, an Eureka-style program (several
components, squashing transforms) is evaluated

* on recorded batches alone (the reward's own cost per batch, as the wrapper calls it), and
* inside a whole ``RewardVecWrapper`` step (env step + reward), which is what training pays,

once by :class:`~rewardlab.codegen.term.GeneratedTerm` (pipe to the contained
worker) and once by the same source ``exec``'d in this process (what Eureka and
Text2Reward do; trusted code only). The two variants alternate in repeated
blocks and medians are reported, so machine load hits both alike. Three clocks:
wall time (what training waits), CPU time of this process plus the worker (what
it costs the machine; from ``/proc/<pid>/schedstat``, nanoseconds), and the
time the worker sat runnable in the run queue waiting for a CPU (the part of
the wall time a busy machine adds). A trivial program (``return {"x": 0.0}``)
measures the fixed per-call cost of the sandbox, with every fence, without the
filesystem fences (Landlock, the empty mount-namespace root) and with none; and
the start-up of a worker (once per program) with and without the filesystem fences.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_codegen_overhead.py
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_codegen_overhead.py --fences-only
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import rewardlab as rl
from rewardlab.codegen import GeneratedTerm, make_program
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions

PROGRAMS = {
    "CartPole-v1": '''
import numpy as np

def compute_reward(obs, next_obs, terminated):
    angle_temperature = 0.1
    upright = np.exp(-np.abs(next_obs[:, 2]) / angle_temperature)
    centred = -0.1 * np.abs(next_obs[:, 0]) / 2.4
    calm = -0.01 * (next_obs[:, 1] ** 2 + next_obs[:, 3] ** 2)
    progress = np.abs(obs[:, 2]) - np.abs(next_obs[:, 2])
    return {"upright": upright, "centred": centred, "calm": calm, "progress": progress,
            "fall": np.where(terminated, -1.0, 0.0)}
''',
    "HalfCheetah-v5": '''
import numpy as np

def compute_reward(obs, action, next_obs):
    speed_scale = 5.0
    forward = np.tanh(next_obs[:, 8] / speed_scale)
    ctrl = -0.05 * np.sum(action ** 2, axis=-1)
    pitch_temperature = 0.5
    posture = np.exp(-np.abs(next_obs[:, 1]) / pitch_temperature) - 1.0
    smooth = -0.001 * np.sum((next_obs[:, 11:] - obs[:, 11:]) ** 2, axis=-1)
    height = -np.abs(next_obs[:, 0])
    return {"forward": forward, "ctrl": ctrl, "posture": posture, "smooth": smooth, "height": height}
''',
}
TRIVIAL = "def compute_reward(obs):\n    return {'x': 0.0}\n"
FILESYSTEM_FENCES = ("landlock", "empty_root")
FENCES = ("seccomp", "privileges", "network_namespace", "rlimits", *FILESYSTEM_FENCES)


class InProcess(RewardTerm):
    """The same program ``exec``'d here, components stacked like the contained term does (benchmark only)."""

    def __init__(self, source: str, fields: tuple[str, ...], components: tuple[str, ...]) -> None:
        super().__init__(name="inprocess")
        self.names = [f"inprocess/{c}" for c in components]
        namespace: dict = {}
        exec(compile(source, "<program>", "exec"), namespace)  # noqa: S102 -- our own trusted benchmark code
        self.fn = namespace["compute_reward"]
        self.fields = fields

    def _values(self, batch: Transitions) -> np.ndarray:
        result = self.fn(**{f: getattr(batch, f) for f in self.fields})
        out = np.empty((len(result), batch.n))
        for row, value in enumerate(result.values()):
            out[row] = value
        return out

    def component_names(self) -> list[str]:
        return list(self.names)

    def compute(self, batch: Transitions) -> np.ndarray:
        return self._values(batch).sum(axis=0)

    def components_into(self, batch: Transitions, out: np.ndarray) -> None:
        out[...] = self._values(batch)


def recorded_batches(env_id: str, n_envs: int, steps: int) -> list[Transitions]:
    venv = rl.make_vec_env(env_id, n_envs, seed=0)
    obs = venv.reset()
    out = []
    for _ in range(steps):
        action = np.array([venv.action_space.sample() for _ in range(n_envs)])
        next_obs, reward, done, _ = venv.step(action)
        out.append(Transitions.from_arrays(obs, action, next_obs, reward, done))
        obs = next_obs
    venv.close()
    return out


def schedstat(pid: int | str) -> tuple[int, int]:
    """(ns on a CPU, ns waiting in the run queue) of a task, from the kernel's scheduler statistics."""
    with open(f"/proc/{pid}/schedstat") as f:
        run, wait, _ = (int(x) for x in f.read().split())
    return run, wait


class Clocks:
    """Wall, CPU (this thread + the worker) and worker run-queue wait over a block, in microseconds per item."""

    def __init__(self, term: RewardTerm) -> None:
        sandbox = getattr(term, "_sandbox", None)
        self.worker = sandbox._proc.pid if sandbox is not None and sandbox.running else None

    def __enter__(self) -> Clocks:
        self.wall = time.perf_counter()
        self.cpu = time.thread_time_ns()
        self.worker_run, self.worker_wait = schedstat(self.worker) if self.worker else (0, 0)
        return self

    def stop(self, items: int) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        cpu = time.thread_time_ns() - self.cpu
        run, wait = schedstat(self.worker) if self.worker else (0, 0)
        cpu += run - self.worker_run
        return {"wall": wall / items * 1e6, "cpu": cpu / items / 1e3, "wait": (wait - self.worker_wait) / items / 1e3}

    def __exit__(self, *exc: object) -> None:
        pass


def time_reward(term: RewardTerm, batches: list[Transitions], rows: int) -> dict[str, float]:
    out = np.empty((rows, batches[0].n))
    with Clocks(term) as clocks:
        for b in batches:
            term.components_into(b, out)
        return clocks.stop(len(batches))


def time_steps(env_id: str, term: RewardTerm, n_envs: int, steps: int, actions: np.ndarray) -> dict[str, float]:
    venv = rl.RewardVecWrapper(rl.make_vec_env(env_id, n_envs, seed=0), term)
    venv.reset()
    venv.step(actions[0])  # the worker is up
    with Clocks(term) as clocks:
        for t in range(steps):
            venv.step(actions[t])
        result = clocks.stop(steps)
    venv.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fences-only", action="store_true", help="only the fixed per-call and start-up costs")
    args = parser.parse_args()
    if not args.fences_only:
        compare_in_process(args)
    price_fences(args)


def compare_in_process(args: argparse.Namespace) -> None:
    print(f"{args.n_envs} envs; medians of {args.repeats} alternating blocks; microseconds per batch (per vector step)")
    print("wall: elapsed; cpu: this thread + the worker; wait: the worker's time runnable but not running\n")
    head = f"{'env':15s} {'measure':14s}"
    for clock in ("wall", "cpu"):
        head += f" | {clock + ' in':>8s} {'contained':>9s} {'ratio':>6s} {'+us':>6s}"
    print(head + f" | {'wait':>6s}")
    for env_id, source in PROGRAMS.items():
        program = make_program(source, env_id)
        contained = GeneratedTerm(program)
        local = InProcess(source, program.fields, program.components)
        batches = recorded_batches(env_id, args.n_envs, args.batches)
        rows = len(program.components)
        contained.components_into(batches[0], np.empty((rows, args.n_envs)))  # start the worker
        reward = {"in": [], "out": []}
        for _ in range(args.repeats):
            reward["in"].append(time_reward(local, batches, rows))
            reward["out"].append(time_reward(contained, batches, rows))
        venv = rl.make_vec_env(env_id, args.n_envs, seed=0)
        actions = np.array([[venv.action_space.sample() for _ in range(args.n_envs)] for _ in range(args.steps)])
        venv.close()
        step = {"in": [], "out": []}
        for _ in range(args.repeats):
            step["in"].append(time_steps(env_id, local, args.n_envs, args.steps, actions))
            step["out"].append(time_steps(env_id, contained, args.n_envs, args.steps, actions))
        for label, data in (("reward only", reward), ("env+reward step", step)):
            line = f"{env_id:15s} {label:14s}"
            for clock in ("wall", "cpu"):
                a = statistics.median(d[clock] for d in data["in"])
                b = statistics.median(d[clock] for d in data["out"])
                line += f" | {a:8.1f} {b:9.1f} {b / a:5.2f}x {b - a:6.1f}"
            print(line + f" | {statistics.median(d['wait'] for d in data['out']):6.1f}")
        contained.close()


def price_fences(args: argparse.Namespace) -> None:
    """Per-call cost with all fences / without the filesystem fences / with none; worker start-up with and without."""
    from rewardlab.codegen.sandbox import Limits

    batches = recorded_batches("CartPole-v1", args.n_envs, args.batches)
    program = make_program(TRIVIAL, "CartPole-v1")
    variants = {"all fences": (), "no filesystem fences": FILESYSTEM_FENCES, "no fences": FENCES}
    terms = {label: GeneratedTerm(program, limits=Limits(allow_unfenced=True)) for label in variants}
    for label, term in terms.items():
        term.components_into(batches[0], np.empty((1, args.n_envs)))
        term._sandbox.close()
        term._sandbox._disable = variants[label]  # benchmark only: a worker without some fences, to price them
        term._sandbox.start()
    print("\nfixed cost of one contained call (a program returning a constant), alternating blocks, medians:")
    runs: dict[str, list] = {label: [] for label in terms}
    for _ in range(args.repeats):
        for label, term in terms.items():
            runs[label].append(time_reward(term, batches, 1))
    base = statistics.median(f["wall"] for f in runs["no fences"])
    for label, data in runs.items():
        wall, cpu, wait = (statistics.median(f[k] for f in data) for k in ("wall", "cpu", "wait"))
        print(f"  {label:22s} wall {wall:6.1f} us ({wall / base:4.2f}x no fences), cpu {cpu:6.1f} us, "
              f"worker waiting for a CPU {wait:6.1f} us")  # fmt: skip
    for term in terms.values():
        term.close()
    print("\nworker start-up (start the process, lock it down, define the program), alternating, medians:")
    starts: dict[str, list[float]] = {"all fences": [], "no filesystem fences": []}
    for _ in range(args.repeats):
        for label in starts:
            term = GeneratedTerm(program, limits=Limits(allow_unfenced=True))
            term.components_into(batches[0], np.empty((1, args.n_envs)))
            sandbox = term._sandbox
            sandbox.close()
            sandbox._disable = variants[label]
            t0 = time.perf_counter()
            sandbox.start()
            starts[label].append((time.perf_counter() - t0) * 1e3)
            term.close()
    ref = statistics.median(starts["no filesystem fences"])
    for label, times in starts.items():
        med = statistics.median(times)
        print(f"  {label:22s} {med:7.1f} ms ({med / ref:4.2f}x, {med - ref:+6.1f} ms)")


if __name__ == "__main__":
    main()
