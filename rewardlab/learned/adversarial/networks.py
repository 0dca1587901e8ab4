"""Discriminator networks of the adversarial rewards: GAIL's ``D(s, a, s')`` and AIRL's shaped ``f``.

Both return a *logit* ``ℓ``; ``D = σ(ℓ)`` is the probability that a transition
comes from the expert.

* GAIL (Ho & Ermon 2016): ``ℓ = MLP(x)`` with ``x`` the chosen inputs
  (``"sa"``: ``[s, a]``, ``"sas"``: ``[s, a, s']``, ``"ss"``: ``[s, s']``, ``"s"``: ``[s]``).
* AIRL (Fu et al. 2018): ``ℓ = f(s, a, s') = g(s, a) + γ·(1 − terminated)·h(s') − h(s)``,
  ``g`` reading ``[s, a]`` (``inputs="s"``: ``[s]``, a state-only reward) and ``h``
  a potential on ``s``. AIRL's discriminator is ``σ(f − log π(a|s))``; the policy's
  log-probability is not available to a reward term, so it is dropped here:
  ``D = σ(f)`` and the reward is ``f`` (``log D − log(1 − D)``). With SAC (or PPO
  with an entropy bonus) the agent's own entropy term adds ``−α·log π`` back to
  the objective it maximises.

Spectral normalisation (Miyato et al. 2018) divides each linear layer's weight
by an estimate of its largest singular value, so the network is 1-Lipschitz
in its inputs (ReLU is 1-Lipschitz); AIRL's ``f`` is then at most
``1 + γ + 1``-Lipschitz.
"""

from __future__ import annotations

import torch
from torch import nn

INPUTS = ("sa", "sas", "ss", "s")


def mlp(in_dim: int, hidden: int, *, layers: int, spectral: bool) -> nn.Sequential:
    """``layers`` ReLU layers of width ``hidden``, then a scalar output; optionally spectrally normalised."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [_linear(dim, hidden, spectral), nn.ReLU()]
        dim = hidden
    mods.append(_linear(dim, 1, spectral))
    return nn.Sequential(*mods)


def _linear(i: int, o: int, spectral: bool) -> nn.Module:
    layer = nn.Linear(i, o)
    if spectral:
        layer = nn.utils.parametrizations.spectral_norm(layer)
    return layer


class Discriminator(nn.Module):
    """Logit of "this transition is the expert's" from normalised ``s``, encoded ``a`` and normalised ``s'``.

    Args:
        obs_dim, act_dim: sizes of the (flattened) observation and encoded action.
        kind: ``"gail"`` or ``"airl"`` (see the module docs).
        inputs: what GAIL's network (or AIRL's ``g``) reads: ``"sa"``, ``"sas"``, ``"ss"`` or ``"s"``.
        hidden, layers: width and depth of each MLP.
        spectral: spectrally normalise every linear layer.
        gamma: AIRL's discount in the shaping ``γh(s') − h(s)``.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        kind: str = "gail",
        inputs: str = "sa",
        hidden: int = 64,
        layers: int = 2,
        spectral: bool = False,
        gamma: float = 0.99,
    ) -> None:
        super().__init__()
        self.kind, self.inputs, self.gamma = kind, inputs, float(gamma)
        sizes = {"s": obs_dim, "a": act_dim}
        if kind == "airl":
            g_in = obs_dim + (act_dim if inputs in ("sa", "sas") else 0)
            self.g = mlp(g_in, hidden, layers=layers, spectral=spectral)
            self.h = mlp(obs_dim, hidden, layers=layers, spectral=spectral)
        else:
            in_dim = sum(sizes[c] for c in inputs)
            self.net = mlp(in_dim, hidden, layers=layers, spectral=spectral)

    def forward(self, s: torch.Tensor, a: torch.Tensor, s2: torch.Tensor, not_done: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(n,)``."""
        if self.kind == "airl":
            g_in = torch.cat([s, a], dim=1) if self.inputs in ("sa", "sas") else s
            g = self.g(g_in).squeeze(1)
            return g + self.gamma * not_done * self.h(s2).squeeze(1) - self.h(s).squeeze(1)
        parts = {"sa": [s, a], "sas": [s, a, s2], "ss": [s, s2], "s": [s]}[self.inputs]
        return self.net(torch.cat(parts, dim=1)).squeeze(1)
