"""YAML registration of the perceptual reward (family ``perceptual``)::

    - {term: perceptual, path: models/reach.pt, weight: 1.0}

The file comes from ``rewardlab perceptual fit DEMOS_DIR --encoder ... --out models/reach.pt``.
"""

from __future__ import annotations

from typing import Any

from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm
from rewardlab.wrappers.frames import FrameSettings


@TERMS.register("perceptual", family="perceptual")
def perceptual(path: str, device: str = "auto", render: dict[str, Any] | None = None) -> RewardTerm:
    """Perceptual reward fitted on demonstrations (Sermanet et al. 2016): progress through discovered steps.

    Args:
        path: the fitted reward file written by ``rewardlab perceptual fit`` (or ``PerceptualReward.save``).
        device: where the image encoder runs: ``"auto"``, ``"cpu"`` or ``"cuda:N"``.
        render: size and camera of the frames (``{width, height, camera_config}``); default: the ones it was fitted on.
    """
    from rewardlab.perceptual.reward import PerceptualReward

    try:
        term = PerceptualReward.load(path, device=device)
    except FileNotFoundError as err:
        raise ValueError(str(err)) from err
    if render is not None:
        term.frame_settings = FrameSettings.from_config(render, where="render: ")
    return term
