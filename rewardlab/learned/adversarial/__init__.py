"""Adversarial rewards from demonstrations: GAIL and AIRL discriminators kept Lipschitz.

::

    demos = rl.learned.adversarial.collect_demos("runs/expert", episodes=20)
    demos.save("demos.npz")
    reward = rl.learned.adversarial.AdversarialReward(demos="demos.npz", kind="gail", lipschitz="gp")

or in a reward file ``{term: adversarial, demos: demos.npz, kind: gail, lipschitz: gp}``.
Torch is imported when a term is built.
"""

from typing import Any

from rewardlab.learned.adversarial import terms_config  # noqa: F401  (registers the YAML term)
from rewardlab.learned.adversarial.demos import Demonstrations, collect_demos, from_episodes, load_demos


def __getattr__(name: str) -> Any:
    if name == "AdversarialReward":
        from rewardlab.learned.adversarial.term import AdversarialReward

        return AdversarialReward
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AdversarialReward", "Demonstrations", "collect_demos", "from_episodes", "load_demos"]
