"""Visual encoders that turn RGB frames into feature vectors for perceptual rewards.

An encoder is named by a spec string, saved with the fitted reward so it can be
rebuilt exactly:

* ``clip:MODEL:TAG`` or ``clip:MODEL:/path/weights.bin`` -- the CLIP image tower (open_clip);
* ``torchvision:NAME`` (the model's default ImageNet weights), ``torchvision:NAME:random``
  (random initialisation), ``torchvision:NAME:/path/weights.pth``, optionally ``:SIZE`` for the
  input size (default 224); the classifier head is dropped, the features are the penultimate layer;
* ``pixels:SIZE`` -- the frame downsampled to SIZE×SIZE RGB, flattened: no learned features
  at all, an honest baseline for simple rendered scenes.

What a saved reward needs to rebuild the *same* encoder depends on the kind:
pixels need nothing but the spec; named weights (a torchvision weights enum, a
CLIP tag) are published and fixed; random weights are drawn from a fixed seed
and, so that they survive another torch version, saved with the reward
(:meth:`ImageEncoder.weights_to_save`); local weights files are checked by
:meth:`ImageEncoder.fingerprint` (a SHA-256 of every weight) when the reward loads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

ENCODER_KINDS = ("clip", "torchvision", "pixels")


RANDOM_INIT_SEED = 0  # random encoders are drawn from this seed: two builds of a spec are the same network


class ImageEncoder:
    """Frames (``uint8``, ``(n, H, W, 3)``) → features (``float32``, ``(n, d)``).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import ImageEncoder, make_encoder
        >>> encoder = make_encoder("pixels:4")
        >>> isinstance(encoder, ImageEncoder), encoder.encode(np.zeros((1, 8, 8, 3), dtype=np.uint8)).dtype
        (True, dtype('float32'))
    """

    spec: str

    def encode(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def network(self) -> Any:
        """The ``torch.nn.Module`` whose weights decide the features (``None``: no weights)."""
        return None

    def fingerprint(self) -> str:
        """SHA-256 over the names and values of every weight ("" without weights): equal iff the same network."""
        import hashlib

        import torch

        net = self.network()
        if net is None:
            return ""
        cached = getattr(self, "_fingerprint", None)  # the encoder is frozen: hash its weights once
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        for key, value in net.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @property
    def random_weights(self) -> bool:
        """Whether the spec names randomly initialised weights (then :meth:`weights_to_save` returns them)."""
        return self.spec.split(":")[2:3] == ["random"]

    def weights_to_save(self) -> dict[str, Any] | None:
        """The weights a saved reward must carry to rebuild this encoder exactly: random ones, else ``None``."""
        net = self.network()
        if net is None or not self.random_weights:
            return None
        return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Put saved weights (from :meth:`weights_to_save`) into the network."""
        net = self.network()
        if net is None:
            raise ValueError(f"encoder {self.spec!r} has no weights to load")
        net.load_state_dict(weights)
        self._fingerprint = None


