"""Potential functions Φ(s) for potential-based shaping.

A :class:`Potential` maps a batch of observations to one float per row.
Built-in potentials are numba row functions, so the shaping term evaluates
Φ(s), Φ(s') and the shaping reward in one compiled loop. User potentials are
plain vectorised numpy functions; value functions come from a trained SB3
model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np

from rewardlab.config.registry import POTENTIALS, ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.shaping.kernels import fused_shaping_kernel, potentials_kernel


class Potential:
    """Φ over a batch of observations: ``potential(obs) -> (n,)``.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.shaping import Potential
        >>> phi = Potential.from_config({"name": "goal_distance", "goal": [0.5], "dims": [0]})
        >>> phi(np.array([[0.5, 0.0], [-0.5, 0.0]]))
        array([-0., -1.])
    """

    name = "potential"
    #: a compiled ``kernel(obs, next_obs, terminated, gamma, out)`` when Φ is a numba row function
    shaping_kernel: Callable | None = None

    def __call__(self, obs: Any) -> np.ndarray:
        raise NotImplementedError

    def bind(self, env: EnvInfo) -> None:
        """Check the env's observation layout before the first step (built-in potentials do)."""

    @classmethod
    def from_config(cls, spec: Any, where: str = "") -> Potential:
        """Build from ``"name"`` or ``{"name": ..., **params}`` (YAML form)."""
        if isinstance(spec, Potential):
            return spec
        if isinstance(spec, str):
            return POTENTIALS.build(spec, {}, where)
        if isinstance(spec, dict) and "name" in spec:
            params = {k: v for k, v in spec.items() if k != "name"}
            return POTENTIALS.build(spec["name"], params, where)
        raise ConfigError(
            f"{where}a potential is a name or a mapping with 'name', got {spec!r}; "
            f"valid names: {', '.join(POTENTIALS.names())}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class FunctionPotential(Potential):
    """Φ from a vectorised numpy function of the observation batch.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.shaping import FunctionPotential
        >>> phi = FunctionPotential(lambda obs: obs[:, 0], name="position")
        >>> phi(np.array([[0.3, 0.0]]))
        array([0.3])
    """

    def __init__(self, fn: Callable[[Any], np.ndarray], *, name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "potential")

    def __call__(self, obs: Any) -> np.ndarray:
        return np.asarray(self.fn(obs), dtype=np.float64).reshape(-1)


class RowPotential(Potential):
    """Φ from a ``numba.njit`` function of one observation row (fast path).

    A compiled row function does not check bounds, so it declares what it
    reads and :meth:`bind` checks the env before the first step:

    Args:
        reads: observation dimensions read by name, ``{"pole_angle": 2}``: the
            env must name that dimension at that index (so a CartPole potential
            never runs on MountainCar).
        indices: observation dimensions read by index only (generic potentials):
            they must exist.
        made_for: the envs it is written for, quoted in errors.

    Examples:
        >>> import math, numba, numpy as np
        >>> from rewardlab.shaping import RowPotential
        >>> @numba.njit
        ... def height(o):
        ...     return math.sin(3.0 * o[0])
        >>> phi = RowPotential(height, name="height", reads={"position": 0})
        >>> phi(np.array([[0.0, 0.0]]))
        array([0.])
    """

    def __init__(
        self,
        row_fn: Callable[[np.ndarray], float],
        *,
        name: str,
        reads: dict[str, int] | None = None,
        indices: Sequence[int] = (),
        made_for: str | None = None,
    ) -> None:
        self.row_fn = row_fn
        self.name = name
        self.reads = dict(reads or {})
        self.indices = [int(i) for i in indices]
        self.made_for = made_for
        self.shaping_kernel = fused_shaping_kernel(row_fn)
        self._batch_kernel = potentials_kernel(row_fn)

    def bind(self, env: EnvInfo) -> None:
        space = env.observation_space
        name = env.env_id or "this env"
        shape = getattr(space, "shape", None)
        fits = f"; it is made for {self.made_for}" if self.made_for else ""
        if getattr(space, "spaces", None) is not None or not shape or len(shape) != 1:
            raise ConfigError(
                f"potential {self.name!r} reads flat array observations but {name} has "
                f"{env.describe_observations()}{fits}"
            )
        size = shape[0]
        names = list(env.obs_names) if env.obs_names is not None else None
        listing = env.describe_observations()
        for dim, index in self.reads.items():
            found = names[index] if names is not None and index < len(names) else None
            if found != dim:
                raise ConfigError(
                    f"potential {self.name!r} reads {dim!r} at observation dimension {index}, but {name} has "
                    f"{listing}{fits}"
                )
        for index in self.indices:
            if not 0 <= index < size:
                raise ConfigError(
                    f"potential {self.name!r} reads observation dimension {index} but {name} has {listing}; "
                    f"valid: 0..{size - 1}"
                )

    def __call__(self, obs: Any) -> np.ndarray:
        obs = np.ascontiguousarray(obs)
        out = np.empty(obs.shape[0])
        self._batch_kernel(obs, out)
        return out


class ValuePotential(Potential):
    """Φ(s) = V(s) from a trained SB3 actor-critic (PPO, A2C) or any ``value_fn(obs)``.

    Shaping with the value function of a previous (or expert) policy is the
    classic way to transfer what it learned without changing optimal policies.

    Examples:
        >>> import numpy as np, rewardlab as rl
        >>> from stable_baselines3 import PPO
        >>> model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, seed=0)
        >>> phi = rl.shaping.ValuePotential(model)
        >>> phi(np.zeros((3, 4), dtype=np.float32)).shape
        (3,)
    """

    def __init__(self, model_or_fn: Any, *, name: str = "value") -> None:
        self.name = name
        if callable(getattr(getattr(model_or_fn, "policy", None), "predict_values", None)):
            self._model = model_or_fn
            self._fn = None
        elif callable(model_or_fn):
            self._model = None
            self._fn = model_or_fn
        else:
            raise TypeError(
                "ValuePotential needs an SB3 model with policy.predict_values (PPO, A2C) or a callable value_fn(obs)"
            )

    def bind(self, env: EnvInfo) -> None:
        if self._model is None:
            return
        theirs, ours = self._model.observation_space, env.observation_space
        if getattr(theirs, "shape", None) != getattr(ours, "shape", None):
            raise ConfigError(
                f"value potential: the model was trained on observations {theirs} but {env.env_id or 'this env'} "
                f"has {ours}"
            )

    def __call__(self, obs: Any) -> np.ndarray:
        if self._fn is not None:
            return np.asarray(self._fn(obs), dtype=np.float64).reshape(-1)
        import torch

        policy = self._model.policy
        with torch.no_grad():
            tensor, _ = policy.obs_to_tensor(obs)
            return policy.predict_values(tensor).cpu().numpy().astype(np.float64).reshape(-1)


def potential(fn: Callable[[Any], np.ndarray] | Potential, *, name: str | None = None) -> Potential:
    """Turn a vectorised function of observations into a :class:`Potential`.

    Examples:
        >>> import numpy as np
        >>> from rewardlab.shaping.potentials import potential
        >>> potential(lambda obs: -np.abs(obs[:, 0]), name="centred")(np.array([[-2.0, 0.0]]))
        array([-2.])
    """
    return fn if isinstance(fn, Potential) else FunctionPotential(fn, name=name)


def value_potential(model: Any, *, algo: str = "ppo") -> ValuePotential:
    """Φ = the value function of an SB3 model, or of a model file saved by SB3.

    Examples:
        >>> import rewardlab as rl
        >>> from stable_baselines3 import PPO
        >>> phi = rl.shaping.value_potential(PPO("MlpPolicy", "CartPole-v1", n_steps=64))
        >>> shaping = rl.shaping.potential(phi, gamma=0.99)
        >>> shaping.name
        'shaping'
    """
    if isinstance(model, str):
        import stable_baselines3 as sb3

        classes = {"ppo": sb3.PPO, "a2c": sb3.A2C}
        if algo not in classes:
            raise ValueError(
                f"value potentials need an actor-critic; algo must be one of {list(classes)}, got {algo!r}"
            )
        model = classes[algo].load(model, device="cpu")
    return ValuePotential(model)


# -- built-in potentials (numba row functions) -------------------------------

MOUNTAINCAR = "MountainCar-v0 and MountainCarContinuous-v0"
ACROBOT_READS = {"cos_theta1": 0, "sin_theta1": 1, "cos_theta2": 2, "sin_theta2": 3}


@POTENTIALS.register("mountaincar_height", family="classic_control")
def mountaincar_height(scale: float = 1.0) -> RowPotential:
    """MountainCar: height of the car on the hill, ``scale·(0.45·sin(3x) + 0.55)``.

    Args:
        scale: multiplies the potential (shaping is linear in Φ).
    """

    @numba.njit
    def phi(o: np.ndarray) -> float:
        return scale * (0.45 * math.sin(3.0 * o[0]) + 0.55)

    return RowPotential(phi, name="mountaincar_height", reads={"position": 0}, made_for=MOUNTAINCAR)


@POTENTIALS.register("mountaincar_energy", family="classic_control")
def mountaincar_energy(scale: float = 100.0) -> RowPotential:
    """MountainCar: mechanical energy ``scale·(½v² + 0.0025·sin(3x)/3)``; rewards swinging higher.

    Args:
        scale: multiplies the potential (shaping is linear in Φ).
    """

    @numba.njit
    def phi(o: np.ndarray) -> float:
        return scale * (0.5 * o[1] * o[1] + 0.0025 * math.sin(3.0 * o[0]) / 3.0)

    return RowPotential(phi, name="mountaincar_energy", reads={"position": 0, "velocity": 1}, made_for=MOUNTAINCAR)


@POTENTIALS.register("goal_distance", family="generic")
def goal_distance(goal: Sequence[float], dims: Sequence[int] | None = None, scale: float = 1.0) -> RowPotential:
    """Minus the Euclidean distance from ``obs[dims]`` to ``goal`` (MountainCar: ``goal=[0.5], dims=[0]``).

    Args:
        goal: the goal point, one entry per dimension in ``dims``.
        dims: observation indices compared with ``goal`` (default: the first ``len(goal)``).
        scale: multiplies the distance.
    """
    goal_arr = np.asarray(goal, dtype=np.float64)
    dims_arr = np.arange(len(goal_arr)) if dims is None else np.asarray(dims, dtype=np.int64)
    if len(dims_arr) != len(goal_arr):
        raise ValueError(f"goal has {len(goal_arr)} entries but dims has {len(dims_arr)}")

    @numba.njit
    def phi(o: np.ndarray) -> float:
        acc = 0.0
        for j in range(dims_arr.shape[0]):
            d = o[dims_arr[j]] - goal_arr[j]
            acc += d * d
        return -scale * math.sqrt(acc)

    return RowPotential(phi, name="goal_distance", indices=dims_arr.tolist())


@POTENTIALS.register("cartpole_upright", family="classic_control")
def cartpole_upright(scale: float = 1.0) -> RowPotential:
    """CartPole: ``−scale·(|θ|/0.21 + |x|/2.4)``, highest upright and centred.

    Args:
        scale: multiplies the potential (shaping is linear in Φ).
    """

    @numba.njit
    def phi(o: np.ndarray) -> float:
        return -scale * (abs(o[2]) / 0.2095 + abs(o[0]) / 2.4)

    return RowPotential(
        phi, name="cartpole_upright", reads={"cart_position": 0, "pole_angle": 2}, made_for="CartPole-v1"
    )


@POTENTIALS.register("pendulum_upright", family="classic_control")
def pendulum_upright(scale: float = 1.0) -> RowPotential:
    """Pendulum: ``scale·cos θ`` (``obs[0]``), 1 upright and −1 hanging.

    Args:
        scale: multiplies the potential (shaping is linear in Φ).
    """

    @numba.njit
    def phi(o: np.ndarray) -> float:
        return scale * o[0]

    return RowPotential(phi, name="pendulum_upright", reads={"cos_theta": 0}, made_for="Pendulum-v1")


@POTENTIALS.register("acrobot_height", family="classic_control")
def acrobot_height(scale: float = 1.0) -> RowPotential:
    """Acrobot: height of the tip, ``−cos θ₁ − cos(θ₁+θ₂)`` in [−2, 2].

    Args:
        scale: multiplies the potential (shaping is linear in Φ).
    """

    @numba.njit
    def phi(o: np.ndarray) -> float:
        c1, s1, c2, s2 = o[0], o[1], o[2], o[3]
        return scale * (-c1 - (c1 * c2 - s1 * s2))

    return RowPotential(phi, name="acrobot_height", reads=ACROBOT_READS, made_for="Acrobot-v1")


@POTENTIALS.register("forward_progress", family="mujoco")
def forward_progress(index: int = 0, scale: float = 1.0) -> RowPotential:
    """MuJoCo: ``scale·obs[index]``, the x position when it is in the observation.

    The sparse MuJoCo presets keep the x position at ``obs[0]``.

    Args:
        index: the observation index holding the forward position.
        scale: multiplies the potential.
    """

    @numba.njit
    def phi(o: np.ndarray) -> float:
        return scale * o[index]

    return RowPotential(phi, name="forward_progress", indices=[index])
