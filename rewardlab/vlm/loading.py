"""Load an open_clip model by name and pretrained tag, or from a local weights file.

No weights ship with rewardlab. A tag's weights are looked up in open_clip's
cache (the Hugging Face hub cache, ``~/.cache/huggingface/hub`` or ``HF_HOME``,
or ``cache_dir``) and downloaded when ``download=True`` and the machine is online;
a local checkpoint file (``checkpoint=``) or an ``hf-hub:``/``local-dir:`` model
name works offline. Every failure names the problem and says how to get the weights.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.config.registry import suggest

RANDOM = "random"  # pretrained tag meaning "no weights" (tests and speed benchmarks only)


class WeightsNotFoundError(FileNotFoundError):
    """The weights a CLIP model needs are not on this machine; the message says how to get them.

    Examples:
        >>> from rewardlab.vlm import WeightsNotFoundError, load_clip
        >>> try:
        ...     load_clip("ViT-B-32", checkpoint="weights/missing.bin")
        ... except WeightsNotFoundError as exc:
        ...     print(str(exc).split(";")[0])
        CLIP weights file 'weights/missing.bin' does not exist
    """


@dataclass
class LoadedCLIP:
    """An open_clip model with what scoring needs: its tokenizer and its preprocessing config.

    Examples:
        >>> from rewardlab.vlm import load_clip
        >>> from rewardlab.vlm.tiny import register_tiny_clip          # a tiny random CLIP: no download
        >>> clip = load_clip(register_tiny_clip(), "random")
        >>> clip.name, clip.pretrained, clip.preprocess_cfg["size"]
        ('rl-tiny-clip', 'random', (32, 32))
    """

    model: Any
    tokenizer: Any
    preprocess_cfg: dict[str, Any]
    name: str
    pretrained: str | None


def _model_names() -> list[str]:
    import open_clip

    return open_clip.list_models()


def check_model_name(model: str) -> None:
    """Raise ``ValueError`` naming the valid architectures when ``model`` is unknown."""
    if model.startswith(("hf-hub:", "local-dir:")):
        if model.startswith("local-dir:"):
            folder = Path(model.removeprefix("local-dir:"))
            if not (folder / "open_clip_config.json").is_file():
                raise WeightsNotFoundError(
                    f"local-dir model {str(folder)!r} has no open_clip_config.json; a local-dir folder holds "
                    "open_clip_config.json and the weights (open_clip_model.safetensors or open_clip_pytorch_model.bin)"
                )
        return
    names = _model_names()
    if model not in names:
        raise ValueError(
            f"unknown open_clip model {model!r}{suggest(model, names)}; valid: {', '.join(names)} "
            "(or 'hf-hub:org/repo', 'local-dir:/path/to/folder')"
        )


def how_to_get(model: str, tag: str, cfg: dict[str, Any], cache_dir: str | None) -> str:
    """Instructions to fetch a tag's weights elsewhere and bring them here."""
    cache = cache_dir or os.environ.get("HF_HUB_CACHE") or "~/.cache/huggingface/hub (or $HF_HOME/hub)"
    hub = cfg.get("hf_hub", "")
    repo, filename = os.path.split(hub) if hub else ("", "")
    lines = [
        f'on a machine with internet run: python -c "import open_clip; '
        f"open_clip.create_model('{model}', pretrained='{tag}')\" and copy its Hugging Face cache to {cache}",
    ]
    if repo:
        lines.append(
            f"or: huggingface-cli download {repo} {filename or 'open_clip_pytorch_model.bin'} --local-dir weights/ "
            f"and pass checkpoint: weights/{filename or 'open_clip_pytorch_model.bin'}"
        )
    elif cfg.get("url"):
        lines.append(f"or download {cfg['url']} and pass checkpoint: /path/to/{os.path.basename(cfg['url'])}")
    return "; ".join(lines)


def cached_weights(cfg: dict[str, Any], cache_dir: str | None) -> str | None:
    """Path of a tag's weights in the local cache, without touching the network."""
    if cfg.get("file"):
        return cfg["file"] if os.path.isfile(cfg["file"]) else None
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith(".bin"):
            names.insert(0, filename.replace(".bin", ".safetensors"))
        for name in names:
            path = try_to_load_from_cache(repo, name, cache_dir=cache_dir)
            if isinstance(path, str) and os.path.isfile(path):
                return path
    url = cfg.get("url", "")
    if url:
        root = cache_dir or os.path.expanduser("~/.cache/clip")
        path = os.path.join(root, os.path.basename(url))
        if os.path.isfile(path):
            return path
    return None


