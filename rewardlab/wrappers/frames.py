"""Rendered frames for reward terms that look at pixels (CLIP, perceptual rewards).

The policy keeps its own observations; frames travel beside them, only when a
term asks for them (``term.needs_frames``):

* :class:`RenderFrames` wraps one Gymnasium env and renders after every step,
  putting the frame in that env's own ``info[FRAME_KEY]``. Rendering inside the
  env (not from the vector env afterwards) is what makes the frame of the last
  step of an episode right: SB3 resets a finished env before ``step`` returns,
  so a render from outside would show the next episode's first state.
* the reward wrappers pop the frames out of the infos and hand them to terms as
  ``batch.frames`` (``uint8``, ``(n_envs, height, width, 3)``).

MuJoCo envs render off-screen at the requested size and camera (set
``MUJOCO_GL=egl`` on machines without a display); classic-control envs render
through gymnasium's ``rgb_array`` mode (pygame) and the frame is resized.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.config.registry import ConfigError, suggest
from rewardlab.core.term import RewardTerm

FRAME_KEY = "rewardlab_frame"


@dataclass
class FrameSettings:
    """Size and camera of the frames reward terms receive.

    Args:
        width, height: frame size in pixels.
        camera_id, camera_name: a MuJoCo camera of the model (default: the free camera).
        camera_config: MuJoCo free-camera placement (``distance``, ``azimuth``, ``elevation``,
            ``lookat``, ``trackbodyid``), gymnasium's ``default_camera_config``.
        shadows, reflections: MuJoCo scene effects. Off-screen rendering on a CPU (EGL on
            Mesa's software rasteriser) spends most of its time on them: turning both off made
            a 224×224 Humanoid frame 3–5× cheaper here, at the cost of a flatter picture.

    Examples:
        >>> import rewardlab as rl
        >>> settings = rl.FrameSettings(width=96, height=96, shadows=False, reflections=False)
        >>> settings.width, settings.height
        (96, 96)
    """

    width: int = 224
    height: int = 224
    camera_id: int | None = None
    camera_name: str | None = None
    camera_config: dict[str, Any] | None = field(default=None)
    shadows: bool = True
    reflections: bool = True

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"frame width and height must be positive, got {self.width}x{self.height}")

    @classmethod
    def from_config(cls, value: Any, *, where: str = "") -> FrameSettings:
        """Build from a mapping (YAML), ``None`` (defaults) or a FrameSettings."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        valid = list(cls.__dataclass_fields__)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}frame settings must be a mapping of {valid}, got {value!r}")
        for key in value:
            if key not in valid:
                hint = suggest(key, valid)
                raise ConfigError(f"{where}unknown frame setting {key!r}{hint}; valid: {', '.join(valid)}")
        try:
            return cls(**value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}{err}") from err

    @property
    def mujoco_only(self) -> bool:
        """Whether these settings use anything only MuJoCo envs have (camera, scene effects)."""
        cameras = (self.camera_id, self.camera_name, self.camera_config)
        return any(c is not None for c in cameras) or not (self.shadows and self.reflections)


def frame_settings(reward: RewardTerm) -> FrameSettings | None:
    """The frame settings a reward asks for, or ``None`` when no term reads frames.

    Terms may carry a ``frame_settings`` attribute (size and camera of the view
    the reward is defined on); terms that need frames without saying how get the
    defaults. Two terms asking for different settings is an error.

    Examples:
        >>> import rewardlab as rl
        >>> rl.frame_settings(rl.extrinsic()) is None          # nothing reads frames: nothing renders
        True
        >>> pixels = rl.function(lambda frames: frames.mean(axis=(1, 2, 3)))
        >>> rl.frame_settings(rl.extrinsic() + pixels) is not None
        True
    """
    if not reward.needs_frames:
        return None
    wanted = [
        (leaf.name, leaf.frame_settings)
        for leaf in reward.leaves()
        if leaf.needs_frames and getattr(leaf, "frame_settings", None) is not None
    ]
    if len({repr(s) for _, s in wanted}) > 1:
        detail = "; ".join(f"{name!r}: {s}" for name, s in wanted)
        raise ConfigError(f"reward terms ask for different frame settings ({detail}); give them the same settings")
    return wanted[0][1] if wanted else FrameSettings()


def is_mujoco(env_id: str) -> bool:
    """Whether ``env_id`` is a MuJoCo env (renders with a camera at any size)."""
    from rewardlab.envs import get_preset

    if get_preset(env_id).family == "mujoco":
        return True
    entry = gym.spec(env_id).entry_point
    if isinstance(entry, str):
        try:
            entry = gym.envs.registration.load_env_creator(entry)
        except Exception:  # noqa: BLE001 - an env we cannot import is not one we can render specially
            return False
    try:
        from gymnasium.envs.mujoco import MujocoEnv
    except ImportError:
        return False
    return isinstance(entry, type) and issubclass(entry, MujocoEnv)


