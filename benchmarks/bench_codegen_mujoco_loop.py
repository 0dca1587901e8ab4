"""One full codegen loop on Hopper-v5 at a CPU-sized budget, then the best generated reward vs the env's own.

A scripted server plays the LLM (no model weights can be fetched here): round 0
answers three programs an LLM plausibly writes for "hop forward as fast as
possible without falling" (forward velocity alone; alive bonus + forward +
control cost; a broken one whose fix rewards posture only), round 1 answers
three refinements of whatever was chosen. Everything else is the real thing:
checks, sandbox, the sweep runner training candidates in parallel, selection by
the env's return in evaluation episodes, Eureka-style feedback. Then the best
program and the env's own reward are trained with ``--seeds`` seeds each at the
same budget; the table gives IQM and mean eval return with 95 % bootstrap CIs.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_codegen_mujoco_loop.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_llm import FakeLLMServer  # noqa: E402

from rewardlab.codegen import CodegenLoop, GenerationStore, LoopConfig  # noqa: E402
from rewardlab.llm import LLMClient, LLMConfig  # noqa: E402


def answer(code: str) -> str:
    return f"The hopper should move forward (+x) and stay healthy.\n```python\n{code}```"


ROUND_0 = [
    "def compute_reward(next_obs):\n    return {'forward': next_obs[:, 5]}\n",
    "import numpy as np\n"
    "def compute_reward(action, next_obs, terminated):\n"
    "    alive = 1.0 - terminated\n"
    "    forward = next_obs[:, 5]\n"
    "    ctrl = -0.001 * np.sum(action ** 2, axis=-1)\n"
    "    return {'alive': alive, 'forward': forward, 'ctrl': ctrl}\n",
    "import numpy as np\ndef compute_reward(next_obs):\n    return {'upright': np.exp(-np.abs(next_obs)/0.1)}\n",
]
FIX = (
    "import numpy as np\n"
    "def compute_reward(next_obs):\n"
    "    pitch_temperature = 0.1\n"
    "    upright = np.exp(-np.abs(next_obs[:, 1]) / pitch_temperature)\n"
    "    return {'upright': upright, 'height': next_obs[:, 0] - 1.0}\n"
)
ROUND_1 = [
    "import numpy as np\n"
    "def compute_reward(action, next_obs, terminated):\n"
    "    alive = 1.0 - terminated\n"
    "    forward = 2.0 * next_obs[:, 5]\n"
    "    ctrl = -0.001 * np.sum(action ** 2, axis=-1)\n"
    "    return {'alive': alive, 'forward': forward, 'ctrl': ctrl}\n",
    "import numpy as np\n"
    "def compute_reward(action, next_obs, terminated):\n"
    "    alive = 1.0 - terminated\n"
    "    forward = next_obs[:, 5]\n"
    "    pitch_temperature = 0.2\n"
    "    upright = 0.2 * np.exp(-np.abs(next_obs[:, 1]) / pitch_temperature)\n"
    "    ctrl = -0.001 * np.sum(action ** 2, axis=-1)\n"
    "    return {'alive': alive, 'forward': forward, 'upright': upright, 'ctrl': ctrl}\n",
    "import numpy as np\n"
    "def compute_reward(action, next_obs, terminated):\n"
    "    alive = 0.5 * (1.0 - terminated)\n"
    "    forward = next_obs[:, 5]\n"
    "    return {'alive': alive, 'forward': forward}\n",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench_codegen_hopper")
    parser.add_argument("--steps", default="30k", help="training steps per candidate and per final run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the final comparison")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    replies = [answer(c) for c in ROUND_0] + [answer(FIX)] + [answer(c) for c in ROUND_1]
    store = GenerationStore(out / "store")
    config = LoopConfig(env="Hopper-v5", task="hop forward as fast as possible without falling", rounds=2,
                        candidates=3, steps=args.steps, eval_episodes=5)  # fmt: skip
    server = FakeLLMServer(replies).start()
    try:
        client = LLMClient(LLMConfig(base_url=server.url, model=server.model, concurrency=1))
        loop = CodegenLoop(config, out / "loop", client=client, store=store, workers=args.workers)
        best = loop.run()
    finally:
        server.stop()
    print("\nper round (eval return of each candidate; None = rejected or failed):")
    for r in best["rounds"]:
        print(f"  round {r['round']}: {[None if s is None else round(s, 1) for s in r['scores']]}, chose {r['chosen']}")
    if best["program_id"] is None:
        raise SystemExit(f"no candidate trained; see {out / 'loop'}/round_*/candidates.json")
    print(f"best program {best['program_id']} (round {best['round']}): {best['components']}")
    print(store.get_program(best["program_id"]).source)

    import rewardlab as rl

    spec = rl.sweep.parse_spec({
        "name": "codegen_hopper_final",
        "out": str(out / "final"),
        "envs": ["Hopper-v5"],
        "rewards": {"generated_best": best["reward"], "env_reward": "extrinsic"},
        "algos": ["ppo"],
        "seeds": args.seeds,
        "steps": args.steps,
        "eval_episodes": 10,
    })  # fmt: skip
    rl.sweep.run_sweep(spec, workers=args.workers, resume=True, progress=False)
    table = rl.sweep.aggregate(rl.sweep.load_runs(spec.out))
    print(f"\nfinal: {args.seeds} seeds x {args.steps} steps, eval return over 10 episodes (95 % bootstrap CI)")
    for _, row in table.iterrows():
        iqm = f"IQM {row['iqm']:8.1f} [{row['iqm_low']:.1f}, {row['iqm_high']:.1f}]"
        mean = f"mean {row['mean']:8.1f} [{row['mean_low']:.1f}, {row['mean_high']:.1f}]"
        print(f"  {row['reward']:15s} {iqm}   {mean}   seeds {row['seeds']}")


if __name__ == "__main__":
    main()
