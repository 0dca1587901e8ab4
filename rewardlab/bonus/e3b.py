"""E3B: the elliptical episodic bonus (Henaff et al. 2022).

``b = φ(s')ᵀ C⁻¹ φ(s')`` where ``C = λI + Σ φφᵀ`` sums the embeddings seen so
far in the episode. Starting from ``C₀⁻¹ = I/λ``, each step updates the
inverse with Sherman–Morrison, ``u = C⁻¹φ``, ``C⁻¹ ← C⁻¹ − uuᵀ/(1 + b)``,
for every env at once in one numba kernel. ``φ`` comes from an
inverse-dynamics encoder trained online in :meth:`E3B.update`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.bonus.kernels import elliptical_bonus
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions


class E3B(RewardTerm):
    """Elliptical episodic bonus on an inverse-dynamics embedding.

    Args:
        embed_dim: size of φ (the built-in MLP encoder's output).
        hidden: width of the built-in MLP layers.
        ridge: λ in ``C₀ = λI`` (0.1 in the paper).
        encoder: a torch module to use as φ instead of the built-in MLP
            (it receives tensors, or a dict of tensors for dict observations).
        field: dict-observation field the built-in MLP reads.
        lr, batch_size, epochs: encoder training in :meth:`update`.
        seed: initialisation and minibatch order.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> term = rl.bonus.E3B(embed_dim=8, hidden=16, seed=0)
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("CartPole-v1", n_envs=2, seed=0), term)
        >>> _ = venv.reset()
        >>> _, rewards, _, _ = venv.step(np.array([0, 1]))
        >>> bool((rewards > 0).all())      # b = φᵀC⁻¹φ > 0 for a new embedding
        True
    """

    name = "e3b"
    learns = True

    def __init__(
        self,
        *,
        embed_dim: int = 32,
        hidden: int = 64,
        ridge: float = 0.1,
        encoder: Any = None,
        field: str | None = None,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 1,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        from rewardlab.bonus.networks import InverseDynamicsEncoder

        super().__init__(name=name)
        if ridge <= 0:
            raise ValueError(f"ridge (λ) must be > 0, got {ridge}")
        self.ridge = float(ridge)
        self.features = InverseDynamicsEncoder(
            embed_dim=embed_dim,
            hidden=hidden,
            encoder=encoder,
            field=field,
            lr=lr,
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
        )
        self.inv_cov: np.ndarray | None = None

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        self.features.bind(env, who=f"reward term {self.name!r}")
        if self.inv_cov is not None and len(self.inv_cov) != env.n_envs:
            self.inv_cov = None  # other envs (a loaded run evaluated with more envs): their episodes start fresh

    def _fresh(self, n: int, d: int) -> np.ndarray:
        return np.broadcast_to(np.eye(d) / self.ridge, (n, d, d)).copy()

    def compute(self, batch: Transitions) -> np.ndarray:
        phi = np.ascontiguousarray(self.features.embed(batch.next_obs))
        n, d = phi.shape
        if self.inv_cov is None or self.inv_cov.shape != (n, d, d):
            self.inv_cov = self._fresh(n, d)
        out = np.empty(n)
        elliptical_bonus(self.inv_cov, phi, out)
        return out

    def reset(self, env_indices: np.ndarray) -> None:
        if self.inv_cov is not None:
            d = self.inv_cov.shape[1]
            self.inv_cov[env_indices] = np.eye(d) / self.ridge

    def update(self, batch: Transitions) -> dict[str, float]:
        return self.features.update(batch)

    def state_dict(self) -> dict[str, Any]:
        return {"features": self.features.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.features.load_state_dict(state["features"])

    def __repr__(self) -> str:
        return f"E3B(ridge={self.ridge:g}, embed_dim={self.features.embed_dim})"


def e3b(**kwargs: Any) -> E3B:
    """An E3B bonus (see :class:`E3B` for the keyword arguments).

    Examples:
        >>> import rewardlab as rl
        >>> (rl.extrinsic() + 0.01 * rl.bonus.e3b(ridge=0.1)).component_names()
        ['extrinsic', 'e3b']
    """
    return E3B(**kwargs)
