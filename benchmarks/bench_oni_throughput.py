"""Throughput of ONI: PPO rollout collection on NetHackScore-v0 with the LLM annotator in the background.

Three stacks, side by side in one process, their rollouts interleaved (A B C A B C ...) so that the
shared machine's load falls on all alike:

* ``off`` -- the extrinsic reward only (no LLM reward);
* ``async`` -- extrinsic + 0.1 × ONI (classification model) with an LLM annotator on a local scripted
  OpenAI-compatible server, in its own process as a real server would be, that answers every request after
  ``--delay`` seconds (concurrency = batch size, so one batch takes ``--delay`` s); the worker thread labels
  while the env loop goes on;
* ``sync`` -- the same, but labelling inside the step (``background: false``): the contrast.

Measured: env steps per second during rollout collection (PPO's ``collect_rollouts``: env steps,
policy forward passes, the reward and its ``update``), not during gradient steps. The first rollout of
each stack is a warm-up and is not counted.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_oni_throughput.py --rollouts 6
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch
from stable_baselines3.common.callbacks import BaseCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_llm import FakeLLMServer, Reply, user_text  # noqa: E402

from rewardlab.oni.annotators import RuleAnnotator  # noqa: E402
from rewardlab.train import RunConfig, build_run  # noqa: E402

QUOTED = re.compile(r'just saw:\n"(.*)"\n\nDoes', re.DOTALL)


class RolloutTimer(BaseCallback):
    """Wall time and env steps of every rollout collection."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[tuple[float, int]] = []
        self._start = 0.0
        self._steps = 0

    def _on_rollout_start(self) -> None:
        self._start, self._steps = time.perf_counter(), self.model.num_timesteps

    def _on_rollout_end(self) -> None:
        self.rollouts.append((time.perf_counter() - self._start, self.model.num_timesteps - self._steps))

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


def _serve(port: int, delay: float) -> None:
    """Child process: the scripted server on ``port`` until killed."""
    server = FakeLLMServer(scripted_judge(delay), port=port).start()
    while server.running:
        time.sleep(1.0)


class ServerProcess:
    """The scripted server in its own process, as a real LLM server would be (not sharing our GIL)."""

    def __init__(self, delay: float) -> None:
        import multiprocessing
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(self.port, delay), daemon=True)
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ServerProcess:
        import urllib.request

        self.process.start()
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the scripted server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(5)


def reward_spec(variant: str, url: str, batch_size: int) -> list:
    if variant == "off":
        return ["extrinsic"]
    annotator = {"kind": "llm", "base_url": url, "model": "fake-model", "concurrency": batch_size, "timeout": 30.0}
    oni = {"term": "oni", "model": "classification", "weight": 0.1, "annotator": annotator,
           "batch_size": batch_size, "background": variant == "async"}  # fmt: skip
    return ["extrinsic", oni]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="NetHackScore-v0")
    parser.add_argument("--rollouts", type=int, default=6, help="measured rollouts per stack (after one warm-up)")
    parser.add_argument("--sync-rollouts", type=int, default=2, help="measured rollouts of the synchronous stack")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the server takes per batch")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results/oni_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with ServerProcess(args.delay) as server:
        stacks = {}
        for variant in ("off", "async", "sync"):
            config = RunConfig(env=args.env, reward=reward_spec(variant, server.url, args.batch_size), seed=0,
                               n_envs=args.n_envs, hyperparams={"n_steps": 128, "n_epochs": 1})  # fmt: skip
            model, venv, _ = build_run(config)
            stacks[variant] = (model, venv, RolloutTimer())
        per_rollout = args.n_envs * 128
        wanted = {"off": args.rollouts + 1, "async": args.rollouts + 1, "sync": args.sync_rollouts + 1}
        done = dict.fromkeys(stacks, 0)
        while any(done[v] < wanted[v] for v in stacks):
            for variant, (model, _, timer) in stacks.items():
                if done[variant] < wanted[variant]:
                    model.learn(per_rollout, callback=timer, reset_num_timesteps=done[variant] == 0)
                    done[variant] += 1
                    secs, steps = timer.rollouts[-1]
                    print(f"{variant:>5} rollout {done[variant]}: {steps / secs:7.0f} env steps/s", flush=True)
        results = {}
        for variant, (_model, venv, timer) in stacks.items():
            measured = timer.rollouts[1:]
            secs = sum(s for s, _ in measured)
            steps = sum(n for _, n in measured)
            rates = [n / s for s, n in measured]
            wrapper = venv
            while not hasattr(wrapper, "engine"):
                wrapper = wrapper.venv
            oni_metrics = {k: v for k, v in wrapper.engine.last_update_metrics.items() if k.startswith("oni/")}
            results[variant] = {"env_steps": steps, "seconds": secs, "steps_per_s": steps / secs,
                                "per_rollout_steps_per_s": rates, "oni": oni_metrics}  # fmt: skip
            venv.close()
    off = results["off"]["steps_per_s"]
    print("\n| stack | rollouts | env steps/s (collection) | vs LLM reward off | labels at the end | queue | errors |")
    print("|---|---|---|---|---|---|---|")
    for variant, r in results.items():
        o = r["oni"]
        print(f"| {variant} | {len(r['per_rollout_steps_per_s'])} | {r['steps_per_s']:.0f} | "
              f"{r['steps_per_s'] / off:.3f}× | {o.get('oni/labels', '-')} | {o.get('oni/queue', '-')} | "
              f"{o.get('oni/errors', '-')} |")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results,
                                          "ratio_async_vs_off": results["async"]["steps_per_s"] / off,
                                          "ratio_sync_vs_off": results["sync"]["steps_per_s"] / off}, indent=2))
    print(f"async / off = {results['async']['steps_per_s'] / off:.3f}, sync / off = "
          f"{results['sync']['steps_per_s'] / off:.3f}  (written to {args.out})")


if __name__ == "__main__":
    main()
