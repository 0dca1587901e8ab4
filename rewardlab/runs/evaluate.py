"""Evaluate a trained run with its trained reward: episodes, every term, the true return, and a video.

Like rl-baselines3-zoo's ``enjoy``/``record_video``, but the reward the agent
trained on is injected too (its state restored and frozen), so each episode
reports the true return beside every reward term::

    ev = rl.runs.evaluate_run("runs/demo", episodes=10, out="runs/demo/eval")
    ev.episodes                 # one row per episode: true_return, each term, total, length, terminated
    ev.video                    # runs/demo/eval/video.mp4 (GIF without imageio-ffmpeg)
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.config.registry import ConfigError
from rewardlab.runs.folder import write_json_atomic
from rewardlab.wrappers.engine import EPISODE_KEY

EPISODES_FILE = "episodes.csv"
EVAL_SUMMARY_FILE = "summary.json"
GIF_MAX_SIDE = 320
#: off-screen rendering: MuJoCo through EGL, pygame (classic control) without a display or sound card
RENDER_ENV = {"MUJOCO_GL": "egl", "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
#: evaluation episodes when none are asked for
EVAL_EPISODES = 10
#: fewer for families whose episodes are long: a NetHack game runs up to 5000 steps (10 took two minutes
#: after a 10 s training); two give a first reading without dwarfing a short run
FAMILY_EVAL_EPISODES = {"nethack": 2}


def default_eval_episodes(env_id: str) -> int:
    """Evaluation episodes for ``env_id`` when none are asked for: 10, or fewer for long-episode families."""
    from rewardlab.envs import get_preset

    try:
        family = get_preset(env_id).family
    except ValueError:
        return EVAL_EPISODES
    return FAMILY_EVAL_EPISODES.get(family, EVAL_EPISODES)


@dataclass
class Evaluation:
    """Result of :func:`evaluate_run`.

    Attributes:
        episodes: one row per episode (``episode``, ``true_return``, every reward
            component, ``total``, ``length``, ``terminated``).
        video: the MP4 or GIF written, or ``None``.
        note: why there is no video (env cannot render, no frames asked), if so.

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.train import RunConfig, train
        >>> _ = train(RunConfig(env="CartPole-v1", steps=256, n_envs=2, eval_episodes=1), "runs/doc_eval",
        ...           progress_bar=False, overwrite=True)
        >>> ev = rl.runs.evaluate_run(rl.load_run("runs/doc_eval"), episodes=2, video_episodes=0)
        >>> len(ev.episodes), "true_return" in ev.episodes
        (2, True)
    """

    episodes: Any
    video: Path | None = None
    note: str | None = None

    def summary(self) -> dict[str, float]:
        """Mean of every column over the episodes, and the std of the true return."""
        df = self.episodes.drop(columns=["episode"])
        out = {f"mean_{k}": float(v) for k, v in df.astype(float).mean().items()}
        out["std_true_return"] = float(df["true_return"].std(ddof=0))
        out["episodes"] = len(df)
        return out


def _frame(venv: Any) -> np.ndarray | None:
    images = venv.get_images()
    frame = images[0] if images else None
    if isinstance(frame, np.ndarray) and frame.ndim == 3:
        return frame
    return None


def write_video(frames: list[np.ndarray], path: Path, *, fps: float) -> Path:
    """Write ``frames`` as an MP4 (needs ``imageio-ffmpeg``) or, failing that, a GIF next to ``path``."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("imageio_ffmpeg") is not None:
        mp4 = path.with_suffix(".mp4")
        try:
            with imageio.get_writer(mp4, fps=fps, macro_block_size=2, codec="libx264", quality=7) as writer:
                for frame in frames:
                    writer.append_data(frame)
            return mp4
        except (OSError, RuntimeError, ValueError):
            mp4.unlink(missing_ok=True)  # no usable ffmpeg: fall back to a GIF
    step = max(1, int(np.ceil(max(frames[0].shape[:2]) / GIF_MAX_SIDE)))
    gif = path.with_suffix(".gif")
    imageio.mimsave(gif, [f[::step, ::step] for f in frames], duration=1000.0 / fps, loop=0)
    return gif


