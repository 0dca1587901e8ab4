"""Throughput of ONI: labels per second against a slow server, and PPO's env steps per second beside it.

Part ``labels``: how fast the annotation service labels ``--labels`` new messages against a local scripted
OpenAI-compatible server in its own process that answers every request after ``--delay`` seconds (plus
``--per-prompt`` s per extra prompt of a list, a stand-in for a GPU batch's cost) and serves at most
``--server-slots`` requests at once (8-way concurrency, as a vLLM or llama.cpp server). Modes, one after the
other in one run, each ``--label-rounds`` times:

* ``today`` -- the service as it was at ``--baseline-rev`` (one chat request per message, a batch of
  ``--batch-size`` waited for as a whole), run from a ``git archive`` of that revision in a subprocess;
* ``concurrent`` -- one chat request per message, ``--concurrency`` in flight, each answer stored as it comes;
* ``prompt_list`` -- ``--batch-size`` prompts per ``/v1/completions`` request, ``--concurrency`` in flight.

The SQLite cost of storing each request's answers at once (durability per request) is measured beside it:
one commit per label against one commit per ``--batch-size`` labels, on a file store in WAL mode.

Part ``sps``: PPO rollout collection on NetHackScore-v0, stacks built side by side in one process and their
rollouts interleaved (off, prompt_list, concurrent, sync, off, ...) so that the shared machine's load falls on
all alike: ``off`` (the extrinsic reward only), ``prompt_list`` and ``concurrent`` (extrinsic + 0.1 × ONI,
classification model, the LLM annotator in the background in that mode), ``sync`` (prompt lists, labelling
inside the step: the contrast); ``--stacks`` picks them (``rules``: the same ONI term labelled by the rule
annotator, no server: what ONI itself costs). Measured: env steps per second during rollout collection (env
steps, policy forward passes, the reward and its ``update``), not during gradient steps; the first rollout of
each stack is a warm-up; each rollout is paired with the ``off`` rollout just before it.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_oni_throughput.py --part all
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_llm import FakeLLMServer, Reply, user_text  # noqa: E402

from rewardlab.oni.annotators import RuleAnnotator  # noqa: E402
from rewardlab.train import RunConfig, build_run  # noqa: E402

QUOTED = re.compile(r'just saw:\n"(.*)"\n\nDoes', re.DOTALL)


class RolloutTimer(BaseCallback):
    """Wall time, env steps and CPU time (the env loop's thread; the whole process) of every rollout collection.

    CPU time does not count the time the loaded machine gave to other jobs, so it compares stacks where wall
    time is noisy: ``thread`` is the work the env loop itself did, ``process`` adds every background thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[tuple[float, int]] = []
        self.cpu: list[tuple[float, float]] = []  # (env-loop thread, process) CPU seconds per rollout
        self._start = self._thread = self._process = 0.0
        self._steps = 0

    def _on_rollout_start(self) -> None:
        self._start, self._steps = time.perf_counter(), self.model.num_timesteps
        self._thread, self._process = time.thread_time(), time.process_time()

    def _on_rollout_end(self) -> None:
        self.rollouts.append((time.perf_counter() - self._start, self.model.num_timesteps - self._steps))
        self.cpu.append((time.thread_time() - self._thread, time.process_time() - self._process))

    def _on_step(self) -> bool:
        return True


def scripted_judge(delay: float):
    """The server's script: the rule annotator's verdict, after ``delay`` seconds."""
    rules = RuleAnnotator()

    def answer(request: dict) -> Reply:
        found = QUOTED.search(user_text(request))
        verdict = rules.score(found.group(1)) if found else 0.0
        return Reply.slow(f'Judging.\n{{"progress": {"true" if verdict else "false"}}}', delay)

    return answer


def _serve(port: int, delay: float, slots: int | None, per_prompt: float) -> None:
    """Child process: the scripted server on ``port`` until killed."""
    server = FakeLLMServer(scripted_judge(delay), port=port, concurrency=slots, per_prompt=per_prompt).start()
    while server.running:
        time.sleep(1.0)


class ServerProcess:
    """The scripted server in its own process, as a real LLM server would be (not sharing our GIL)."""

    def __init__(self, delay: float, slots: int | None = None, per_prompt: float = 0.0) -> None:
        import multiprocessing
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(self.port, delay, slots, per_prompt), daemon=True
        )
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ServerProcess:
        import urllib.request

        self.process.start()
        for _ in range(2400):  # the spawned process imports this module (torch, SB3) first: slow on a busy machine
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the scripted server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(5)


