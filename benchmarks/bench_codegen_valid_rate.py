"""Valid-program rate across refinement rounds, with a scripted server that answers good and broken programs.

The server stands in for an LLM that makes the mistakes LLMs make in reward
code: a forbidden import, a syntax error, an undefined name, a wrong output
shape, a NaN, a (total, dict) tuple, no code block at all, an endless loop. It
answers a fresh request with a broken program with probability ``--p-broken``
(``--p-broken-refined`` once it has seen a trained program and its statistics)
and a rejected program's error message with a repaired program with
probability ``--p-fix``, but only when that message names the mistake (so
vague errors would not get fixed). Every number below therefore measures the
pipeline, not an LLM: whether each kind of mistake is caught before training,
at which check, with a message that names it, and how much the fix attempt
recovers.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_codegen_valid_rate.py
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_llm import FakeLLMServer  # noqa: E402

from rewardlab.codegen import CodegenLoop, GenerationStore, LoopConfig  # noqa: E402
from rewardlab.llm import LLMClient, LLMConfig  # noqa: E402

GOOD = [
    "import numpy as np\ndef compute_reward(next_obs, terminated):\n"
    "    return {'upright': 1.0 - np.abs(next_obs[:, 2]) / 0.21, 'fall': np.where(terminated, -1.0, 0.0)}\n",
    "def compute_reward(terminated):\n    return {'alive': 1.0 - terminated}\n",
    "import numpy as np\ndef compute_reward(obs, next_obs):\n"
    "    return {'steady': -np.abs(next_obs[:, 3]), 'centre': -0.1 * np.abs(next_obs[:, 0]), 'alive': 1.0}\n",
]
# kind → (broken program, a phrase the error must contain for the scripted LLM to recognise the mistake)
BROKEN = {
    "import": ("import os\ndef compute_reward(obs):\n    return {'x': obs[:, 0]}\n", "import os"),
    "syntax": ("def compute_reward(obs)\n    return {'x': obs[:, 0]}\n", "syntax"),
    "undefined": ("def compute_reward(obs):\n    return {'x': pole_angle}\n", "`pole_angle`: is not defined"),
    "shape": ("def compute_reward(obs):\n    return {'x': obs}\n", "expected (64,), one value per env"),
    "nan": ("import numpy as np\ndef compute_reward(obs):\n    return {'x': np.log(obs[:, 0])}\n", "is NaN"),
    "tuple": ("def compute_reward(obs):\n    return obs[:, 0], {'x': obs[:, 0]}\n", "tuple"),
    "no_code": (None, "no ```python code block"),
    "endless": ("def compute_reward(obs):\n    while True:\n        pass\n    return {'x': obs[:, 0]}\n", "timed out"),
}


def answer(code: str | None) -> str:
    if code is None:
        return "The pole should stay upright, so the reward should favour small angles."
    return f"Step by step: keep the pole up.\n```python\n{code}```"


class ScriptedLLM:
    """Chooses good or broken answers from what the request shows (see the module docs)."""

    def __init__(self, p_broken: float, p_broken_refined: float, p_fix: float, seed: int, kinds: list[str]) -> None:
        self.rng = random.Random(seed)
        self.p_broken, self.p_broken_refined, self.p_fix = p_broken, p_broken_refined, p_fix
        self.kinds = kinds
        self.served: collections.Counter[str] = collections.Counter()

    def __call__(self, request: dict) -> str:
        last = request["messages"][-1]["content"]
        if "could not be used" in last:
            recognised = any(phrase in last for _, phrase in BROKEN.values())
            if recognised and self.rng.random() < self.p_fix:
                return self._good()
            return self._broken()
        refined = "We trained a policy" in last
        if self.rng.random() < (self.p_broken_refined if refined else self.p_broken):
            return self._broken()
        return self._good()

    def _good(self) -> str:
        self.served["good"] += 1
        return answer(self.rng.choice(GOOD))

    def _broken(self) -> str:
        kind = self.rng.choice(self.kinds)
        self.served[kind] += 1
        return answer(BROKEN[kind][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--p-broken", type=float, default=0.5)
    parser.add_argument("--p-broken-refined", type=float, default=0.3)
    parser.add_argument("--p-fix", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", default="512")
    parser.add_argument("--no-endless", action="store_true", help="leave out the endless loop (5 s per catch)")
    args = parser.parse_args()
    kinds = [k for k in BROKEN if not (args.no_endless and k == "endless")]
    llm = ScriptedLLM(args.p_broken, args.p_broken_refined, args.p_fix, args.seed, kinds)
    work = Path(tempfile.mkdtemp(prefix="codegen-valid-"))
    config = LoopConfig(env="CartPole-v1", task="keep the pole balanced", rounds=args.rounds,
                        candidates=args.candidates, steps=args.steps, eval_episodes=1)  # fmt: skip
    with FakeLLMServer(llm) as server:
        client = LLMClient(LLMConfig(base_url=server.url, model=server.model, concurrency=1))
        loop = CodegenLoop(config, work / "loop", client=client, store=GenerationStore(work / "store"),
                           backend="inline", log=None)  # fmt: skip
        loop.run()
    caught: collections.Counter[tuple[str, str]] = collections.Counter()
    named = missed = 0
    unrecognised = []
    print(f"{args.rounds} rounds x {args.candidates} candidates, p_broken {args.p_broken} -> "
          f"{args.p_broken_refined} after feedback, p_fix {args.p_fix}, seed {args.seed}\n")  # fmt: skip
    print(f"{'round':>5} {'valid first try':>16} {'valid after fix':>16} {'trained':>8} {'failed in training':>19}")
    for rnd in loop.rounds:
        failed_training = sum(c.stage == "training" for c in rnd.candidates)
        trained = len(rnd.trained)
        print(f"{rnd.index:5d} {rnd.valid_first_rate:16.0%} {rnd.valid_rate:16.0%} {trained:8d} {failed_training:19d}")
        for c in rnd.candidates:
            for rejection in c.rejections:
                kind = next((k for k, (_, phrase) in BROKEN.items() if phrase in rejection["error"]), None)
                caught[(kind or "unrecognised", rejection["stage"])] += 1
                named += kind is not None
                missed += kind is None
                if kind is None:
                    unrecognised.append(rejection["error"])
    print("\nmistakes caught, by kind and by the check that caught them:")
    for (kind, stage), n in sorted(caught.items()):
        print(f"  {kind:12s} {stage:8s} {n}")
    served = {k: v for k, v in llm.served.items() if k != "good"}
    print(f"\nbroken answers served: {sum(served.values())} {dict(sorted(served.items()))}; good: {llm.served['good']}")
    print(f"rejections whose message names the mistake: {named}/{named + missed}")
    for error in unrecognised:
        print(f"  not matched to a kind: {error}")


if __name__ == "__main__":
    main()
