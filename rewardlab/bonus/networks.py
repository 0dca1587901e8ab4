"""Small torch networks the learned bonuses share: MLPs, input normalisers, the inverse-dynamics encoder.

These networks are separate from the policy: bonuses compute under
``torch.no_grad()`` and train only in their ``update()``, so no gradient
reaches the agent. Torch is imported here, and this module is imported only
when a learned bonus is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rewardlab.core.checks import check_at_least, check_positive
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.transitions import Transitions


def mlp(in_dim: int, hidden: int, out_dim: int, *, seed: int, layers: int = 2) -> nn.Sequential:
    """``layers`` ReLU layers of width ``hidden`` then a linear output, initialised from ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mods: list[nn.Module] = []
        dim = in_dim
        for _ in range(layers):
            mods += [nn.Linear(dim, hidden), nn.ReLU()]
            dim = hidden
        mods.append(nn.Linear(dim, out_dim))
        return nn.Sequential(*mods)


def input_norm(dim: int) -> nn.BatchNorm1d:
    """Per-dimension normaliser with cumulative running statistics (updated in train mode, used in eval mode)."""
    return nn.BatchNorm1d(dim, affine=False, momentum=None)


def flat_obs(obs: Any, field: str | None = None) -> np.ndarray:
    """Observations as a float32 ``(n, D)`` matrix (a dict observation needs ``field``)."""
    if isinstance(obs, Mapping):
        if field is None or field not in obs:
            raise ValueError(
                f"dict observations need field= one of {sorted(obs)} for the built-in MLP; "
                "or pass an encoder module that takes the dict"
            )
        obs = obs[field]
    elif field is not None:
        raise ValueError(f"field={field!r} given but the observation is not a dict")
    x = np.asarray(obs)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)


def obs_tensor(obs: Any) -> torch.Tensor | dict[str, torch.Tensor]:
    """Observations as torch tensors (dicts stay dicts) for user-provided encoders."""
    if isinstance(obs, Mapping):
        return {k: torch.as_tensor(np.asarray(v)) for k, v in obs.items()}
    return torch.as_tensor(np.asarray(obs, dtype=np.float32))


class InverseDynamicsEncoder:
    """φ(s) trained online to predict the action from ``(φ(s), φ(s'))`` (E3B, NGU).

    The encoder is a user module (taking tensors, or a dict of tensors for dict
    observations) or, by default, an MLP on the flattened observation
    (``field`` picks a dict field) behind a running input normaliser. Discrete
    actions train with cross-entropy, continuous ones with squared error.
    """

    def __init__(
        self,
        *,
        embed_dim: int = 32,
        hidden: int = 64,
        encoder: nn.Module | None = None,
        field: str | None = None,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 1,
        seed: int = 0,
    ) -> None:
        check_at_least(1, embed_dim=embed_dim, hidden=hidden, batch_size=batch_size, epochs=epochs)
        check_positive(lr=lr)
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.encoder = encoder
        self.builtin = encoder is None
        self.field = field
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed
        self.head: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.action_space: gym.Space | None = None
        self._rng = np.random.default_rng(seed)

    def bind(self, env: EnvInfo, *, who: str = "the inverse-dynamics encoder") -> None:
        self.action_space = env.action_space
        if not self.builtin:
            return  # a user encoder takes the whole observation
        space = env.field_space(self.field, who=who)
        if self.encoder is None and isinstance(space, gym.spaces.Box):
            self._build(gym.spaces.flatdim(space))

    def _build(self, in_dim: int) -> None:
        if self.encoder is None:
            self.encoder = nn.Sequential(input_norm(in_dim), mlp(in_dim, self.hidden, self.embed_dim, seed=self.seed))
        self.encoder.eval()

    def _input(self, obs: Any) -> Any:
        if not self.builtin:
            return obs_tensor(obs)
        x = flat_obs(obs, self.field)
        if self.encoder is None:
            self._build(x.shape[1])
        return torch.from_numpy(x)

    def embed(self, obs: Any) -> np.ndarray:
        """φ(obs) as a float64 ``(n, d)`` array, without gradients."""
        x = self._input(obs)
        self.encoder.eval()
        with torch.no_grad():
            return self.encoder(x).double().numpy()

    def _ensure_head(self, embed_dim: int) -> None:
        """Build the inverse head for embeddings of size ``embed_dim`` (a user encoder's own output size)."""
        if self.head is not None:
            return
        if self.action_space is None:
            raise ValueError("the inverse-dynamics encoder needs the action space: bind the reward to an env first")
        if isinstance(self.action_space, gym.spaces.Discrete):
            out = int(self.action_space.n)
        elif isinstance(self.action_space, gym.spaces.Box):
            out = int(np.prod(self.action_space.shape))
        else:
            raise ValueError(f"inverse dynamics supports Discrete and Box actions, got {self.action_space}")
        self.head = mlp(2 * embed_dim, self.hidden, out, seed=self.seed + 1, layers=1)
        params = list(self.encoder.parameters()) + list(self.head.parameters())
        self.optimizer = torch.optim.Adam(params, lr=self.lr)

    def update(self, batch: Transitions) -> dict[str, float]:
        """Train encoder and inverse head on ``batch``; return the mean loss."""
        obs, next_obs = self._input(batch.obs), self._input(batch.next_obs)
        if self.head is None:
            self.encoder.eval()
            with torch.no_grad():
                self._ensure_head(self.encoder(_take(obs, torch.arange(1))).shape[1])
        discrete = isinstance(self.action_space, gym.spaces.Discrete)
        actions = torch.as_tensor(np.asarray(batch.action))
        actions = actions.long().reshape(-1) if discrete else actions.float().reshape(batch.n, -1)
        self.encoder.train()
        losses = []
        for _ in range(self.epochs):
            order = self._rng.permutation(batch.n)
            for start in range(0, batch.n, self.batch_size):
                idx = torch.from_numpy(order[start : start + self.batch_size])
                pair = torch.cat([self.encoder(_take(obs, idx)), self.encoder(_take(next_obs, idx))], dim=1)
                pred = self.head(pair)
                if discrete:
                    loss = nn.functional.cross_entropy(pred, actions[idx])
                else:
                    loss = nn.functional.mse_loss(pred, actions[idx])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        self.encoder.eval()
        return {"inverse_dynamics_loss": float(np.mean(losses))}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"encoder": None if self.encoder is None else self.encoder.state_dict()}
        if self.head is not None:
            state["head"] = self.head.state_dict()
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["encoder"] is not None:
            if self.encoder is None:
                self._build(state["encoder"]["0.running_mean"].shape[0])
            self.encoder.load_state_dict(state["encoder"])
        if "head" in state:
            self._ensure_head(state["head"]["0.weight"].shape[1] // 2)
            self.head.load_state_dict(state["head"])
            self.optimizer.load_state_dict(state["optimizer"])


def _take(x: Any, idx: torch.Tensor) -> Any:
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]
