"""YAML registration of the adversarial rewards from demonstrations (family ``learned``).

::

    reward:
      - {term: adversarial, demos: runs/expert/demos.npz, kind: gail, lipschitz: gp}
      - {term: adversarial, demos: demos.npz, kind: airl, lipschitz: spectral, inputs: s}
      - {term: adversarial, demos: runs/expert, demo_episodes: 20}      # rolled out from a trained run

Write the demonstrations with ``rewardlab demos collect RUN --episodes 20 --out demos.npz``.
"""

from __future__ import annotations

from typing import Literal

from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm


@TERMS.register("adversarial", family="learned")
def adversarial(
    demos: str,
    kind: Literal["gail", "airl"] = "gail",
    lipschitz: Literal["gp", "spectral", "none"] = "gp",
    reward: Literal["gail", "airl", "log_d"] | None = None,
    inputs: Literal["sa", "sas", "ss", "s"] = "sa",
    gp_weight: float = 10.0,
    gp_target: float = 1.0,
    gp_one_sided: bool = True,
    hidden: int = 64,
    layers: int = 2,
    gamma: float = 0.99,
    absorbing: bool = True,
    lr: float = 3e-4,
    batch_size: int = 128,
    epochs: int = 1,
    history: int = 0,
    normalize_obs: bool = True,
    demo_episodes: int = 10,
    seed: int = 0,
) -> RewardTerm:
    """GAIL/AIRL reward from demonstrations (.npz or a run folder), kept Lipschitz (gradient penalty, spectral norm)."""
    from rewardlab.learned.adversarial.term import AdversarialReward

    return AdversarialReward(
        demos=demos,
        kind=kind,
        lipschitz=lipschitz,
        reward=reward,
        inputs=inputs,
        gp_weight=gp_weight,
        gp_target=gp_target,
        gp_one_sided=gp_one_sided,
        hidden=hidden,
        layers=layers,
        gamma=gamma,
        absorbing=absorbing,
        lr=lr,
        batch_size=batch_size,
        epochs=epochs,
        history=history,
        normalize_obs=normalize_obs,
        demo_episodes=demo_episodes,
        seed=seed,
    )
