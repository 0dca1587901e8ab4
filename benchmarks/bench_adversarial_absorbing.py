"""Adversarial rewards with and without absorbing states (DAC), beside imitation's GAIL and AIRL, on CartPole-v1.

GAIL's reward ``softplus(ℓ)`` is always positive (a survival bonus) and AIRL's
``ℓ`` is negative where the agent does not look like the expert (an incentive
to end episodes early). With absorbing states (Kostrikov et al. 2019; on by
default, see :mod:`rewardlab.learned.adversarial.term`) the discriminator also
scores the state after a termination and the terminal transition carries
``γ/(1 − γ)·r(ℓ_a)``. Two settings, PPO with the CartPole-v1 preset (8 envs),
the adversarial reward alone (no true reward), 40k steps per run:

* ``expert``: demonstrations from a PPO expert (40k steps on the true reward,
  10 deterministic episodes of return 500). Score
  ``(R − R_random) / (R_expert − R_random)`` of 10 deterministic evaluation
  episodes; bar: ≥ 0.9 with absorbing states.
* ``short``: demonstrations from a scripted demonstrator that balances the pole
  while drifting right and runs off the track after ~130 steps (``action = 1
  if θ + 0.5·θ̇ > 0.1``; every episode *terminates*). A survival bias makes the
  agent outlive it; imitation reproduces its short episodes. Reported: the
  agent's mean evaluation episode length beside the demonstrator's, and the
  fraction of evaluation episodes that end at the right edge (``x ≥ 2.4``).
* ``falls``: a demonstrator that always pushes right: the pole falls after
  about 10 steps (a random policy lasts about 21). Same report.

imitation 1.0.1's ``GAIL`` and ``AIRL`` (``BasicRewardNet`` /
``BasicShapedRewardNet`` with running input normalisation,
``allow_variable_horizon=True`` -- CartPole's episodes vary in length -- and
its documented CartPole settings ``demo_batch_size=1024``,
``gen_replay_buffer_capacity=512``, ``n_disc_updates_per_round=8``) train the
same PPO preset for the same 40k steps on the same demonstrations.
Install it for the benchmark only (its pins clash with ours):
``.venv/bin/pip install --no-deps imitation==1.0.1``. Without it the
imitation rows are skipped.

Means carry 95 % percentile-bootstrap intervals over seeds. Finished runs are
reused (a killed benchmark resumes).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_adversarial_absorbing.py --seeds 3
    ... --settings short --seeds 3
    ... --settings falls --seeds 2 --only "GAIL + absorbing" "GAIL, no absorbing"
    ... --only "AIRL + absorbing (default)" --seeds 5 --first-seed 5   # seeds 5-9
    ... --steps 80000 --out benchmarks/results/adversarial_absorbing_80k --only "AIRL + absorbing (default)" "true"
    ... --steps 80000 --only "AIRL + absorbing, f_A over 1M" "true" --first-seed 40 --seeds 10  # the config, third pass
    ... --steps 80000 --only "AIRL + absorbing (default)" --hp learning_rate=lin_0.001 clip_range=lin_0.2
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
from bench_adversarial_learning import bootstrap_ci, random_return

from rewardlab.learned.adversarial import collect_demos, from_episodes, load_demos
from rewardlab.train import RunConfig, train

HERE = Path(__file__).parent
ENV = "CartPole-v1"
STEPS = 40_000
GAMMA = 0.98  # the PPO preset's discount for CartPole-v1
# AIRL: configs/adversarial_cartpole.yaml's settings (the reward normalised by its running scale, the default for
# AIRL's signed reward; the discriminator trained at lr 1e-3 on the agent's last 4096 transitions). f_A is counted
# over the whole run by default (since issue 22's fourth pass; smoothed at a common size, so ℓ_a keeps its sign);
# "f_A over 5000 steps" is the default before that (a window as long as the 10 expert episodes, which forgets),
# "f_A over 1M steps" the setting the config carried between the two (per-side smoothing).
AIRL = {"term": "adversarial", "kind": "airl", "lipschitz": "gp", "lr": 1e-3, "history": 4096, "gamma": GAMMA}
GAIL = {"term": "adversarial", "kind": "gail", "lipschitz": "gp", "gamma": GAMMA}
VARIANTS = {
    "AIRL + absorbing (default)": AIRL,
    "AIRL + absorbing, reward not normalised": {**AIRL, "normalize_reward": False},
    "AIRL + absorbing, 2 epochs": {**AIRL, "epochs": 2},
    "AIRL + absorbing, scale held": {**AIRL, "reward_scale": "held"},
    "AIRL + absorbing, scale falling": {**AIRL, "reward_scale": "falling"},
    "AIRL + absorbing, f_A over 1M steps": {**AIRL, "absorbing_window": 1_000_000},
    "AIRL + absorbing, f_A over 5000 steps": {**AIRL, "absorbing_window": 5000},
    "AIRL, no absorbing": {**AIRL, "absorbing": False},
    "GAIL + absorbing (default)": GAIL,
    "GAIL + absorbing, f_A over 1M steps": {**GAIL, "absorbing_window": 1_000_000},
    "GAIL + absorbing, f_A over 5000 steps": {**GAIL, "absorbing_window": 5000},
    "GAIL, no absorbing": {**GAIL, "absorbing": False},
    "imitation GAIL": "imitation:gail",
    "imitation AIRL": "imitation:airl",
}
EDGE = 2.4


PPO_OVERRIDES: dict[str, object] = {}  # --hp: PPO hyper-parameters over the preset, for every run but the expert


def set_steps(steps: int) -> None:
    """Train every run of this process for ``steps`` PPO steps (the expert's 40k are fixed)."""
    global STEPS
    STEPS = steps


def parse_hp(items: list[str]) -> dict[str, object]:
    """``--hp learning_rate=lin_0.001 clip_range=lin_0.2`` → a dict (numbers parsed, schedule strings kept)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--hp takes key=value, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def scripted_demos(episodes: int = 10, *, lean: float | None = 0.1, seed: int = 20_000):
    """Scripted demonstrators: balance around a lean of ``lean`` rad, so the cart drifts right off the track
    (``short``), or, with ``lean=None``, always push right, so the pole falls within about 10 steps (``falls``)."""
    import gymnasium as gym

    env = gym.make(ENV)
    out = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        ep = {"obs": [], "acts": [], "next_obs": [], "return": 0.0, "terminated": False}
        while True:
            action = 1 if lean is None else int(obs[2] + 0.5 * obs[3] - lean > 0)
            nxt, r, terminated, truncated, _ = env.step(action)
            ep["obs"].append(obs), ep["acts"].append(action), ep["next_obs"].append(nxt)
            ep["return"] += float(r)
            obs = nxt
            if terminated or truncated:
                ep["terminated"] = bool(terminated)
                break
        out.append(ep)
    env.close()
    return from_episodes(out, ENV)


def evaluate_policy(predict, seed: int, episodes: int = 10) -> dict[str, float]:
    """Deterministic episodes on a fresh env: mean length (= CartPole's return) and share ending at the right edge."""
    import gymnasium as gym

    env = gym.make(ENV)
    lengths, right = [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + 10_000 + k)
        n = 0
        while True:
            obs, _, terminated, truncated, _ = env.step(int(predict(obs)))
            n += 1
            if terminated or truncated:
                lengths.append(n)
                right.append(bool(terminated and obs[0] >= EDGE))
                break
    env.close()
    return {"length": float(np.mean(lengths)), "right_edge": float(np.mean(right))}


def rewardlab_run(reward: dict | str, demos_path: Path, run_dir: Path, seed: int) -> dict[str, float]:
    spec = reward if isinstance(reward, str) else {**reward, "demos": str(demos_path)}
    config = RunConfig(env=ENV, algo="ppo", reward=spec, steps=STEPS, seed=seed, hyperparams=dict(PPO_OVERRIDES))
    train(config, run_dir, progress_bar=False, resume=run_dir.exists(), checkpoint_every=0)
    from rewardlab.runs import load_run

    run = load_run(run_dir)
    return evaluate_policy(lambda o: run.predict(o[None], deterministic=True)[0], seed)


def imitation_run(kind: str, demos_path: Path, run_dir: Path, seed: int) -> dict[str, float]:
    """imitation's GAIL/AIRL with the same PPO preset and budget; the result is cached in ``run_dir``."""
    done = run_dir / "eval.json"
    if done.exists():
        return json.loads(done.read_text())
    from imitation.algorithms.adversarial.airl import AIRL as ImitationAIRL
    from imitation.algorithms.adversarial.gail import GAIL as ImitationGAIL
    from imitation.data.types import Transitions as ImitationTransitions
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util import logger as imit_logger
    from imitation.util.networks import RunningNorm
    from stable_baselines3 import PPO

    from rewardlab.make import make_vec_env
    from rewardlab.train import resolved_hyperparams

    demos = load_demos(demos_path)
    expert = ImitationTransitions(
        obs=demos.obs, acts=demos.acts.reshape(len(demos)), infos=np.array([{}] * len(demos)),
        next_obs=demos.next_obs, dones=demos.dones,
    )  # fmt: skip
    preset = dict(resolved_hyperparams(RunConfig(env=ENV, algo="ppo", steps=STEPS, seed=seed)))
    n_envs = int(preset.pop("n_envs", 8))
    preset.pop("normalize", None)
    policy = preset.pop("policy", "MlpPolicy")
    torch.manual_seed(seed)
    venv = make_vec_env(ENV, n_envs, seed=seed)
    learner = PPO(policy, venv, seed=seed, verbose=0, **preset)
    if kind == "gail":
        net = BasicRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
        cls = ImitationGAIL
    else:
        net = BasicShapedRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
        cls = ImitationAIRL
    trainer = cls(
        demonstrations=expert, demo_batch_size=1024, gen_replay_buffer_capacity=512, n_disc_updates_per_round=8,
        venv=venv, gen_algo=learner, reward_net=net, allow_variable_horizon=True,
        custom_logger=imit_logger.configure(str(run_dir / "log"), format_strs=[]),
    )  # fmt: skip
    trainer.train(STEPS)
    result = evaluate_policy(lambda o: learner.predict(o[None], deterministic=True)[0][0], seed)
    venv.close()
    run_dir.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(result))
    return result


def prepare(setting: str, out: Path) -> tuple[Path, float]:
    """The demonstrations file of a setting and their mean episode length."""
    demos_path = out / "demos.npz"
    if not demos_path.exists():
        if setting == "expert":
            expert_dir = out / "expert"
            train(RunConfig(env=ENV, algo="ppo", steps=40_000, seed=100), expert_dir, progress_bar=False,
                  resume=expert_dir.exists(), checkpoint_every=0)  # fmt: skip
            collect_demos(expert_dir, episodes=10).save(demos_path)
        elif setting == "falls":
            scripted_demos(lean=None).save(demos_path)
        else:
            scripted_demos().save(demos_path)
    demos = load_demos(demos_path)
    return demos_path, float(demos.episode_lengths.mean())


def run_setting(setting: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / setting
    t0 = time.perf_counter()
    demos_path, demo_length = prepare(setting, out)
    r_random = random_return(ENV)
    print(f"{setting}: demonstrations {demo_length:.1f} steps per episode, random {r_random:.1f}", flush=True)
    variants = {"true reward (baseline)": "extrinsic", **VARIANTS}
    if args.only:
        variants = {k: v for k, v in variants.items() if any(o.lower() in k.lower() for o in args.only)}
    rows = {}
    for label, reward in variants.items():
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            run_dir = out / f"{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}_seed{seed}"
            start = time.perf_counter()
            if isinstance(reward, str) and reward.startswith("imitation:"):
                try:
                    row = imitation_run(reward.split(":")[1], demos_path, run_dir, seed)
                except ImportError as err:
                    print(f"  {label}: skipped ({err}; pip install --no-deps imitation==1.0.1)", flush=True)
                    break
            else:
                row = rewardlab_run(reward, demos_path, run_dir, seed)
            row = {**row, "seed": seed, "wall_s": time.perf_counter() - start}
            row["score"] = (row["length"] - r_random) / (demo_length - r_random)
            runs.append(row)
            print(f"  {label} seed {seed}: length {row['length']:.1f}, score {row['score']:.2f}, "
                  f"right edge {row['right_edge']:.0%}", flush=True)  # fmt: skip
        if runs:
            scores = [r["score"] for r in runs]
            lengths = [r["length"] for r in runs]
            rows[label] = {
                "runs": runs,
                "score_mean": float(np.mean(scores)), "score_ci95": bootstrap_ci(scores),
                "length_mean": float(np.mean(lengths)), "length_ci95": bootstrap_ci(lengths),
                "right_edge": float(np.mean([r["right_edge"] for r in runs])),
            }  # fmt: skip
    return {"setting": setting, "steps": STEPS, "ppo_overrides": dict(PPO_OVERRIDES),
            "demo_length": demo_length, "random_return": r_random,
            "wall_s": time.perf_counter() - t0, "variants": rows}  # fmt: skip


def report(result: dict) -> str:
    lines = [
        f"{ENV} '{result['setting']}' demonstrations ({result['demo_length']:.1f} steps per episode), PPO "
        f"{result['steps']} steps per run, random {result['random_return']:.1f}",
        f"{'variant':30s} {'score mean [95% CI]':>22s} {'length [95% CI]':>24s} {'right edge':>10s}  per-seed lengths",
    ]
    for label, row in result["variants"].items():
        lo, hi = row["score_ci95"]
        llo, lhi = row["length_ci95"]
        per = " ".join(f"{r['length']:.0f}" for r in row["runs"])
        lines.append(
            f"{label:30s} {row['score_mean']:6.2f} [{lo:5.2f}, {hi:5.2f}]   {row['length_mean']:7.1f} "
            f"[{llo:6.1f}, {lhi:6.1f}] {row['right_edge']:9.0%}  {per}"
        )
    lines.append(f"wall time {result['wall_s'] / 60:.1f} min")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["expert"], choices=["expert", "short", "falls"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first_seed .. first_seed + seeds - 1")
    parser.add_argument("--only", nargs="*", default=[], help="run only variants whose label contains one of these")
    parser.add_argument("--out", default=str(HERE / "results" / "adversarial_absorbing"))
    parser.add_argument("--steps", type=int, default=STEPS, help="PPO steps per run (the expert keeps its 40k)")
    hp_help = "PPO hyper-parameters over the preset (key=value; zoo schedules such as learning_rate=lin_0.001)"
    parser.add_argument("--hp", nargs="*", default=[], help=hp_help + ", for every run but the expert's")
    args = parser.parse_args()
    set_steps(args.steps)
    PPO_OVERRIDES.update(parse_hp(args.hp))
    torch.set_num_threads(1)
    for setting in args.settings:
        result = run_setting(setting, args)
        text = report(result)
        print(text, flush=True)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = setting + "".join("_" + re.sub(r"[^a-z0-9]+", "-", o.lower()).strip("-") for o in args.only)
        stem += f"_from_seed{args.first_seed}" if args.first_seed else ""
        stem += "".join("_" + re.sub(r"[^a-z0-9]+", "-", h.lower()).strip("-") for h in args.hp)
        (out / f"{stem}.json").write_text(json.dumps(result, indent=2))  # --only runs do not overwrite each other
        (out / f"{stem}.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