def resolve_weights(model: str, tag: str, *, cache_dir: str | None = None, download: bool = True) -> str:
    """Local path of the weights of ``model`` / ``tag``: from the cache, else downloaded (when allowed)."""
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(model)
    if tag not in tags:
        valid = ", ".join(tags) if tags else "none (use checkpoint: /path/to/weights)"
        raise ValueError(
            f"unknown pretrained tag {tag!r} for open_clip model {model!r}{suggest(tag, tags)}; valid: {valid}"
        )
    cfg = open_clip.get_pretrained_cfg(model, tag)
    path = cached_weights(cfg, cache_dir)
    if path is not None:
        return path
    if not download:
        raise WeightsNotFoundError(
            f"weights of {model}/{tag} are not in the local cache and download is off; "
            f"{how_to_get(model, tag, cfg, cache_dir)}"
        )
    try:
        path = open_clip.download_pretrained(cfg, cache_dir=cache_dir)
    except Exception as err:  # noqa: BLE001 - network, hub or disk: all mean "not here"
        raise WeightsNotFoundError(
            f"could not download the weights of {model}/{tag} ({type(err).__name__}); "
            f"{how_to_get(model, tag, cfg, cache_dir)}"
        ) from err
    if not path or not os.path.isfile(path):
        raise WeightsNotFoundError(f"no weights file for {model}/{tag}; {how_to_get(model, tag, cfg, cache_dir)}")
    return path


@contextlib.contextmanager
def _fixed_seed(seed: int = 0) -> Iterator[None]:
    """Draw from ``seed`` without touching the global torch generator."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def load_clip(
    model: str = "ViT-B-32",
    pretrained: str | None = "laion2b_s34b_b79k",
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    cache_dir: str | None = None,
    download: bool = True,
) -> LoadedCLIP:
    """Build an open_clip model in eval mode with its tokenizer and preprocessing config.

    Args:
        model: an open_clip architecture (``open_clip.list_models()``), ``hf-hub:org/repo``
            or ``local-dir:/path``.
        pretrained: a tag of that architecture (``open_clip.list_pretrained_tags_by_model``),
            or ``"random"`` for randomly initialised weights (tests, speed benchmarks), drawn from a
            fixed seed so that a reward rebuilt from its config (a run folder) has the same network.
        checkpoint: a local weights file (``.bin``, ``.pt``, ``.safetensors``); overrides ``pretrained``
            for the weights but keeps the tag's preprocessing when a tag is given too.
        device, precision: where the model runs and in which precision (``fp32``, ``fp16``, ``bf16``).
        cache_dir: where tag weights are cached (default: the Hugging Face hub cache).
        download: fetch missing tag weights (needs internet); ``False`` fails at once.

    Examples:
        >>> from rewardlab.vlm import load_clip
        >>> from rewardlab.vlm.tiny import register_tiny_clip          # a tiny random CLIP: no download
        >>> clip = load_clip(register_tiny_clip(), "random", device="cpu")   # real use: load_clip("ViT-B-32")
        >>> type(clip.model).__name__, clip.model.training
        ('CLIP', False)
    """
    import open_clip

    check_model_name(model)
    schema = model.startswith(("hf-hub:", "local-dir:"))
    kwargs: dict[str, Any] = {"device": device, "precision": precision}
    weights: str | None = None
    if checkpoint is not None:
        weights = str(checkpoint)
        if not os.path.isfile(weights):
            raise WeightsNotFoundError(
                f"CLIP weights file {weights!r} does not exist; put the open_clip checkpoint of {model} there "
                "(e.g. open_clip_pytorch_model.bin from the model's Hugging Face repository)"
            )
    if not schema and pretrained not in (None, RANDOM):
        if weights is None:
            weights = resolve_weights(model, pretrained, cache_dir=cache_dir, download=download)
        cfg = open_clip.get_pretrained_cfg(model, pretrained) or {}
        kwargs["force_quick_gelu"] = bool(cfg.get("quick_gelu", False))
        keys = ("mean", "std", "interpolation", "resize_mode")
        kwargs["force_preprocess_cfg"] = {k: cfg[k] for k in keys if k in cfg}
    elif not schema and pretrained is None and weights is None:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ValueError(
            f"name the weights of {model}: pretrained: one of {', '.join(tags) or 'none'}, or checkpoint: /path, "
            "or pretrained: random for untrained weights"
        )
    random_init = pretrained == RANDOM and weights is None
    if random_init:
        logging.disable(logging.WARNING)  # open_clip warns that no weights were loaded: that was asked for
    try:
        with _fixed_seed() if random_init else contextlib.nullcontext():
            net = open_clip.create_model(model, pretrained=weights, load_weights=True, **kwargs)
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"could not load {model} from {weights or pretrained!r}: {err}") from err
    finally:
        logging.disable(logging.NOTSET)
    net.eval()
    return LoadedCLIP(
        model=net,
        tokenizer=open_clip.get_tokenizer(model),
        preprocess_cfg=dict(net.visual.preprocess_cfg),
        name=model,
        pretrained=pretrained,
    )