def render_kwargs(env_id: str, settings: FrameSettings) -> dict[str, Any]:
    """``gymnasium.make`` keyword arguments that make ``env_id`` render as ``settings`` asks."""
    if not is_mujoco(env_id):
        if settings.mujoco_only:
            raise ConfigError(
                f"{env_id} is not a MuJoCo env: camera, shadows and reflections do not apply (keep width and height)"
            )
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):  # headless: quiet pygame
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
            os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        return {"render_mode": "rgb_array"}
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless: render off-screen through EGL
    kwargs: dict[str, Any] = {"render_mode": "rgb_array", "width": settings.width, "height": settings.height}
    if settings.camera_id is not None:
        kwargs["camera_id"] = settings.camera_id
    if settings.camera_name is not None:
        kwargs["camera_name"] = settings.camera_name
    if settings.camera_config is not None:
        config = dict(settings.camera_config)
        if "lookat" in config:
            config["lookat"] = np.asarray(config["lookat"], dtype=np.float64)
        kwargs["default_camera_config"] = config
    return kwargs


class RenderFrames(gym.Wrapper):
    """Render after every step and put the frame in ``info[FRAME_KEY]`` (the observation is untouched).

    The env must have been made with ``render_mode="rgb_array"``. Frames of
    another size are resized (bilinear) to ``width × height``.

    Examples:
        >>> import gymnasium as gym
        >>> from rewardlab.wrappers import RenderFrames
        >>> from rewardlab.wrappers.frames import FRAME_KEY
        >>> env = RenderFrames(gym.make("CartPole-v1", render_mode="rgb_array"), width=64, height=48)
        >>> _ = env.reset(seed=0)
        >>> _, _, _, _, info = env.step(0)
        >>> info[FRAME_KEY].shape
        (48, 64, 3)
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        width: int | None = None,
        height: int | None = None,
        shadows: bool = True,
        reflections: bool = True,
    ) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"RenderFrames needs an env made with render_mode='rgb_array', got {env.render_mode!r}; "
                "rl.make_vec_env(env_id, n, frames=rl.FrameSettings()) does this for you"
            )
        self.size = None if width is None or height is None else (int(height), int(width))
        self._mujoco = getattr(env.unwrapped, "mujoco_renderer", None)
        if self._mujoco is not None:
            load_triton_first()
        if not (shadows and reflections):
            _set_scene_effects(env, shadows=shadows, reflections=reflections)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[FRAME_KEY] = self.frame()
        return obs, reward, terminated, truncated, info

    def frame(self) -> np.ndarray:
        """The current state as an owned ``uint8`` ``(height, width, 3)`` array."""
        if self._mujoco is not None:
            # gymnasium renders in whichever OpenGL context is current: with several MuJoCo envs
            # in one process (DummyVecEnv) that is the last one created, or none once another is freed
            self._mujoco._get_viewer("rgb_array").make_context_current()
        frame = self.env.render()
        if frame is None:
            raise RuntimeError(f"{self.env} returned no frame from render()")
        frame = np.asarray(frame)[..., :3]
        if self.size is not None and frame.shape[:2] != self.size:
            return resize_frame(frame, self.size)
        return np.array(frame, dtype=np.uint8, copy=True)


def load_triton_first() -> None:
    """Import ``triton`` (when installed) before MuJoCo opens an OpenGL context.

    Off-screen rendering on a CPU (EGL or OSMesa through Mesa's llvmpipe) loads Mesa's LLVM into the
    process; importing triton after that crashes the process (a segmentation fault in triton's static
    LLVM initialisers), and torch imports triton lazily, e.g. at a policy's first optimiser step. Loaded
    first, both live side by side (``tests/test_frames.py`` checks it in a fresh process). About 0.1 s, once.
    """
    import importlib.util

    if "triton" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    with contextlib.suppress(ImportError):  # a broken install: torch will not use it either
        import triton  # noqa: F401


def _set_scene_effects(env: gym.Env, *, shadows: bool, reflections: bool) -> None:
    """Switch MuJoCo's shadow and reflection passes of the off-screen renderer on or off."""
    renderer = getattr(env.unwrapped, "mujoco_renderer", None)
    if renderer is None:
        raise ValueError(f"{env.unwrapped} is not a MuJoCo env: shadows and reflections settings do not apply")
    import mujoco

    scene = renderer._get_viewer("rgb_array").scn  # gymnasium builds the viewer lazily; build it now
    scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows
    scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = reflections


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one ``uint8`` RGB frame to ``size = (height, width)`` (bilinear, antialiased)."""
    from PIL import Image

    height, width = size
    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    return np.asarray(image.resize((width, height), Image.BILINEAR))


def make_env_with_frames(env_id: str, settings: FrameSettings, **kwargs: Any) -> gym.Env:
    """``rewardlab.envs.make_env`` rendering as ``settings`` asks, wrapped in :class:`RenderFrames` (picklable)."""
    from rewardlab.envs import make_env

    env = make_env(env_id, **{**kwargs, **render_kwargs(env_id, settings)})
    return RenderFrames(
        env, width=settings.width, height=settings.height, shadows=settings.shadows, reflections=settings.reflections
    )


def pop_frames(infos: list[dict], n: int) -> np.ndarray:
    """Stack and remove the frames the envs put in their infos; a clear error when they are missing."""
    try:
        frames = [info.pop(FRAME_KEY) for info in infos[:n]]
    except KeyError:
        raise RuntimeError(MISSING_FRAMES) from None
    return np.stack(frames)


MISSING_FRAMES = (
    "the reward needs rendered frames (a term has needs_frames=True) but the envs do not render them: "
    "build the env with rl.make_vec_env(env_id, n_envs, frames=rl.frame_settings(reward)), "
    "or wrap each Gymnasium env in rewardlab.wrappers.RenderFrames (made with render_mode='rgb_array')"
)
