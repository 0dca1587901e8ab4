"""PPO trained only on a reward learned from preferences, beside PPO on the true reward (CartPole-v1, Pendulum-v1).

CartPole-v1 variants (each through ``rewardlab.train`` with the PPO preset for CartPole-v1, 8 envs):

* ``true reward``: the environment's reward (the baseline);
* ``preference, oracle``: only the ``preference`` term (``configs/preference_cartpole.yaml``:
  oracle teacher, 200 queries, 20 per update, segments of 25 steps, disagreement selection);
* ``preference, oracle, uniform``: the same with uniformly chosen queries;
* ``preference, noisy teacher``: B-Pref's "mistake" teacher, ε = 0.1 (every tenth answer flipped);
* ``preference, 100 comparisons`` (one fifth of issue 22's 500) and ``... + SURF``: the same with
  SURF's confident pseudo-labels on unlabelled pairs of the latest rollouts (λ = 1, τ = 0.99, 4 per
  labelled pair) and temporal cropping by up to 5 steps;
* ``preference, random teacher``: a control, β = 0 (every answer a coin flip): what the loop gives
  without information. CartPole pays +1 per step, so any reward that is positive on average teaches the
  agent to survive; this control shows whether the learned reward gets that from the labels.

Pendulum-v1 (``--env Pendulum-v1``, PPO preset, 4 envs): the true reward, and the preference term with
the oracle (400 queries, 20 per update, segments of 25 steps, disagreement selection) and with the
ε = 0.1 mistake teacher, and the β = 0 control; 200 comparisons (one fifth of issue 22's 1000) alone, with SURF,
with PEBBLE's unsupervised pre-training (``pretrain_steps: 10000``: the first 10k steps on the particle
state-entropy reward, no query before) and with both. Pendulum's returns
are negative, so its fraction is normalised by a uniformly random policy's return ``R_rand`` (10 episodes):
``(R − R_rand) / (R_true − R_rand)``.

The score is the true return of the final policy over 10 deterministic evaluation
episodes (``eval_true_return``; the maximum is 500) and the mean true return of the
last 100 training episodes; the fraction is a variant's mean over the true-reward
mean, with a 95% bootstrap interval over seeds (seeds resampled within each variant).
On Pendulum the report also gives, per preference run, the fraction of steps within 30° of upright in the
segments of the first 20 labelled pairs and of all of them (how much of the states that matter the queries
show).
Finished runs (``summary.json``, under ``--runs``) are reused, so a killed benchmark resumes;
the summary goes to ``benchmarks/results/preference_learning_<steps>.json``.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_preference_learning.py --seeds 5 --steps 50k
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_preference_learning.py --env Pendulum-v1 \
        --seeds 5 --steps 100k
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_preference_learning.py --env Pendulum-v1 \
        --algo sac --seeds 3 --steps 10k --variants "true reward" "preference, oracle"

With an off-policy algorithm (``--algo sac``) ``rewardlab train`` relabels the replay buffer after every
reward update (:mod:`rewardlab.relabel`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from rewardlab.train import RunConfig, parse_steps, train

HERE = Path(__file__).parent
SURF = {"pseudo_labels": 1.0, "pseudo_threshold": 0.99, "crop": 5}  # SURF: pseudo-labels, temporal cropping
PEBBLE = {"pretrain_steps": 10_000}  # PEBBLE: 10k steps on the state-entropy reward before the first query
PREFERENCE = {"term": "preference", "teacher": "oracle", "budget": 200, "queries_per_update": 20,
              "segment_length": 25, "selection": "disagreement"}  # fmt: skip (as configs/preference_cartpole.yaml)
VARIANTS = {
    "true reward": "extrinsic",
    "preference, oracle": [PREFERENCE],
    "preference, oracle, uniform": [{**PREFERENCE, "selection": "uniform"}],
    "preference, noisy teacher": [{**PREFERENCE, "teacher": {"oracle": {"mistake": 0.1}}}],
    "preference, random teacher": [{**PREFERENCE, "teacher": {"oracle": {"beta": 0.0}}}],
    "preference, 100 comparisons": [{**PREFERENCE, "budget": 100}],
    "preference, 100 comparisons + SURF": [{**PREFERENCE, "budget": 100, **SURF}],
    "preference, 40 comparisons": [{**PREFERENCE, "budget": 40}],
    "preference, 40 comparisons + SURF": [{**PREFERENCE, "budget": 40, **SURF}],
}
PENDULUM = {"term": "preference", "budget": 400, "queries_per_update": 20, "segment_length": 25}
ENV_VARIANTS = {
    "CartPole-v1": VARIANTS,
    "Pendulum-v1": {
        "true reward": "extrinsic",
        "preference, oracle": [PENDULUM],
        "preference, noisy teacher": [{**PENDULUM, "teacher": {"oracle": {"mistake": 0.1}}}],
        "preference, random teacher": [{**PENDULUM, "teacher": {"oracle": {"beta": 0.0}}}],
        "preference, 200 comparisons": [{**PENDULUM, "budget": 200}],
        "preference, 200 comparisons + SURF": [{**PENDULUM, "budget": 200, **SURF}],
        "preference, 200 comparisons + PEBBLE": [{**PENDULUM, "budget": 200, **PEBBLE}],
        "preference, 200 comparisons + PEBBLE + SURF": [{**PENDULUM, "budget": 200, **PEBBLE, **SURF}],
    },
}


def random_return(env_id: str, episodes: int = 10, seed: int = 10_000) -> float:
    """Mean true return of a uniformly random policy (the zero point of a normalised score)."""
    from rewardlab.make import make_vec_env

    env = make_vec_env(env_id, 1, seed=seed)
    env.action_space.seed(seed)
    returns: list[float] = []
    env.reset()
    while len(returns) < episodes:
        _, _, done, infos = env.step(np.array([env.action_space.sample()]))
        if done[0]:
            returns.append(float(infos[0]["episode"]["r"]))
    env.close()
    return float(np.mean(returns))


def first_queries_upright(run_dir: Path, *, pairs: int | None = 20) -> float | None:
    """Pendulum: the fraction of steps within 30° of upright (``cos θ > cos 30°``) in the segments of the first
    ``pairs`` labelled pairs of a preference run (all with ``None``; ``None`` for a run without a preference
    term)."""
    state = torch.load(run_dir / "reward_state.pt", weights_only=False)["state"]
    labels = next((s["model"]["labels"] for s in state.values() if isinstance(s, dict) and "model" in s), None)
    if not labels:
        return None
    cos = np.concatenate([labels["inputs_1"][:pairs, :, 0], labels["inputs_2"][:pairs, :, 0]])
    mask = np.concatenate([labels["mask_1"][:pairs], labels["mask_2"][:pairs]]) > 0
    return float((cos[mask] > np.cos(np.pi / 6)).mean())


def bootstrap_ratio(
    a: np.ndarray, b: np.ndarray, *, zero: float = 0.0, draws: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ``(mean(a) − zero) / (mean(b) − zero)`` with seeds resampled within each group."""
    rng = np.random.default_rng(seed)
    ra = a[rng.integers(0, len(a), (draws, len(a)))].mean(axis=1)
    rb = b[rng.integers(0, len(b), (draws, len(b)))].mean(axis=1)
    ratios = (ra - zero) / (rb - zero)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1", choices=list(ENV_VARIANTS))
    parser.add_argument("--algo", default="ppo", help="ppo (default) or an off-policy algo such as sac (relabelled)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", default="50k")
    parser.add_argument("--variants", nargs="*", default=None, help="labels of the variants to run (default: all)")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/rewardlab_bench_preference"), help="run folders")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the summary JSON goes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = parse_steps(args.steps)
    variants = ENV_VARIANTS[args.env]
    labels = args.variants or list(variants)
    prefix = "" if args.env == "CartPole-v1" else f"{args.env}/"
    prefix += "" if args.algo == "ppo" else f"{args.algo}/"
    results: dict[str, dict[str, list[float]]] = {}
    for seed in range(args.seeds):  # seed-major: an interrupted run still has every variant for the first seeds
        for label in labels:
            run_dir = args.runs / f"{prefix}{steps}" / label.replace(", ", "_").replace(" ", "_") / f"seed{seed}"
            summary_file = run_dir / "summary.json"
            if summary_file.exists():
                summary = json.loads(summary_file.read_text())
            else:
                config = RunConfig(
                    env=args.env, algo=args.algo, reward=variants[label], steps=steps, seed=seed, eval_episodes=10
                )
                summary = train(config, run_dir, progress_bar=False, checkpoint_every=0, overwrite=True)
            row = results.setdefault(label, {"eval": [], "train": [], "wall": [], "upright": []})
            if args.env == "Pendulum-v1" and label != "true reward":
                row["upright"].append(first_queries_upright(run_dir))
                row.setdefault("upright_all", []).append(first_queries_upright(run_dir, pairs=None))
            row["eval"].append(summary["eval_true_return"])
            row["train"].append(summary["train_true_return"])
            row["wall"].append(summary["wall_seconds"])
            scores = f"eval {summary['eval_true_return']:6.1f}  train {summary['train_true_return']:6.1f}"
            print(f"{label:30s} seed {seed}: {scores}  ({summary['wall_seconds']:.0f} s)", flush=True)
    base = results.get("true reward")
    zero = random_return(args.env) if args.env == "Pendulum-v1" else 0.0
    report = {"env": args.env, "steps": steps, "seeds": args.seeds, "zero_point": zero, "variants": {}}
    head = f"{args.env}, {args.algo.upper()}, {steps} steps, {args.seeds} seeds"
    print(f"\n{head}; true return (fractions relative to {zero:.1f})")
    print(f"{'variant':30s} {'eval mean ± sd':>16s} {'train mean':>11s} {'eval fraction [95% CI]':>26s}")
    for label, row in results.items():
        ev, tr = np.array(row["eval"]), np.array(row["train"])
        entry = {"eval": row["eval"], "train": row["train"], "mean_wall_seconds": float(np.mean(row["wall"]))}
        if row["upright"]:
            entry["first_queries_upright"] = row["upright"]
            entry["all_queries_upright"] = row["upright_all"]
        fraction = ""
        if base is not None and label != "true reward":
            b_ev, b_tr = np.array(base["eval"]), np.array(base["train"])
            entry["eval_fraction"] = float((ev.mean() - zero) / (b_ev.mean() - zero))
            entry["eval_fraction_ci"] = bootstrap_ratio(ev, b_ev, zero=zero)
            entry["train_fraction"] = float((tr.mean() - zero) / (b_tr.mean() - zero))
            entry["train_fraction_ci"] = bootstrap_ratio(tr, b_tr, zero=zero)
            lo, hi = entry["eval_fraction_ci"]
            fraction = f"{entry['eval_fraction']:.2f} [{lo:.2f}, {hi:.2f}]"
        report["variants"][label] = entry
        upright = ""
        if row["upright"]:
            upright = f"  upright: first 20 pairs {np.mean(row['upright']):.3f}, all {np.mean(row['upright_all']):.3f}"
        print(f"{label:30s} {ev.mean():7.1f} ± {ev.std():6.1f} {tr.mean():11.1f} {fraction:>26s}{upright}")
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "" if not prefix else f"{args.env}_" + ("" if args.algo == "ppo" else f"{args.algo}_")
    name = f"preference_learning_{tag}{steps}.json"
    (args.out / name).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
