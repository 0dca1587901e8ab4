"""open_clip's inference preprocessing, applied to a whole batch of frames at once.

open_clip preprocesses one PIL image at a time: resize (``shortest`` edge,
``longest`` edge with padding, or ``squash``) with bicubic or bilinear
antialiased interpolation on 8-bit pixels, centre crop (or pad with
``fill_color``), scale to [0, 1], normalise by the model's mean and std.
:class:`BatchPreprocess` does the same steps on a ``uint8`` tensor of shape
``(n, height, width, 3)``; torchvision's uint8 antialiased resize follows
Pillow's algorithm, so pixels match open_clip's to within one grey level
(``shortest`` and ``longest`` modes, and ``squash`` with one scale factor);
``squash`` with different factors per axis can differ by a few grey levels at
a few pixels (fixed-point kernel precision). Frames rendered at the model's
input size are not resized at all. The tests pin this against open_clip's own
transform; ``exact=True`` runs that transform frame by frame instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _pair(size: Any) -> tuple[int, int]:
    if isinstance(size, (list, tuple)):
        return int(size[-2]), int(size[-1])
    return int(size), int(size)


class BatchPreprocess:
    """Frames (``uint8``, ``(n, H, W, 3)``, numpy or torch) → normalised ``float32`` ``(n, 3, h, w)``.

    Args:
        cfg: open_clip's preprocessing config (``model.visual.preprocess_cfg``:
            ``size``, ``mean``, ``std``, ``interpolation``, ``resize_mode``, ``fill_color``).
        exact: use open_clip's own per-image PIL transform (slower, bit-identical).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.vlm import BatchPreprocess
        >>> cfg = {"size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}   # a model's preprocess_cfg
        >>> x = BatchPreprocess(cfg)(np.zeros((2, 100, 80, 3), dtype=np.uint8))   # resize shortest side, crop
        >>> tuple(x.shape), float(x.min())
        ((2, 3, 32, 32), -1.0)
    """

    def __init__(self, cfg: dict[str, Any], *, exact: bool = False) -> None:
        import torch

        self.cfg = dict(cfg)
        self.size = _pair(cfg.get("size", 224))
        self.resize_mode = cfg.get("resize_mode", "shortest")
        if self.resize_mode not in ("shortest", "longest", "squash"):
            raise ValueError(f"unknown resize_mode {self.resize_mode!r}; valid: shortest, longest, squash")
        self.interpolation = cfg.get("interpolation", "bicubic")
        self.fill = int(cfg.get("fill_color", 0))
        self.mean = torch.tensor(cfg["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self.exact = exact
        self._open_clip_transform = None

    def __call__(self, frames: Any) -> Any:
        import torch

        if self.exact:
            return self._per_image(frames)
        x = frames if isinstance(frames, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(frames))
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise ValueError(f"frames must be uint8 of shape (n, height, width, 3), got {tuple(x.shape)} {x.dtype}")
        x = self.geometry(x.permute(0, 3, 1, 2))
        x = x.float().div_(255.0)
        return (x - self.mean) / self.std

    def geometry(self, x: Any) -> Any:
        """Resize and crop/pad a ``uint8`` ``(n, 3, H, W)`` batch as open_clip does."""
        import torchvision.transforms.v2.functional as F
        from torchvision.transforms import InterpolationMode

        mode = InterpolationMode.BILINEAR if self.interpolation == "bilinear" else InterpolationMode.BICUBIC
        th, tw = self.size
        h, w = x.shape[-2:]
        if self.resize_mode == "squash":
            return F.resize(x, [th, tw], interpolation=mode, antialias=True)
        if self.resize_mode == "shortest":
            if th == tw:  # torchvision Resize(int): shorter edge to th, longer edge truncated as it computes it
                short, long = (h, w) if h <= w else (w, h)
                new_long = int(th * long / short)
                new = (th, new_long) if h <= w else (new_long, th)
            else:  # open_clip's ResizeKeepRatio(longest=0), which always resizes bicubic
                ratio = min(h / th, w / tw)
                new = (round(h / ratio), round(w / ratio))
                mode = InterpolationMode.BICUBIC
            if (h, w) != tuple(new):
                x = F.resize(x, list(new), interpolation=mode, antialias=True)
            return F.center_crop(x, [th, tw])
        ratio = max(h / th, w / tw)  # longest: fit inside, then pad
        new = (round(h / ratio), round(w / ratio))
        if (h, w) != new:
            x = F.resize(x, list(new), interpolation=mode, antialias=True)
        return _center_crop_or_pad(x, (th, tw), self.fill)

    def _per_image(self, frames: Any) -> Any:
        import torch
        from PIL import Image

        if self._open_clip_transform is None:
            from open_clip.transform import PreprocessCfg, image_transform_v2

            keys = PreprocessCfg.__dataclass_fields__
            self._open_clip_transform = image_transform_v2(
                PreprocessCfg(**{k: v for k, v in self.cfg.items() if k in keys}), is_train=False
            )
        arr = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        return torch.stack([self._open_clip_transform(Image.fromarray(f)) for f in arr])


def _center_crop_or_pad(x: Any, size: tuple[int, int], fill: int) -> Any:
    import torch.nn.functional as nnf

    th, tw = size
    h, w = x.shape[-2:]
    if h < th or w < tw:
        top, left = (th - h) // 2 if h < th else 0, (tw - w) // 2 if w < tw else 0
        pad = [left, max(tw - w - left, 0), top, max(th - h - top, 0)]
        x = nnf.pad(x, pad, value=fill)
        h, w = x.shape[-2:]
    top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
    return x[..., top : top + th, left : left + tw]