def reward_spec(variant: str, url: str, batch_size: int, concurrency: int) -> list:
    if variant == "off":
        return ["extrinsic"]
    if variant == "rules":  # the same ONI pipeline with the rule annotator: no server, no HTTP, no request threads
        return ["extrinsic", {"term": "oni", "model": "classification", "weight": 0.1, "annotator": {"kind": "rules"},
                              "batch_size": batch_size}]  # fmt: skip
    batching = "concurrent" if variant == "concurrent" else "prompt_list"
    annotator = {"kind": "llm", "base_url": url, "model": "fake-model", "concurrency": concurrency, "timeout": 30.0,
                 "batching": batching}  # fmt: skip
    oni = {"term": "oni", "model": "classification", "weight": 0.1, "annotator": annotator,
           "batch_size": batch_size, "background": variant != "sync"}  # fmt: skip
    return ["extrinsic", oni]


# -- part 1: labels per second ------------------------------------------------------------------------


def measure_labels(url: str, mode: str, n: int, batch_size: int, concurrency: int, tag: str) -> dict:
    """Label ``n`` new messages with the service of whatever ``rewardlab`` is on the path; labels/s and stats."""
    from rewardlab.llm import LLMClient, LLMConfig
    from rewardlab.oni.annotators import LLMAnnotator
    from rewardlab.oni.messages import message_hash
    from rewardlab.oni.service import AnnotationService
    from rewardlab.oni.store import LabelStore, Query

    client = LLMClient(LLMConfig(base_url=url, model="fake-model", concurrency=concurrency, timeout=60.0))
    annotator = LLMAnnotator(client, **({} if mode == "today" else {"batching": mode}))
    texts = [f"You see here {i} gold pieces ({tag})." if i % 3 else f"You hear noise {i} ({tag})." for i in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        store = LabelStore(Path(folder) / "labels.sqlite", prompt_version=annotator.prompt_version,
                           model=annotator.model, goal=annotator.goal)  # fmt: skip
        service = AnnotationService(annotator, store, batch_size=batch_size).start()
        start = time.perf_counter()
        service.submit([Query("classify", message_hash(t), (t,)) for t in texts])
        done = service.wait(timeout=max(120.0, n))
        seconds = time.perf_counter() - start
        service.close()
        counts = store.counts()
        store.close()
    return {"mode": mode, "labels": counts["labels"], "seconds": seconds, "labels_per_s": counts["labels"] / seconds,
            "complete": done, "requests": client.stats["calls"], "errors": service.stats["errors"]}  # fmt: skip


def baseline_source(rev: str) -> str:
    """The package at ``rev`` (``rewardlab/`` with ``envs/`` and ``agents/`` inside), in a temporary folder."""
    folder = tempfile.mkdtemp(prefix="oni_baseline_")
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "rewardlab", "envs", "agents"], check=True,
                             capture_output=True)  # fmt: skip
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    for package in ("envs", "agents"):  # where an installed rewardlab has them: rewardlab.envs, rewardlab.agents
        Path(folder, package).rename(Path(folder, "rewardlab", package))
    return folder


