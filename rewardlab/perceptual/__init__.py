"""Perceptual rewards from a few demonstrations (Sermanet, Xu & Levine 2016).

::

    reward = rl.perceptual.PerceptualReward.fit(demo_frames, encoder="torchvision:resnet18", n_steps=3)
    reward.save("reach.pt")                      # later: PerceptualReward.load("reach.pt"), or YAML {term: perceptual}

or from the shell: ``rewardlab perceptual fit DEMOS_DIR --encoder torchvision:resnet18 --out reach.pt``.
"""

from rewardlab.perceptual import terms_config  # noqa: F401  (registers the YAML name 'perceptual')
from rewardlab.perceptual.encoders import (
    CLIPImageEncoder,
    ImageEncoder,
    PixelEncoder,
    TorchvisionEncoder,
    make_encoder,
)
from rewardlab.perceptual.model import PerceptualModel, split_steps
from rewardlab.perceptual.reward import PerceptualReward, read_demos, read_video

__all__ = [
    "CLIPImageEncoder",
    "ImageEncoder",
    "PerceptualModel",
    "PerceptualReward",
    "PixelEncoder",
    "TorchvisionEncoder",
    "make_encoder",
    "read_demos",
    "read_video",
    "split_steps",
]