def evaluate_run(
    run: Any,
    *,
    episodes: int = 10,
    seed: int | None = None,
    deterministic: bool = True,
    video_episodes: int = 1,
    video_length: int = 1000,
    out: str | Path | None = None,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> Evaluation:
    """Run ``episodes`` evaluation episodes of a trained run with its trained, frozen reward.

    Args:
        run: a :class:`~rewardlab.runs.load.Run` or a run folder.
        episodes: episodes to play (one env, one after the other).
        seed: env seed (default: the run's seed + 10000, as in its summary).
        deterministic: the policy's most likely action (``False``: sample).
        video_episodes: episodes to record from the start (0: no video).
        video_length: at most this many frames.
        out: folder for ``episodes.csv``, ``summary.json`` and the video
            (``None``: write nothing, record no video).
        on_episode: called with each episode's row as it ends (progress).

    Examples:
        >>> import rewardlab as rl
        >>> from rewardlab.train import RunConfig, train
        >>> _ = train(RunConfig(env="CartPole-v1", steps=256, n_envs=2, eval_episodes=1), "runs/doc_evaluate",
        ...           progress_bar=False, overwrite=True)
        >>> run = rl.load_run("runs/doc_evaluate")
        >>> ev = rl.runs.evaluate_run(run, episodes=1, video_episodes=0, out="runs/doc_evaluate/eval")
        >>> int(ev.episodes["length"].iloc[0]) > 0
        True
    """
    import pandas as pd

    from rewardlab.runs.load import Run, load_run

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigError(f"episodes must be an integer >= 1, got {episodes!r}")
    if video_episodes < 0 or video_length < 1:
        raise ConfigError(f"video needs episodes >= 0 and length >= 1, got {video_episodes} and {video_length}")
    run = run if isinstance(run, Run) else load_run(run)
    run.require_model()
    seed = run.config.seed + 10_000 if seed is None else seed
    record = out is not None and video_episodes > 0
    note = None if record else "no video asked"
    venv = None
    if record:
        for key, value in RENDER_ENV.items():
            os.environ.setdefault(key, value)
        try:
            venv = run.make_env(1, seed=seed, env_kwargs={"render_mode": "rgb_array"})
        except Exception as err:  # noqa: BLE001 -- an env that cannot render gets no video, not a failure
            note = f"no video: {run.env_id} cannot render rgb_array frames ({type(err).__name__}: {err})"
            record = False
    if venv is None:
        venv = run.make_env(1, seed=seed)
    if not deterministic:
        run.model.set_random_seed(seed)
    rows: list[dict[str, Any]] = []
    frames: list[np.ndarray] = []
    try:
        obs = venv.reset()
        if record:
            try:
                first = _frame(venv)
            except Exception as err:  # noqa: BLE001 -- e.g. pygame missing: evaluate without a video
                first = None
                note = f"no video: {run.env_id} cannot render ({type(err).__name__}: {' '.join(str(err).split())})"
            else:
                note = None if first is not None else f"no video: {run.env_id} returns no rgb_array frames"
            if first is None:
                record = False
            else:
                frames.append(first)
        while len(rows) < episodes:
            action, _ = run.model.predict(obs, deterministic=deterministic)
            obs, _, dones, infos = venv.step(action)
            if record and len(rows) < video_episodes and len(frames) < video_length:
                frame = _frame(venv)
                if frame is not None:
                    frames.append(frame)
            if dones[0]:
                rows.append({"episode": len(rows), **infos[0][EPISODE_KEY]})
                if on_episode is not None:
                    on_episode(rows[-1])
        fps = float((venv.get_attr("metadata")[0] or {}).get("render_fps") or 30)
    finally:
        venv.close()
    table = pd.DataFrame(rows)
    front = ["episode", "true_return"]
    table = table[front + [c for c in table.columns if c not in front]]
    table["terminated"] = table["terminated"].astype(bool)
    evaluation = Evaluation(table, note=note)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / EPISODES_FILE, index=False)
        if record and frames:
            evaluation.video = write_video(frames, out / "video", fps=fps)
        write_json_atomic(
            out / EVAL_SUMMARY_FILE,
            {
                "run": str(run.path),
                "step": run.step,
                "seed": seed,
                "deterministic": deterministic,
                **evaluation.summary(),
                "video": None if evaluation.video is None else evaluation.video.name,
            },
        )
    return evaluation
