"""Learning with ONI at a CPU-sized budget: PPO on MiniHack-KeyRoom-S5-v0, with and without the ONI reward.

KeyRoom: pick up a key, open a locked door with it, reach the stairs behind (reward 1 there); its
messages mark the sub-goals ("You see here a key named ...", "g - a key named ...", "You succeed in
unlocking the door."), which is where an intrinsic reward on messages can help. Variants:

* ``extrinsic`` -- the task reward only;
* ``oni_rules`` -- extrinsic + ``--weight`` × ONI (classification model, β = 3) labelled by the
  rule-based annotator (offline, instant);
* ``oni_server`` -- the same with the LLM annotator on a local scripted OpenAI-compatible server that
  answers like the rules after ``--delay`` s per batch: the whole asynchronous pipeline end to end
  (labels arrive late; the env loop does not wait).

Every training episode is recorded (step, success, length, whether the key was picked up), and, at each
rollout end, the ONI metrics (unique messages met, labels, share labelled). One JSON per run in ``--out``
(``--resume`` skips finished runs); the script prints a markdown table for benchmarks/README.md.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_oni_learning.py --steps 30000 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_oni_throughput import scripted_judge  # noqa: E402
from fake_llm import FakeLLMServer  # noqa: E402

from rewardlab.cli.train_cmd import parse_overrides  # noqa: E402
from rewardlab.oni.messages import decode  # noqa: E402
from rewardlab.train import RunConfig, build_run  # noqa: E402

VARIANTS = ("extrinsic", "oni_rules", "oni_server")
PICKED_KEY = re.compile(r"^[a-zA-Z] - .*\bkey\b")


class Recorder(BaseCallback):
    """Training episodes (step, success, length, key picked up) and ONI metrics at each rollout end."""

    def __init__(self, engine) -> None:
        super().__init__()
        self.engine = engine
        self.episodes: list[dict] = []
        self.oni: list[dict] = []
        self._key: np.ndarray | None = None

    def _on_step(self) -> bool:
        messages = self.locals["new_obs"]["message"]
        if self._key is None:
            self._key = np.zeros(len(messages), dtype=bool)
        for i, m in enumerate(messages):
            if m[0] and PICKED_KEY.search(decode(m)):
                self._key[i] = True
        for i, (done, info) in enumerate(zip(self.locals["dones"], self.locals["infos"])):
            if done:
                self.episodes.append({"step": int(self.num_timesteps), "success": bool(info.get("is_success")),
                                      "length": int(info["episode"]["l"]), "key": bool(self._key[i])})  # fmt: skip
                self._key[i] = False
        return True

    def _on_rollout_end(self) -> None:
        metrics = {k.split("/", 1)[1]: v for k, v in self.engine.last_update_metrics.items() if k.startswith("oni/")}
        if metrics:
            self.oni.append({"step": int(self.num_timesteps), **metrics})


def reward_spec(variant: str, weight: float, url: str | None) -> list:
    if variant == "extrinsic":
        return ["extrinsic"]
    if variant == "oni_rules":
        annotator = {"kind": "rules", "goal": "default"}
    else:
        annotator = {"kind": "llm", "base_url": url, "model": "fake-model", "concurrency": 16, "timeout": 30.0}
    return ["extrinsic", {"term": "oni", "model": "classification", "weight": weight, "annotator": annotator}]


def run_one(variant: str, seed: int, args: argparse.Namespace, url: str | None) -> dict:
    config = RunConfig(
        env=args.env,
        reward=reward_spec(variant, args.weight, url),
        steps=args.steps,
        seed=seed,
        hyperparams=parse_overrides(args.hp),
    )
    model, venv, _ = build_run(config)
    wrapper = venv
    while not hasattr(wrapper, "engine"):
        wrapper = wrapper.venv
    recorder = Recorder(wrapper.engine)
    start = time.perf_counter()
    try:
        model.learn(args.steps, callback=recorder)
    finally:
        venv.close()
    return {"variant": variant, "seed": seed, "steps": args.steps, "env": args.env, "weight": args.weight,
            "seconds": time.perf_counter() - start, "episodes": recorder.episodes, "oni": recorder.oni}  # fmt: skip


def t_interval(values: list[float]) -> tuple[float, float]:
    """95% Student-t interval of the mean over seeds (clipped to [0, 1]: these are rates)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return max(0.0, x.mean() - half), min(1.0, x.mean() + half)


def summarise(runs: list[dict], steps: int) -> None:
    print("\n| variant | seeds | success, last 20% of steps: mean [95% CI] | per seed | key picked up, last 20% "
          "(per seed) | success, all training | unique messages | labelled at the end | wall s / run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        late, keys, every = [], [], []
        for r in mine:
            tail = [e for e in r["episodes"] if e["step"] > 0.8 * steps]
            late.append(np.mean([e["success"] for e in tail]) if tail else np.nan)
            keys.append(np.mean([e["key"] for e in tail]) if tail else np.nan)
            every.append(np.mean([e["success"] for e in r["episodes"]]))
        seen = [r["oni"][-1]["seen"] for r in mine if r["oni"]]
        share = [r["oni"][-1]["labelled_share"] for r in mine if r["oni"]]
        lo, hi = t_interval(late)
        print(f"| {variant} | {len(mine)} | {np.mean(late):.2f} [{lo:.2f}, {hi:.2f}] | "
              f"{', '.join(f'{x:.2f}' for x in late)} | {np.mean(keys):.2f} ({', '.join(f'{x:.2f}' for x in keys)}) | "
              f"{np.mean(every):.2f} | "
              f"{np.mean(seen) if seen else '-'} | {f'{np.mean(share):.2f}' if share else '-'} | "
              f"{np.mean([r['seconds'] for r in mine]):.0f} |")  # fmt: skip
    for variant in ("oni_rules", "oni_server"):
        mine = [r for r in runs if r["variant"] == variant and r["oni"]]
        if mine:
            r = mine[0]
            marks = [o for o in r["oni"] if o["step"] in {r["oni"][0]["step"], r["oni"][len(r["oni"]) // 4]["step"],
                                                            r["oni"][len(r["oni"]) // 2]["step"], r["oni"][-1]["step"]}]
            text = ", ".join(f"{o['step']}: {o['labelled_share']:.2f} of {o['seen']:.0f}" for o in marks)
            print(f"\nshare of unique messages labelled over time ({variant}, seed {r['seed']}): {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="MiniHack-KeyRoom-S5-v0")
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--delay", type=float, default=0.5, help="server seconds per batch (oni_server)")
    parser.add_argument("--out", default="benchmarks/results/oni_learning")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="PPO hyper-parameter override")
    parser.add_argument("--resume", action="store_true", help="skip runs whose JSON exists")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        with FakeLLMServer(scripted_judge(args.delay)) as server:
            for seed in args.seeds:
                for variant in args.variants:
                    path = out / f"{variant}_seed{seed}.json"
                    if args.resume and path.exists():
                        continue
                    result = run_one(variant, seed, args, server.url)
                    path.write_text(json.dumps(result))
                    tail = [e["success"] for e in result["episodes"] if e["step"] > 0.8 * args.steps]
                    print(f"{variant} seed {seed}: {result['seconds']:.0f} s, success last 20% "
                          f"{np.mean(tail) if tail else float('nan'):.2f}", flush=True)  # fmt: skip
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*_seed*.json"))]
    runs = [r for r in runs if r["steps"] == args.steps]
    summarise(runs, args.steps)


if __name__ == "__main__":
    main()
