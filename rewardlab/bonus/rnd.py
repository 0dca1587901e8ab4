"""RND: random network distillation (Burda et al. 2019).

The novelty of ``s'`` is the prediction error ``‖f̂(s') − f(s')‖²`` of a
predictor ``f̂`` trained (in :meth:`RND.update`) to match a frozen, randomly
initialised target ``f``: it stays high on states the predictor has rarely
seen. Observations are normalised by running per-dimension statistics and
clipped to ``[-5, 5]`` before both networks, as in the paper.

Output scaling (``normalize``): ``"std"`` divides by the running std of the
error; ``"ngu"`` gives NGU's lifelong multiplier ``α = 1 + (e − μ)/σ``;
``"none"`` leaves the raw error.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from rewardlab.core.checks import check_at_least, check_positive
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.running import RunningMeanStd
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions

RND_NORMALIZATIONS = ("std", "ngu", "none")
RND_ERRORS = ("squared", "norm")
OBS_CLIP = 5.0


class RND(RewardTerm):
    """Random network distillation novelty of the next observation.

    Args:
        embed_dim, hidden: output size and width of target and predictor MLPs.
        error: ``"squared"`` ``‖f̂ − f‖²`` or ``"norm"`` ``‖f̂ − f‖``.
        normalize: ``"std"``, ``"ngu"`` or ``"none"`` (see module docs).
        field: dict-observation field to read.
        lr, batch_size, epochs: predictor training in :meth:`update`.
        seed: initialisation (the target is random but reproducible).

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> term = rl.bonus.RND(embed_dim=8, hidden=16, normalize="none", seed=0)
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), term)
        >>> _ = venv.reset()
        >>> _, rewards, _, _ = venv.step(np.array([0, 1]))
        >>> bool((rewards > 0).all())      # the untrained predictor misses the random target
        True
    """

    name = "rnd"
    learns = True

    def __init__(
        self,
        *,
        embed_dim: int = 64,
        hidden: int = 128,
        error: Literal["squared", "norm"] = "squared",
        normalize: Literal["std", "ngu", "none"] = "std",
        field: str | None = None,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 1,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if normalize not in RND_NORMALIZATIONS:
            raise ValueError(f"unknown RND normalize {normalize!r}; valid: {list(RND_NORMALIZATIONS)}")
        if error not in RND_ERRORS:
            raise ValueError(f"unknown RND error {error!r}; valid: {list(RND_ERRORS)}")
        check_at_least(1, embed_dim=embed_dim, hidden=hidden, batch_size=batch_size, epochs=epochs)
        check_positive(lr=lr)
        self.embed_dim, self.hidden = embed_dim, hidden
        self.error, self.normalize = error, normalize
        self.field = field
        self.lr, self.batch_size, self.epochs, self.seed = lr, batch_size, epochs, seed
        self.stats = RunningMeanStd()
        self.nets: Any = None
        self._rng = np.random.default_rng(seed)

    def bind(self, env: EnvInfo) -> None:
        import gymnasium as gym

        super().bind(env)
        space = env.field_space(self.field, who=f"reward term {self.name!r}")
        if isinstance(space, gym.spaces.Box) and self.nets is None:
            self._build(gym.spaces.flatdim(space))

    def _build(self, in_dim: int) -> None:
        import torch
        from torch import nn

        from rewardlab.bonus.networks import input_norm, mlp

        self.nets = nn.ModuleDict(
            {
                "norm": input_norm(in_dim),
                "target": mlp(in_dim, self.hidden, self.embed_dim, seed=self.seed),
                "predictor": mlp(in_dim, self.hidden, self.embed_dim, seed=self.seed + 1),
            }
        )
        self.nets.eval()
        self.nets["target"].requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.nets["predictor"].parameters(), lr=self.lr)

    def _input(self, obs: Any) -> Any:
        import torch

        from rewardlab.bonus.networks import flat_obs

        x = flat_obs(obs, self.field)
        if self.nets is None:
            self._build(x.shape[1])
        return torch.from_numpy(x)

    def _squared_errors(self, x: Any) -> Any:
        """Per-row ``‖f̂(z) − f(z)‖²`` of the normalised, clipped inputs ``z`` (a tensor)."""
        import torch

        z = torch.clamp(self.nets["norm"](x), -OBS_CLIP, OBS_CLIP)
        return ((self.nets["predictor"](z) - self.nets["target"](z)) ** 2).sum(dim=1)

    def novelty(self, obs: Any) -> np.ndarray:
        """Raw prediction error of each observation (no normalisation, no statistics update)."""
        import torch

        x = self._input(obs)
        with torch.no_grad():
            sq = self._squared_errors(x).double().numpy()
        return sq if self.error == "squared" else np.sqrt(sq)

    def scale(self, errors: np.ndarray) -> np.ndarray:
        """Apply the output normalisation to raw errors."""
        if self.normalize == "std":
            return errors / (self.stats.std + 1e-8)
        if self.normalize == "ngu":
            return 1.0 + (errors - self.stats.mean) / (self.stats.std + 1e-8)
        return errors

    def compute(self, batch: Transitions) -> np.ndarray:
        errors = self.novelty(batch.next_obs)
        if self.training:
            self.stats.update(errors)
        return self.scale(errors)

    def update(self, batch: Transitions) -> dict[str, float]:
        import torch

        x = self._input(batch.next_obs)
        norm = self.nets["norm"]
        norm.train()
        with torch.no_grad():
            norm(x)  # fold the batch into the running observation statistics
        norm.eval()
        losses = []
        for _ in range(self.epochs):
            order = self._rng.permutation(batch.n)
            for start in range(0, batch.n, self.batch_size):
                idx = torch.from_numpy(order[start : start + self.batch_size])
                loss = self._squared_errors(x[idx]).mean()
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        return {"rnd_loss": float(np.mean(losses))}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"stats": self.stats.state_dict()}
        if self.nets is not None:
            state["nets"] = self.nets.state_dict()
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state["stats"])
        if "nets" in state:
            if self.nets is None:
                self._build(state["nets"]["norm.running_mean"].shape[0])
            self.nets.load_state_dict(state["nets"])
            self.optimizer.load_state_dict(state["optimizer"])

    def __repr__(self) -> str:
        return f"RND(normalize={self.normalize!r})"


def rnd(**kwargs: Any) -> RND:
    """An RND novelty bonus (see :class:`RND` for the keyword arguments).

    Examples:
        >>> import rewardlab as rl
        >>> rl.bonus.rnd(error="norm").name
        'rnd'
    """
    return RND(**kwargs)
