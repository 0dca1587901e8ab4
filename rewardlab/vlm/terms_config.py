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

from typing import Any, Literal, Union

from rewardlab.config.registry import TERMS, ConfigError
from rewardlab.core.term import RewardTerm
from rewardlab.wrappers.frames import FrameSettings


@TERMS.register("clip_reward", family="vlm")
def clip_reward_term(
    goal: Union[str, list[str]],
    baseline: Union[str, list[str]] = "",
    model: str = "ViT-B-32",
    pretrained: str | None = "laion2b_s34b_b79k",
    checkpoint: str | None = None,
    alpha: float = 0.5,
    score_every: int = 1,
    device: str = "auto",
    precision: Literal["fp32", "fp16", "bf16"] = "fp32",
    autocast: bool | None = None,
    batch_size: int = 64,
    exact_preprocess: bool = False,
    cache_dir: str | None = None,
    download: bool = True,
    render: dict[str, Any] | None = None,
) -> RewardTerm:
    """CLIP zero-shot reward (VLM-RM): 1 − ½‖(x − g)P‖², goal–baseline projection with α."""
    from rewardlab.vlm.clip_reward import clip_reward
    from rewardlab.vlm.loading import WeightsNotFoundError

    baseline_list = ([baseline] if baseline else []) if isinstance(baseline, str) else baseline
    try:
        return clip_reward(
            goal,
            baseline_list,
            model=model,
            pretrained=pretrained,
            checkpoint=checkpoint,
            alpha=alpha,
            score_every=score_every,
            device=device,
            precision=precision,
            autocast=autocast,
            batch_size=batch_size,
            exact_preprocess=exact_preprocess,
            cache_dir=cache_dir,
            download=download,
            frame_settings=FrameSettings.from_config(render, where="render: "),
        )
    except WeightsNotFoundError as err:
        raise ConfigError(str(err)) from err
