"""Evaluation videos of trained candidates, for choosing between them by eye (ICPL).

:func:`render_run` replays a run folder's policy deterministically for one
episode (or ``steps`` frames) and writes an animated GIF; :func:`side_by_side`
puts several such GIFs next to each other, labelled, so one file shows every
candidate of a round. MuJoCo renders off-screen (``MUJOCO_GL=egl``);
classic-control rendering needs ``pygame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FRAME_SIZE = (160, 120)


def _make_render_env(env_id: str, size: tuple[int, int]) -> Any:
    from rewardlab.envs import get_preset, make_env

    kwargs: dict[str, Any] = {"render_mode": "rgb_array"}
    if get_preset(env_id).family == "mujoco":
        kwargs.update(width=size[0], height=size[1])
    try:
        return make_env(env_id, **kwargs)
    except Exception as err:  # noqa: BLE001 -- missing renderer: say which package
        if "pygame" in str(err):
            raise RuntimeError(f"rendering {env_id} needs pygame: pip install pygame ({err})") from err
        raise


def render_run(
    run_dir: str | Path, out_path: str | Path, *, steps: int = 200, seed: int = 0, size: tuple[int, int] = FRAME_SIZE
) -> Path:
    """Roll out the policy of ``run_dir`` deterministically (one episode, at most ``steps`` frames) into a GIF."""
    import imageio.v2 as imageio

    from rewardlab.analysis.rollout import load_run_model

    model, normalize, run = load_run_model(run_dir)
    if model is None:
        raise FileNotFoundError(f"{run_dir} has no model.zip to film")
    env = _make_render_env(run["env"], size)
    obs, _ = env.reset(seed=seed)
    frames = [_fit(env.render(), size)]
    for _ in range(steps - 1):
        batch = obs[None]
        action, _ = model.predict(normalize(batch) if normalize else batch, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action[0])
        frames.append(_fit(env.render(), size))
        if terminated or truncated:
            break
    env.close()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(out_path, frames, duration=1000 / 30, loop=0)
    return out_path


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` resized to ``size`` (width, height) when it is another size."""
    if frame.shape[1] == size[0] and frame.shape[0] == size[1]:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize(size))


def side_by_side(gifs: Sequence[str | Path], out_path: str | Path, labels: Sequence[str]) -> Path:
    """One GIF with ``gifs`` next to each other, a label above each; shorter ones hold their last frame."""
    import imageio.v2 as imageio
    from PIL import Image, ImageDraw

    clips = [[np.asarray(f)[..., :3] for f in imageio.mimread(g)] for g in gifs]
    length = max(len(c) for c in clips)
    height = max(c[0].shape[0] for c in clips)
    frames = []
    for t in range(length):
        tiles = []
        for clip, label in zip(clips, labels):
            frame = clip[min(t, len(clip) - 1)]
            tile = Image.new("RGB", (frame.shape[1], height + 14), "white")
            tile.paste(Image.fromarray(frame), (0, 14))
            ImageDraw.Draw(tile).text((3, 1), label, fill="black")
            tiles.append(np.asarray(tile))
        frames.append(np.concatenate(tiles, axis=1))
    out_path = Path(out_path)
    imageio.mimsave(out_path, frames, duration=1000 / 30, loop=0)
    return out_path