def measure_baseline(source: str, url: str, n: int, batch_size: int, concurrency: int, tag: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, str(Path(__file__).resolve().parents[1] / "tests")])}
    args = [sys.executable, __file__, "--measure-today", url, str(n), str(batch_size), str(concurrency), tag]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def commit_cost(batch_size: int, n: int = 2048) -> dict:
    """Seconds per label to store answers one commit per label vs one commit per ``batch_size`` labels."""
    from rewardlab.oni.store import Label, LabelStore, Query

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, size in (("per_label", 1), ("per_batch", batch_size), ("per_label_again", 1)):
            store = LabelStore(Path(folder) / f"{name}.sqlite", prompt_version="v", model="m", goal="g")
            labels = [Label(Query("classify", f"{name}{i}", (f"message {i}",)), 1.0) for i in range(n)]
            store.add_pending([lab.query for lab in labels])
            start = time.perf_counter()
            for i in range(0, n, size):
                store.put(labels[i : i + size])
            out[name] = (time.perf_counter() - start) / n
            store.close()
    return out


def run_labels(args: argparse.Namespace) -> dict:
    results: dict[str, list[dict]] = {"today": [], "concurrent": [], "prompt_list": []}
    source = baseline_source(args.baseline_rev)
    with ServerProcess(args.delay, args.server_slots, args.per_prompt) as server:
        for r in range(args.label_rounds):
            for mode in results:
                tag = f"{mode}-{r}"
                if mode == "today":
                    res = measure_baseline(source, server.url, args.labels, args.batch_size, args.concurrency, tag)
                else:
                    res = measure_labels(server.url, mode, args.labels, args.batch_size, args.concurrency, tag)
                results[mode].append(res)
                print(f"{mode:>12} round {r + 1}: {res['labels_per_s']:7.1f} labels/s ({res['labels']} labels, "
                      f"{res['requests']} requests, {res['seconds']:.1f} s)", flush=True)  # fmt: skip
    today = float(np.median([r["labels_per_s"] for r in results["today"]]))
    print(f"\nserver: {args.delay} s per request + {args.per_prompt} s per extra prompt, {args.server_slots} slots; "
          f"{args.labels} labels, batch {args.batch_size}, {args.concurrency} in flight")  # fmt: skip
    print("| mode | rounds | labels/s (median) | per round | vs today |")
    print("|---|---|---|---|---|")
    for mode, rs in results.items():
        rates = [r["labels_per_s"] for r in rs]
        print(f"| {mode} | {len(rs)} | {np.median(rates):.1f} | {', '.join(f'{x:.1f}' for x in rates)} | "
              f"{np.median(rates) / today:.1f}× |")  # fmt: skip
    cost = commit_cost(args.batch_size)
    print(f"storing answers: {cost['per_label'] * 1e6:.0f} µs per label with a commit per label "
          f"({cost['per_label_again'] * 1e6:.0f} µs again), {cost['per_batch'] * 1e6:.0f} µs with one commit per "
          f"{args.batch_size}")  # fmt: skip
    return {"labels": results, "commit_seconds_per_label": cost}


# -- part 2: env steps per second --------------------------------------------------------------------


