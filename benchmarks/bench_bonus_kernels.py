"""Exploration-bonus kernels: rewardlab's numba path vs per-env and batched PyTorch, side by side.

Three bonuses, each fed the same random stream of ``--envs`` envs for ``--steps``
steps (episodes of ``--episode`` steps, episodic state reset at their ends):

* E3B: ``b = φᵀC⁻¹φ`` and the Sherman–Morrison update of each env's C⁻¹;
* counts with hashing: SimHash keys of the observation, then global counts ``1/√N``;
* NGU episodic: k nearest neighbours in each env's episode memory and the kernel bonus.

"per-env torch" loops over envs in Python (the way rllte computes E3B);
"batched torch" handles all envs with batched tensor ops; "rewardlab" is the
library's code path (numba kernels on the whole batch). Every implementation
must produce the same bonuses (checked) before its time counts. One thread.

    nice -n 10 .venv/bin/python benchmarks/bench_bonus_kernels.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from rewardlab.bonus.counts import CountTable
from rewardlab.bonus.kernels import elliptical_bonus
from rewardlab.bonus.keys import SimHashKey
from rewardlab.bonus.ngu import NGUEpisodic
from rewardlab.core import Transitions

EPS, XI, C, S_MAX = 1e-3, 8e-3, 1e-3, 8.0


# -- E3B -----------------------------------------------------------------------


def e3b_numba(phis: np.ndarray, episode: int, ridge: float) -> np.ndarray:
    steps, n, d = phis.shape
    inv = np.broadcast_to(np.eye(d) / ridge, (n, d, d)).copy()
    out = np.empty((steps, n))
    for t in range(steps):
        if t % episode == 0:
            inv[:] = np.eye(d) / ridge
        elliptical_bonus(inv, phis[t], out[t])
    return out


def e3b_torch_per_env(phis: np.ndarray, episode: int, ridge: float) -> np.ndarray:
    steps, n, d = phis.shape
    phis_t = torch.from_numpy(phis)
    inv = [torch.eye(d, dtype=torch.float64) / ridge for _ in range(n)]
    out = torch.empty(steps, n, dtype=torch.float64)
    for t in range(steps):
        for i in range(n):
            if t % episode == 0:
                inv[i] = torch.eye(d, dtype=torch.float64) / ridge
            phi = phis_t[t, i]
            u = inv[i] @ phi
            b = phi @ u
            inv[i] = inv[i] - torch.outer(u, u) / (1 + b)
            out[t, i] = b
    return out.numpy()


def e3b_torch_batched(phis: np.ndarray, episode: int, ridge: float) -> np.ndarray:
    steps, n, d = phis.shape
    phis_t = torch.from_numpy(phis)
    eye = torch.eye(d, dtype=torch.float64) / ridge
    inv = eye.repeat(n, 1, 1)
    out = torch.empty(steps, n, dtype=torch.float64)
    for t in range(steps):
        if t % episode == 0:
            inv[:] = eye
        phi = phis_t[t]
        u = torch.bmm(inv, phi.unsqueeze(2)).squeeze(2)
        b = (phi * u).sum(1)
        inv.sub_(u.unsqueeze(2) * (u / (1 + b).unsqueeze(1)).unsqueeze(1))
        out[t] = b
    return out.numpy()


# -- SimHash + counts ----------------------------------------------------------


def counts_numba(obs: np.ndarray, bits: int) -> np.ndarray:
    key, table = SimHashKey(bits=bits, seed=0), CountTable()
    return np.stack([1.0 / np.sqrt(table.visit(key(x))) for x in obs])


def _projection(bits: int, dim: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).standard_normal((bits, dim)).astype(np.float32))


def counts_torch_per_env(obs: np.ndarray, bits: int) -> np.ndarray:
    proj = _projection(bits, obs.shape[2])
    powers = 2 ** torch.arange(bits, dtype=torch.int64)
    obs_t = torch.from_numpy(obs)
    counts: dict[int, int] = {}
    out = np.empty(obs.shape[:2])
    for t in range(obs.shape[0]):
        for i in range(obs.shape[1]):
            key = int(((proj @ obs_t[t, i] > 0).long() * powers).sum())
            counts[key] = counts.get(key, 0) + 1
            out[t, i] = counts[key] ** -0.5
    return out


def counts_torch_batched(obs: np.ndarray, bits: int) -> np.ndarray:
    """Sorted key table + searchsorted; duplicates within a batch counted in env order."""
    proj_t = _projection(bits, obs.shape[2]).T.contiguous()
    powers = 2 ** torch.arange(bits, dtype=torch.int64)
    obs_t = torch.from_numpy(obs)
    table_keys = torch.empty(0, dtype=torch.int64)
    table_counts = torch.empty(0, dtype=torch.int64)
    out = torch.empty(obs.shape[:2], dtype=torch.float64)
    n = obs.shape[1]
    for t in range(obs.shape[0]):
        keys = ((obs_t[t] @ proj_t > 0).long() * powers).sum(1)
        sorted_keys, order = torch.sort(keys, stable=True)
        start = torch.ones(n, dtype=torch.bool)
        start[1:] = sorted_keys[1:] != sorted_keys[:-1]
        run_start = torch.cummax(torch.where(start, torch.arange(n), 0), 0).values
        earlier = torch.empty(n, dtype=torch.int64)
        earlier[order] = torch.arange(n) - run_start  # earlier visits in this batch
        pos = torch.searchsorted(table_keys, keys)
        found = pos < len(table_keys)
        found[found.clone()] = table_keys[pos[found]] == keys[found]
        stored = torch.zeros(n, dtype=torch.int64)
        stored[found] = table_counts[pos[found]]
        out[t] = (stored + earlier + 1).double().rsqrt()
        uniq, batch_counts = torch.unique(keys, return_counts=True)
        all_keys = torch.cat([table_keys, uniq])
        all_counts = torch.cat([table_counts, batch_counts])
        table_keys, inverse = torch.unique(all_keys, return_inverse=True)
        table_counts = torch.zeros(len(table_keys), dtype=torch.int64).index_add_(0, inverse, all_counts)
    return out.numpy()


# -- NGU episodic --------------------------------------------------------------


def ngu_numba(emb: np.ndarray, episode: int, k: int) -> np.ndarray:
    term = NGUEpisodic(k=k)
    n = emb.shape[1]
    action = np.zeros(n, dtype=np.int64)
    out = np.empty(emb.shape[:2])
    for t in range(emb.shape[0]):
        if t % episode == 0:
            term.reset(np.arange(n))
        out[t] = term.compute(Transitions(emb[t], action, emb[t], np.zeros(n), action == 1, action == 1))
    return out


class _RunningMean:
    def __init__(self) -> None:
        self.mean, self.count = 0.0, 1e-4  # RunningMeanStd's prior, for identical results

    def update(self, values: torch.Tensor) -> None:
        if values.numel():
            total = self.count + values.numel()
            self.mean += (float(values.double().mean()) - self.mean) * values.numel() / total
            self.count = total


def _kernel_bonus(d2: torch.Tensor, mean: float) -> torch.Tensor:
    """1/(√(1 + ΣK) + c), 0 past s_max; ``d2`` (…, k) with inf for missing neighbours."""
    dn = torch.clamp(d2.double() / max(mean, 1e-12) - XI, min=0.0)
    s = torch.sqrt(1.0 + (EPS / (dn + EPS)).sum(-1)) + C
    return torch.where(s > S_MAX, torch.zeros_like(s), 1.0 / s)


def ngu_torch_per_env(emb: np.ndarray, episode: int, k: int) -> np.ndarray:
    steps, n, d = emb.shape
    emb_t = torch.from_numpy(emb)
    memory = [emb_t.new_empty(0, d) for _ in range(n)]
    stats = _RunningMean()
    out = np.empty((steps, n))
    for t in range(steps):
        if t % episode == 0:
            memory = [emb_t.new_empty(0, d) for _ in range(n)]
        found = []
        for i in range(n):
            e = emb_t[t, i]
            d2 = ((memory[i] - e) ** 2).sum(1)
            found.append(torch.topk(d2, min(k, len(d2)), largest=False).values)
            memory[i] = torch.cat([memory[i], e.unsqueeze(0)])
        stats.update(torch.cat(found))
        for i in range(n):
            out[t, i] = float(_kernel_bonus(found[i], stats.mean))
    return out


def ngu_torch_batched(emb: np.ndarray, episode: int, k: int) -> np.ndarray:
    steps, n, d = emb.shape
    emb_t = torch.from_numpy(emb)
    memory = emb_t.new_zeros(n, episode, d)
    stats = _RunningMean()
    out = torch.empty(steps, n, dtype=torch.float64)
    rows = torch.arange(n)
    for t in range(steps):
        size = t % episode
        e = emb_t[t]
        if size == 0:
            d2 = torch.full((n, k), float("inf"))
        else:
            d2 = ((memory[:, :size] - e.unsqueeze(1)) ** 2).sum(-1)
            d2 = torch.topk(d2, min(k, size), dim=1, largest=False).values
        memory[rows, size] = e
        stats.update(d2[torch.isfinite(d2)])
        out[t] = _kernel_bonus(d2, stats.mean)
    return out.numpy()


# -- harness -------------------------------------------------------------------


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeats`` calls (after one warm-up call) and the result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--episode", type=int, default=200)
    parser.add_argument("--dim", type=int, default=32, help="embedding size (E3B, NGU)")
    parser.add_argument("--obs-dim", type=int, default=64, help="observation size hashed by SimHash")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    phis = rng.normal(size=(args.steps, args.envs, args.dim))
    obs = rng.normal(size=(args.steps, args.envs, args.obs_dim)).astype(np.float32)
    obs[:, :, :] = np.round(obs * 2) / 2  # coarse values so SimHash keys repeat
    emb = rng.normal(size=(args.steps, args.envs, args.dim)).astype(np.float32)

    cases = {
        "E3B (Sherman–Morrison)": (
            lambda: e3b_numba(phis, args.episode, 0.1),
            lambda: e3b_torch_per_env(phis, args.episode, 0.1),
            lambda: e3b_torch_batched(phis, args.episode, 0.1),
            1e-6,
        ),
        "SimHash + global counts": (
            lambda: counts_numba(obs, args.bits),
            lambda: counts_torch_per_env(obs, args.bits),
            lambda: counts_torch_batched(obs, args.bits),
            1e-12,
        ),
        "NGU episodic (k-NN)": (
            lambda: ngu_numba(emb, args.episode, args.k),
            lambda: ngu_torch_per_env(emb, args.episode, args.k),
            lambda: ngu_torch_batched(emb, args.episode, args.k),
            1e-5,
        ),
    }
    print(
        f"{args.envs} envs x {args.steps} steps (episodes of {args.episode}), embedding {args.dim}, "
        f"obs {args.obs_dim}, {args.bits} bits, k={args.k}; torch threads = {torch.get_num_threads()}\n"
    )
    header = (
        f"{'bonus':<26}{'rewardlab':>12}{'per-env torch':>15}{'batched torch':>15}{'vs per-env':>12}{'vs batched':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, (ours, per_env, batched, rtol) in cases.items():
        t_ours, r_ours = timed(ours, args.repeats)
        t_env, r_env = timed(per_env, args.repeats)
        t_bat, r_bat = timed(batched, args.repeats)
        np.testing.assert_allclose(r_env, r_ours, rtol=rtol, err_msg=f"{name}: per-env torch differs")
        np.testing.assert_allclose(r_bat, r_ours, rtol=rtol, err_msg=f"{name}: batched torch differs")
        per_step = 1e6 / args.steps
        print(
            f"{name:<26}{t_ours * per_step:>10.1f}us{t_env * per_step:>13.1f}us{t_bat * per_step:>13.1f}us"
            f"{t_env / t_ours:>11.1f}x{t_bat / t_ours:>11.1f}x"
        )
    print("\n(times per env step for the whole batch; best of", args.repeats, "runs)")


if __name__ == "__main__":
    main()
