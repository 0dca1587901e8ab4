"""Bradley–Terry loss and gradient: the batched version against a loop over pairs, same data, same networks.

The loop is how imitation's preference comparisons compute the loss: for each
pair, the reward network runs on both segments, the pair's probability and
cross-entropy are formed, and the losses are averaged before one backward
pass. The batched version (:func:`rewardlab.learned.preference.bradley_terry_loss`)
runs every member on all segments of all pairs at once. Both give the same loss
and gradients (checked here); the ratio is the per-pair time over the batched time.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_preference_bt.py
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from rewardlab.learned.networks import RewardEnsemble
from rewardlab.learned.preference import bradley_terry_loss, segment_returns


def batched(net: RewardEnsemble, x1, m1, x2, m2, y) -> torch.Tensor:
    return bradley_terry_loss(segment_returns(net(x1), m1), segment_returns(net(x2), m2), y)


def per_pair(net: RewardEnsemble, x1, m1, x2, m2, y) -> torch.Tensor:
    total = 0.0
    for k in range(net.n_members):
        losses = []
        for i in range(len(y)):
            r1 = (net.member(k, x1[i]) * m1[i]).sum()
            r2 = (net.member(k, x2[i]) * m2[i]).sum()
            log_p = torch.log_softmax(torch.stack([r1, r2]), dim=0)
            losses.append(-(y[i] * log_p[0] + (1 - y[i]) * log_p[1]))
        total = total + torch.stack(losses).mean()
    return total


def timed(fn, net, data, repeats: int) -> tuple[float, torch.Tensor, list[torch.Tensor]]:
    best = float("inf")
    for _ in range(repeats):
        net.zero_grad()
        start = time.perf_counter()
        loss = fn(net, *data)
        loss.backward()
        best = min(best, time.perf_counter() - start)
    return best, loss.detach(), [p.grad.clone() for p in net.parameters()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="*", default=[64, 256, 1024])
    parser.add_argument("--steps", type=int, default=25, help="segment length")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    obs = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)  # CartPole-sized inputs: 4 observation dims + one-hot action
    net = RewardEnsemble(obs, gym.spaces.Discrete(2), members=args.members, hidden=64, layers=2)
    print(f"BT loss + gradient, {args.members} members, segments of {args.steps} steps, in_dim {net.in_dim}, "
          f"1 thread, best of {args.repeats}")  # fmt: skip
    print(f"{'pairs':>6s} {'per-pair loop':>14s} {'batched':>10s} {'ratio':>7s}")
    g = torch.Generator().manual_seed(0)
    for n in args.pairs:
        x1 = torch.randn(n, args.steps, net.in_dim, generator=g)
        x2 = torch.randn(n, args.steps, net.in_dim, generator=g)
        m1 = (torch.rand(n, args.steps, generator=g) > 0.1).float()
        m2 = torch.ones(n, args.steps)
        y = torch.randint(0, 3, (n,), generator=g).float() / 2
        data = (x1, m1, x2, m2, y)
        t_loop, loss_loop, grads_loop = timed(per_pair, net, data, max(1, args.repeats // 2))
        t_batch, loss_batch, grads_batch = timed(batched, net, data, args.repeats)
        torch.testing.assert_close(loss_batch, loss_loop, rtol=1e-4, atol=1e-5)
        for a, b in zip(grads_batch, grads_loop):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
        print(f"{n:6d} {t_loop * 1e3:11.1f} ms {t_batch * 1e3:7.2f} ms {t_loop / t_batch:6.0f}x", flush=True)


if __name__ == "__main__":
    main()
