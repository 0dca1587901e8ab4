"""A generated reward program as a reward term, evaluated in its sandbox worker.

The program returns named components; the term shows each of them as its own
component (``generated/forward_velocity``, ``generated/ctrl_cost`` ...), so the
wrapper logs every one under ``rollout/reward/...`` and in ``reward_terms.csv``,
and the reward is their sum. One warm worker per term (started on the first
batch) evaluates every batch; nothing of the program runs in this process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.codegen.program import Program
from rewardlab.codegen.sandbox import Limits, SandboxError, SandboxProcess, SandboxUnavailable
from rewardlab.config.registry import ConfigError
from rewardlab.core.env_info import EnvInfo
from rewardlab.core.term import RewardTerm
from rewardlab.core.transitions import Transitions


class GeneratedRewardError(RuntimeError):
    """A generated program failed while computing a reward; the message names the program and the reason.

    Examples:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from rewardlab.codegen import GeneratedRewardError, GeneratedTerm, make_program
        >>> from rewardlab.core import EnvInfo, Transitions
        >>> source = "def compute_reward(next_obs):\\n    return {'x': np.log(next_obs[:, 0] + 2.0)}"   # fine in play
        >>> term = GeneratedTerm(make_program(source, "MountainCar-v0"))
        >>> term.bind(EnvInfo.from_env(gym.make("MountainCar-v0")))
        >>> try:
        ...     term.compute(Transitions.fake(reward=[0.0], next_obs=[[-5.0, 0.0]]))   # log of a negative number
        ... except GeneratedRewardError as exc:
        ...     print(str(exc).split(": ", 1)[1])
        component 'x' is NaN in 1 of 1 rows (first: row 0)
        >>> term.close()
    """


class GeneratedTerm(RewardTerm):
    """The reward computed by a checked :class:`~rewardlab.codegen.program.Program`.

    Args:
        program: the program (from :func:`~rewardlab.codegen.program.make_program` or a store).
        limits: the sandbox's memory, CPU and time limits.
        name: prefix of the component names (default ``generated``).

    Examples:
        >>> source = "def compute_reward(next_obs):\\n    return {'height': next_obs[:, 0]}"
        >>> import numpy as np, rewardlab as rl
        >>> term = rl.codegen.GeneratedTerm(rl.codegen.make_program(source, "MountainCar-v0"))
        >>> venv = rl.RewardVecWrapper(rl.make_vec_env("MountainCar-v0", n_envs=2, seed=0), term)
        >>> _ = venv.reset()
        >>> _, rewards, _, infos = venv.step(np.array([0, 2]))
        >>> sorted(k for k in infos[0]["rewardlab"] if k.startswith("generated"))
        ['generated/height']
        >>> venv.close()
    """

    name = "generated"

    def __init__(self, program: Program, *, limits: Limits = Limits(), name: str | None = None) -> None:
        super().__init__(name=name)
        self.program = program
        self.limits = limits
        self._sandbox: SandboxProcess | None = None

    @property
    def id(self) -> str:
        return self.program.id

    def component_names(self) -> list[str]:
        return [f"{self.name}/{c}" for c in self.program.components]

    def bind(self, env: EnvInfo) -> None:
        super().bind(env)
        from rewardlab.codegen.describe import describe_env

        expected = describe_env(self.program.env_id).obs_dim
        shape = getattr(env.observation_space, "shape", None)
        if shape != (expected,):
            raise ConfigError(
                f"generated program {self.id} was written for {self.program.env_id} (observations of shape "
                f"({expected},)); this env ({env.env_id}) has observations of shape {shape}"
            )
        if env.run_dir is not None:  # the run folder keeps a copy: the run replays without the store
            path = Path(env.run_dir) / "generated" / f"{self.id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.program.to_dict(), indent=1))

    def _values(self, batch: Transitions) -> np.ndarray:
        if self._sandbox is None:
            from rewardlab.codegen.describe import describe_env

            shapes = describe_env(self.program.env_id).shapes
            self._sandbox = SandboxProcess(
                self.program.source, fields=self.program.fields, shapes=shapes, limits=self.limits
            )
        arrays = {f: getattr(batch, f) for f in self.program.fields}
        try:
            values = self._sandbox.call(arrays)
        except SandboxUnavailable as err:
            raise ConfigError(str(err)) from None
        except SandboxError as err:
            raise GeneratedRewardError(f"generated program {self.id} ({self.program.env_id}): {err}") from None
        if self._sandbox.names != list(self.program.components):
            raise GeneratedRewardError(
                f"generated program {self.id} returned components {self._sandbox.names}; "
                f"it was recorded with {list(self.program.components)}"
            )
        return values

    def compute(self, batch: Transitions) -> np.ndarray:
        return self._values(batch).sum(axis=0)

    def components_into(self, batch: Transitions, out: np.ndarray) -> None:
        out[...] = self._values(batch)

    def state_dict(self) -> dict[str, Any]:
        """The program itself (it has no learned state): a checkpoint names what it was trained on."""
        return {"id": self.id, "program": self.program.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("id") != self.id:
            raise ValueError(f"state is for generated program {state.get('id')!r}, this term runs {self.id!r}")

    def close(self) -> None:
        """Stop the worker (a later batch starts a new one)."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles start their own worker
        state = self.__dict__.copy()
        state["_sandbox"] = None
        return state

    def __repr__(self) -> str:
        return f"GeneratedTerm({self.id}, {self.program.env_id}, components={list(self.program.components)})"