@contextlib.contextmanager
def seeded_init(seed: int = RANDOM_INIT_SEED) -> Iterator[None]:
    """A context in which torch draws from ``seed`` without touching the global generator's state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class PixelEncoder(ImageEncoder):
    """Area-downsampled RGB pixels in [0, 1], flattened (``size²·3`` features).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import PixelEncoder
        >>> PixelEncoder(4).encode(np.full((1, 16, 16, 3), 255, dtype=np.uint8)).shape
        (1, 48)
    """

    def __init__(self, size: int = 16) -> None:
        if size < 1:
            raise ValueError(f"pixel encoder size must be >= 1, got {size}")
        self.size = int(size)
        self.spec = f"pixels:{self.size}"

    def encode(self, frames: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
        x = F.interpolate(x, size=(self.size, self.size), mode="area")
        return x.reshape(len(x), -1).numpy()


class TorchvisionEncoder(ImageEncoder):
    """Penultimate-layer features of a torchvision classifier (ImageNet preprocessing, batched).

    Args:
        name: a torchvision classification model (``resnet18``, ``squeezenet1_1``, ...).
        weights: ``"DEFAULT"`` or a weights name (ImageNet, downloaded once), ``None``/``"random"``
            (seeded random initialisation), or a ``.pth`` file.
        image_size: frames are resized to this square side.
        device, batch_size: where the network runs and frames per forward pass.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import TorchvisionEncoder
        >>> encoder = TorchvisionEncoder("squeezenet1_1", weights=None, image_size=32)   # random: no download
        >>> encoder.spec, encoder.encode(np.zeros((2, 64, 64, 3), dtype=np.uint8)).shape
        ('torchvision:squeezenet1_1:random:32', (2, 512))
    """

    def __init__(
        self, name: str, weights: str | None = "DEFAULT", *, image_size: int = 224, device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        import torch
        import torchvision

        valid = torchvision.models.list_models(module=torchvision.models)
        if name not in valid:
            from rewardlab.config.registry import suggest

            raise ValueError(f"unknown torchvision model {name!r}{suggest(name, valid)}; valid: {', '.join(valid)}")
        self.name, self.image_size, self.device, self.batch_size = name, int(image_size), device, batch_size
        self.spec = f"torchvision:{name}:{'random' if weights is None else weights}"
        if self.image_size != 224:
            self.spec += f":{self.image_size}"
        if weights is None or weights == "random":
            with seeded_init():
                model = torchvision.models.get_model(name, weights=None)
        elif os.path.sep in weights or weights.endswith((".pth", ".pt")):
            if not os.path.isfile(weights):
                raise FileNotFoundError(f"torchvision weights file {weights!r} does not exist")
            model = torchvision.models.get_model(name, weights=None)
            model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        else:
            try:
                model = torchvision.models.get_model(name, weights=weights)
            except Exception as err:  # noqa: BLE001 - download or unknown weights name
                home = torch.hub.get_dir()
                raise FileNotFoundError(
                    f"could not load torchvision weights {weights!r} for {name} ({type(err).__name__}: {err}); "
                    f"on a machine with internet run torchvision.models.get_model({name!r}, weights={weights!r}) "
                    f"and copy {home}/checkpoints here, or pass a .pth file, or use torchvision:{name}:random"
                ) from err
        _drop_head(model)
        self.model = model.eval().to(device)
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def network(self) -> Any:
        return self.model

    def encode(self, frames: np.ndarray) -> np.ndarray:
        import torch
        import torchvision.transforms.v2.functional as F

        out = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                x = torch.as_tensor(np.ascontiguousarray(frames[start : start + self.batch_size])).permute(0, 3, 1, 2)
                x = F.resize(x, [self.image_size, self.image_size], antialias=True).float().div_(255.0)
                x = ((x - self.mean) / self.std).to(self.device)
                out.append(self.model(x).flatten(1).float().cpu())
        return torch.cat(out).numpy()


def _drop_head(model: Any) -> None:
    import torch

    for attr in ("fc", "classifier", "head", "heads"):
        if hasattr(model, attr) and isinstance(getattr(model, attr), torch.nn.Module):
            setattr(model, attr, torch.nn.Identity())
            return


class CLIPImageEncoder(ImageEncoder):
    """The CLIP image tower (unit-norm embeddings), preprocessed as open_clip does.

    Args:
        model: an open_clip architecture (``ViT-B-32``, ...).
        weights: its pretrained tag, ``"random"`` (seeded random initialisation) or a weights file.
        device: ``"auto"``, ``"cpu"`` or ``"cuda:N"``.
        download: allow fetching the tag's weights.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import CLIPImageEncoder
        >>> from rewardlab.vlm.tiny import register_tiny_clip          # a tiny random CLIP: no download
        >>> encoder = CLIPImageEncoder(register_tiny_clip(), "random", device="cpu")
        >>> encoder.spec, encoder.encode(np.zeros((2, 64, 64, 3), dtype=np.uint8)).shape
        ('clip:rl-tiny-clip:random', (2, 32))
    """

    def __init__(self, model: str, weights: str, *, device: str = "auto", download: bool = True) -> None:
        from rewardlab.vlm.encoder import CLIPEncoder

        is_file = os.path.sep in weights or os.path.isfile(weights)
        with seeded_init():  # random weights (``clip:MODEL:random``) drawn from the fixed seed
            self.encoder = CLIPEncoder.from_pretrained(
                model,
                None if is_file else weights,
                checkpoint=weights if is_file else None,
                device=device,
                download=download,
            )
        self.spec = f"clip:{model}:{weights}"

    def network(self) -> Any:
        return self.encoder.model.visual

    def encode(self, frames: np.ndarray) -> np.ndarray:
        return self.encoder.embed_images(frames)


def make_encoder(spec: str | ImageEncoder, *, device: str = "auto") -> ImageEncoder:
    """Build an encoder from its spec string (see the module docs).

    Examples:
        >>> import numpy as np
        >>> from rewardlab.perceptual import make_encoder
        >>> encoder = make_encoder("pixels:8")
        >>> encoder.encode(np.zeros((2, 32, 32, 3), dtype=np.uint8)).shape
        (2, 192)
    """
    if isinstance(spec, ImageEncoder):
        return spec
    kind, _, rest = str(spec).partition(":")
    if kind == "pixels":
        try:
            return PixelEncoder(int(rest or 16))
        except ValueError as err:
            raise ValueError(f"bad pixel encoder {spec!r}: {err}; use pixels:SIZE, e.g. pixels:16") from err
    if kind == "torchvision":
        name, _, weights = rest.partition(":")
        weights, _, size = weights.rpartition(":") if weights.rpartition(":")[2].isdigit() else (weights, "", "")
        if not name:
            raise ValueError(f"bad encoder {spec!r}; use torchvision:NAME[:random|:WEIGHTS|:/path.pth][:SIZE]")
        from rewardlab.vlm.encoder import resolve_device

        return TorchvisionEncoder(
            name, weights or "DEFAULT", image_size=int(size or 224), device=resolve_device(device)
        )
    if kind == "clip":
        model, _, weights = rest.partition(":")
        if not model or not weights:
            raise ValueError(f"bad encoder {spec!r}; use clip:MODEL:TAG or clip:MODEL:/path/to/weights")
        return CLIPImageEncoder(model, weights, device=device)
    raise ValueError(f"unknown encoder kind {kind!r} in {spec!r}; valid: {', '.join(ENCODER_KINDS)}")
