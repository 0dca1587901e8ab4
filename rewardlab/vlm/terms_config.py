"""YAML registration of the CLIP reward (family ``vlm``)::

    - term: clip_reward
      model: ViT-B-32
      pretrained: laion2b_s34b_b79k      # or checkpoint: /path/to/open_clip_pytorch_model.bin
      goal: ["a humanoid robot kneeling"]
      baseline: ["a humanoid robot"]
      alpha: 0.5
      score_every: 1
      render: {width: 224, height: 224, camera_config: {distance: 3.5, elevation: -10}}

``render`` sets the size and camera of the frames the envs render for it
(:class:`~rewardlab.wrappers.frames.FrameSettings`).
"""

from __future__ import annotations

from rewardlab.config.registry import TERMS

# parameters, defaults and descriptions: clip_reward's signature and docstring; ``render`` is its ``frame_settings``
TERMS.add("clip_reward", "rewardlab.vlm.clip_reward:clip_reward", family="vlm", rename={"frame_settings": "render"})