def run_sps(args: argparse.Namespace) -> dict:
    variants = tuple(args.stacks)
    with ServerProcess(args.delay, args.server_slots, args.per_prompt) as server:
        stacks = {}
        for variant in variants:
            spec = reward_spec(variant, server.url, args.batch_size, args.concurrency)
            config = RunConfig(env=args.env, reward=spec, seed=0, n_envs=args.n_envs,
                               hyperparams={"n_steps": 128, "n_epochs": 1})  # fmt: skip
            model, venv, _ = build_run(config)
            stacks[variant] = (model, venv, RolloutTimer())
        per_rollout = args.n_envs * 128
        wanted = {v: (args.sync_rollouts if v == "sync" else args.rollouts) + 1 for v in variants}
        done = dict.fromkeys(stacks, 0)
        while any(done[v] < wanted[v] for v in stacks):
            for variant, (model, _, timer) in stacks.items():
                if done[variant] < wanted[variant]:
                    model.learn(per_rollout, callback=timer, reset_num_timesteps=done[variant] == 0)
                    done[variant] += 1
                    secs, steps = timer.rollouts[-1]
                    print(f"{variant:>11} rollout {done[variant]}: {steps / secs:7.0f} env steps/s", flush=True)
        results = {}
        for variant, (_model, venv, timer) in stacks.items():
            measured = timer.rollouts[1:]
            secs = sum(s for s, _ in measured)
            steps = sum(n for _, n in measured)
            wrapper = venv
            while not hasattr(wrapper, "engine"):
                wrapper = wrapper.venv
            oni_metrics = {k: v for k, v in wrapper.engine.last_update_metrics.items() if k.startswith("oni/")}
            rates = [n / s for s, n in measured]
            cpu = np.array(timer.cpu[1:])
            results[variant] = {"env_steps": steps, "seconds": secs, "steps_per_s": steps / secs,
                                "per_rollout_steps_per_s": rates, "oni": oni_metrics,
                                "thread_cpu_us_per_step": 1e6 * cpu[:, 0].sum() / steps,
                                "process_cpu_us_per_step": 1e6 * cpu[:, 1].sum() / steps}  # fmt: skip
            venv.close()
    off = results["off"]["steps_per_s"]
    off_rates = results["off"]["per_rollout_steps_per_s"]
    for r in results.values():  # rollout k against the "off" rollout k run just before it: the load was alike
        r["paired_ratios"] = [a / b for a, b in zip(r["per_rollout_steps_per_s"], off_rates)]
    print("\n| stack | rollouts | env steps/s (pooled) | pooled vs off | paired ratio: median [min, max] | "
          "env-loop CPU µs/step | process CPU µs/step | labels at the end | queue | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for variant, r in results.items():
        o, pr = r["oni"], r["paired_ratios"]
        print(f"| {variant} | {len(r['per_rollout_steps_per_s'])} | {r['steps_per_s']:.0f} | "
              f"{r['steps_per_s'] / off:.3f}× | {np.median(pr):.3f} [{min(pr):.2f}, {max(pr):.2f}] | "
              f"{r['thread_cpu_us_per_step']:.0f} | {r['process_cpu_us_per_step']:.0f} | "
              f"{o.get('oni/labels', '-')} | {o.get('oni/queue', '-')} | {o.get('oni/errors', '-')} |")  # fmt: skip
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure-today":  # the baseline's subprocess
        url, n, batch_size, concurrency, tag = sys.argv[2:7]
        print(json.dumps(measure_labels(url, "today", int(n), int(batch_size), int(concurrency), tag)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="all", choices=["labels", "sps", "all"])
    parser.add_argument("--env", default="NetHackScore-v0")
    parser.add_argument("--rollouts", type=int, default=6, help="measured rollouts per stack (after one warm-up)")
    parser.add_argument("--sync-rollouts", type=int, default=1, help="measured rollouts of the synchronous stack")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the server takes per request")
    parser.add_argument("--per-prompt", type=float, default=0.01, help="extra seconds per prompt of a list")
    parser.add_argument("--server-slots", type=int, default=8, help="requests the server serves at once")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per list (and the old batch size)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--labels", type=int, default=256, help="messages to label per mode and round")
    parser.add_argument("--label-rounds", type=int, default=2)
    parser.add_argument("--baseline-rev", default="9d5e188", help="git revision of 'today' (before this change)")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--stacks", nargs="+", default=["off", "prompt_list", "concurrent", "sync"],
                        choices=["off", "prompt_list", "concurrent", "sync", "rules"],
                        help="sps: the stacks, 'off' first (rules: ONI labelled by the rule annotator, no server)")
    parser.add_argument("--out", default="benchmarks/results/oni_throughput_batching.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out: dict = {"args": vars(args)}
    if args.part in ("labels", "all"):
        out.update(run_labels(args))
    if args.part in ("sps", "all"):
        out["sps"] = run_sps(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
