"""Compact Pythonic descriptions of what a generated reward function receives.

Text2Reward (Xie et al., 2024) and Eureka (Ma et al., 2024) both found that the
LLM writes better rewards from a short, code-like account of the state than
from prose. :func:`describe_env` builds one per preset, from the preset
(``envs/presets.yaml``: names, task) and from the env itself:

* classic control: names from the preset, meanings and units from
  ``classic_control.yaml``, numbers (thresholds, forces, time step) read from
  ``env.unwrapped``;
* MuJoCo: the layout from Gymnasium's ``observation_structure`` and the
  model's joints, bodies and actuators (a free joint gives x/y/z, quaternion and
  their velocities; slide and hinge joints a position and a velocity; contact
  forces, inertias and actuator forces are described as blocks per body),
  termination from the env's healthy ranges.

Each observation entry keeps a ``source`` (where the env holds that value), so
:meth:`EnvDescription.expected_observation` rebuilds an observation from the
env's internal state: the tests compare it with the real one for every preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

CLASSIC_NOTES = Path(__file__).with_name("classic_control.yaml")
SUPPORTED_FAMILIES = ("classic_control", "mujoco")


@dataclass(frozen=True)
class ObsEntry:
    """Observation dims ``start:stop`` (one dim when ``stop == start + 1``): name, meaning, unit, source."""

    start: int
    stop: int
    name: str
    meaning: str
    unit: str = ""
    source: tuple = ()

    @property
    def index(self) -> str:
        return str(self.start) if self.stop == self.start + 1 else f"{self.start}:{self.stop}"


@dataclass(frozen=True)
class EnvDescription:
    """What a reward program for ``env_id`` receives, and how to explain it.

    Examples:
        >>> from rewardlab.codegen import describe_env
        >>> description = describe_env("MountainCar-v0")
        >>> description.obs_dim, description.shapes["next_obs"]
        (2, (2,))
        >>> print(description.render().splitlines()[0])           # the prompt's stub starts with the env
        # Environment MountainCar-v0: ...
    """

    env_id: str
    task: str
    obs_dim: int
    obs: tuple[ObsEntry, ...]
    action: str
    action_dims: tuple[str, ...]
    action_shape: tuple[int, ...]
    episode: str
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-row shapes of the arrays the program receives (the sandbox needs them)."""
        return {
            "obs": (self.obs_dim,),
            "next_obs": (self.obs_dim,),
            "action": self.action_shape,
            "terminated": (),
            "truncated": (),
        }

    def render(self) -> str:
        """The description as the prompt shows it: a commented, Python-like stub."""
        lines = [f"# Environment {self.env_id}: {self.task}".rstrip()]
        act_shape = ", ".join(["n", *map(str, self.action_shape)]) if self.action_shape else "n,"
        lines += [
            "# compute_reward receives a batch of n transitions (numpy arrays; one row per parallel env):",
            f"obs: np.ndarray         # (n, {self.obs_dim}) float64, the observation before the step",
            f"action: np.ndarray      # ({act_shape}) float64, {self.action}",
            f"next_obs: np.ndarray    # (n, {self.obs_dim}) float64, the observation after the step",
            "terminated: np.ndarray  # (n,) bool, the episode ended at this step (see 'episode' below)",
            "truncated: np.ndarray   # (n,) bool, the time limit ended the episode at this step",
            "",
            "# observation layout: obs[:, i] and next_obs[:, i]",
        ]
        width = max(len(e.index) for e in self.obs)
        name_width = max(len(e.name) for e in self.obs)
        for e in self.obs:
            unit = f" [{e.unit}]" if e.unit else ""
            lines.append(f"#   {e.index:>{width}}  {e.name:<{name_width}}  {e.meaning}{unit}")
        if self.action_dims:
            lines.append("# action layout: " + ("action[:, j]" if self.action_shape else "action[i] (one per env)"))
            for j, meaning in enumerate(self.action_dims):
                lines.append(f"#   {j}  {meaning}")
        lines.append(f"# episode: {self.episode}")
        if self.constants:
            lines.append("# constants: " + ", ".join(f"{k} = {v:g}" for k, v in self.constants.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def expected_observation(self, env: Any) -> np.ndarray:
        """The observation rebuilt from ``env.unwrapped``'s internal state through each entry's source."""
        u = env.unwrapped
        out = np.full(self.obs_dim, np.nan)
        for e in self.obs:
            out[e.start : e.stop] = _read_source(u, e.source)
        return out


def _read_source(u: Any, source: tuple) -> Any:
    kind, *args = source
    if kind == "state":
        index, fn = args
        value = float(u.state[index])
        return {"cos": math.cos, "sin": math.sin}.get(fn, float)(value)
    if kind == "qpos":
        return u.data.qpos[args[0]]
    if kind == "qvel":
        index, bound = args
        value = u.data.qvel[index]
        return value if bound is None else np.clip(value, -bound, bound)
    if kind == "array":  # a flattened slice of data.<name>[first_body:], optionally clipped
        name, first, lo, hi = args
        value = getattr(u.data, name)[first:].ravel()
        return value if lo is None else np.clip(value, lo, hi)
    raise ValueError(f"unknown observation source {source!r}")


@cache
def describe_env(env_id: str) -> EnvDescription:
    """The description of a classic-control or MuJoCo preset (see the module docs).

    Examples:
        >>> import rewardlab as rl
        >>> description = rl.codegen.describe_env("CartPole-v1")
        >>> description.obs_dim, description.shapes["obs"]
        (4, (4,))
    """
    from rewardlab.envs import get_preset, make_env

    preset = get_preset(env_id)
    if preset.family not in SUPPORTED_FAMILIES:
        raise ValueError(
            f"code generation describes classic-control and MuJoCo presets; {env_id} is {preset.family!r}. "
            f"Supported: {', '.join(supported_envs())}"
        )
    env = make_env(env_id)
    try:
        if preset.family == "classic_control":
            return _describe_classic(env_id, preset, env)
        return _describe_mujoco(env_id, preset, env)
    finally:
        env.close()


def supported_envs() -> list[str]:
    """Preset ids that :func:`describe_env` can describe.

    Examples:
        >>> import rewardlab as rl
        >>> "MountainCar-v0" in rl.codegen.supported_envs()
        True
    """
    from rewardlab.envs import presets

    return [p.id for p in presets().values() if p.family in SUPPORTED_FAMILIES]


def _format(text: str, u: Any, max_steps: Any) -> str:
    values = {k: v for k, v in vars(u).items() if isinstance(v, (int, float))}
    return " ".join(text.split()).format(max_steps=max_steps, **values)


def _action_text(space: Any) -> tuple[str, tuple[int, ...]]:
    if hasattr(space, "n"):
        return f"the discrete action (an integer in 0..{space.n - 1}, one per env)", ()
    lo, hi = float(np.min(space.low)), float(np.max(space.high))
    return f"the action, each entry in [{lo:g}, {hi:g}]", tuple(space.shape)


def _describe_classic(env_id: str, preset: Any, env: Any) -> EnvDescription:
    notes = yaml.safe_load(CLASSIC_NOTES.read_text()).get(env_id)
    if notes is None:
        raise ValueError(f"no code-generation notes for {env_id} in {CLASSIC_NOTES.name}")
    u = env.unwrapped
    names = list(preset.obs_names or ())
    if list(notes["obs"]) != names:
        raise ValueError(f"{CLASSIC_NOTES.name}: {env_id} lists {list(notes['obs'])}, the preset {names}")
    obs = tuple(
        ObsEntry(i, i + 1, name, spec["meaning"], spec.get("unit", ""), ("state", spec["state"], spec.get("fn")))
        for i, (name, spec) in enumerate(notes["obs"].items())
    )
    max_steps = env.spec.max_episode_steps if env.spec else None
    action, shape = _action_text(env.action_space)
    dims = tuple(_format(a, u, max_steps) for a in notes["action"])
    if not shape:
        dims = tuple(f"action == {j}: {meaning}" for j, meaning in enumerate(dims))
    episode = _format(notes["episode"], u, max_steps)
    return EnvDescription(env_id, preset.description, len(names), obs, action, dims, shape, episode)


# -- MuJoCo --------------------------------------------------------------------------------
FREE_POS = ("x", "y", "z", "qw", "qx", "qy", "qz")
FREE_POS_MEANING = (
    "x position (forward)",
    "y position (sideways)",
    "z position (height)",
    "orientation quaternion w (1 = upright, unrotated)",
    "orientation quaternion x",
    "orientation quaternion y",
    "orientation quaternion z",
)
FREE_VEL = ("vx", "vy", "vz", "wx", "wy", "wz")
FREE_VEL_MEANING = (
    "x velocity (forward)",
    "y velocity (sideways)",
    "z velocity (up)",
    "angular velocity about x",
    "angular velocity about y",
    "angular velocity about z",
)
PLANAR_ROOT = {  # planar walkers' root joints: (position meaning, velocity meaning)
    "rootx": ("x position of the torso (forward)", "forward velocity of the torso"),
    "rootz": ("height of the torso", "vertical velocity of the torso"),
    "rooty": ("torso pitch angle", "pitch angular velocity of the torso"),
}
BLOCKS = {  # observation_structure key → (data attribute, first body, per-body layout, unit)
    "cinert": ("cinert", 1, "10 per body: mass-inertia of the body about its centre of mass", ""),
    "cvel": ("cvel", 1, "6 per body: centre-of-mass velocity (angular xyz, then linear xyz)", "rad/s, m/s"),
    "qfrc_actuator": ("qfrc_actuator", 6, "actuator force on each joint after the root (one per joint)", "N or N.m"),
    "cfrc_ext": ("cfrc_ext", 1, "6 per body: external contact force (torque xyz, then force xyz)", "N.m, N"),
}


def _mujoco_joints(model: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """``(name, meaning, unit)`` for each qpos and each qvel entry, in order."""
    import mujoco

    qpos: list[tuple[str, str, str]] = [("", "", "")] * model.nq
    qvel: list[tuple[str, str, str]] = [("", "", "")] * model.nv
    for j in range(model.njnt):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or f"joint{j}"
        kind = int(model.jnt_type[j])
        p, v = int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j])
        if kind == mujoco.mjtJoint.mjJNT_FREE:
            for k in range(7):
                qpos[p + k] = (f"{name}_{FREE_POS[k]}", f"torso {FREE_POS_MEANING[k]}", "m" if k < 3 else "")
            for k in range(6):
                qvel[v + k] = (f"{name}_{FREE_VEL[k]}", f"torso {FREE_VEL_MEANING[k]}", "m/s" if k < 3 else "rad/s")
        elif kind == mujoco.mjtJoint.mjJNT_SLIDE:
            pos, vel = PLANAR_ROOT.get(name, (f"position of slide joint {name}", f"velocity of slide joint {name}"))
            qpos[p] = (name, pos, "m")
            qvel[v] = (f"{name}_vel", vel, "m/s")
        elif kind == mujoco.mjtJoint.mjJNT_HINGE:
            pos, vel = PLANAR_ROOT.get(name, (f"angle of joint {name}", f"angular velocity of joint {name}"))
            qpos[p] = (name, pos, "rad")
            qvel[v] = (f"{name}_vel", vel, "rad/s")
        else:  # ball joint: a quaternion and three angular velocities
            for k in range(4):
                qpos[p + k] = (f"{name}_q{'wxyz'[k]}", f"ball joint {name} quaternion {'wxyz'[k]}", "")
            for k in range(3):
                qvel[v + k] = (f"{name}_w{'xyz'[k]}", f"ball joint {name} angular velocity {'xyz'[k]}", "rad/s")
    return qpos, qvel


def _describe_mujoco(env_id: str, preset: Any, env: Any) -> EnvDescription:
    import mujoco

    u = env.unwrapped
    model = u.model
    structure = dict(u.observation_structure)
    qpos, qvel = _mujoco_joints(model)
    skipped = int(structure.get("skipped_qpos", 0))
    clip_vel = 10.0 if type(u).__name__ in ("HopperEnv", "Walker2dEnv") else None
    entries: list[ObsEntry] = []
    i = 0
    for adr in range(skipped, model.nq):
        name, meaning, unit = qpos[adr]
        entries.append(ObsEntry(i, i + 1, name, meaning, unit, ("qpos", adr)))
        i += 1
    for adr in range(model.nv):
        name, meaning, unit = qvel[adr]
        if clip_vel is not None:
            meaning += f" (clipped to +-{clip_vel:g})"
        entries.append(ObsEntry(i, i + 1, name, meaning, unit, ("qvel", adr, clip_vel)))
        i += 1
    bodies = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or f"body{b}" for b in range(model.nbody)]
    for key in ("cinert", "cvel", "qfrc_actuator", "cfrc_ext"):
        size = int(structure.get(key, 0))
        if not size:
            continue
        attr, first, layout, unit = BLOCKS[key]
        lo = hi = None
        if key == "cfrc_ext" and hasattr(u, "_contact_force_range"):  # Ant clips its contact forces
            lo, hi = (float(x) for x in u._contact_force_range)
            layout += f", clipped to [{lo:g}, {hi:g}]"
        if key != "qfrc_actuator":
            layout += "; bodies in order: " + ", ".join(bodies[first:])
        entries.append(ObsEntry(i, i + size, key, layout, unit, ("array", attr, first, lo, hi)))
        i += size
    obs_dim = int(env.observation_space.shape[0])
    if i != obs_dim:
        raise ValueError(f"{env_id}: described {i} observation dims but the env has {obs_dim}")
    action, shape = _action_text(env.action_space)
    dims = []
    for a in range(model.nu):
        joint = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, int(model.actuator_trnid[a, 0])) or f"joint{a}"
        dims.append(f"torque on joint {joint} (gear {float(model.actuator_gear[a, 0]):g})")
    constants = {"dt": float(u.dt)}
    return EnvDescription(
        env_id, preset.description, obs_dim, tuple(entries), action, tuple(dims), shape, _mujoco_episode(env, u),
        constants,
    )  # fmt: skip


def _mujoco_episode(env: Any, u: Any) -> str:
    parts = []
    if getattr(u, "_terminate_when_unhealthy", False):
        conditions = []
        if hasattr(u, "_healthy_z_range"):
            lo, hi = u._healthy_z_range
            conditions.append(f"the torso height leaves ({lo:g}, {hi:g})")
        if hasattr(u, "_healthy_angle_range"):
            lo, hi = u._healthy_angle_range
            conditions.append(f"the torso pitch angle leaves ({lo:g}, {hi:g}) rad")
        if hasattr(u, "_healthy_state_range"):
            lo, hi = u._healthy_state_range
            conditions.append(f"any other joint position or velocity leaves ({lo:g}, {hi:g})")
        parts.append("terminates when the body falls: " + " or ".join(conditions) if conditions else "may terminate")
    else:
        parts.append("never terminates")
    max_steps = env.spec.max_episode_steps if env.spec else None
    if max_steps:
        parts.append(f"truncated after {max_steps} steps")
    parts.append(f"one step lasts dt = {u.dt:g} s; forward is +x")
    return "; ".join(parts) + "."
