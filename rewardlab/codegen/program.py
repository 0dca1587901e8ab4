"""A reward program that passed every check, with what it reads and the components it returns.

:func:`make_program` is the whole acceptance path for LLM output: extract the
code from the answer, apply the static allow-list, then run it in the sandbox
on probe batches from real rollouts of the env (a batch of 64 transitions with
episode ends, and a batch of one, which catches ``squeeze()`` bugs) to learn its
component names and check shapes and finiteness. Any failure raises
:class:`RejectedProgram` whose message is what goes back to the LLM.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np

from rewardlab.codegen.sandbox import Limits, SandboxError, SandboxProcess, SandboxUnavailable
from rewardlab.codegen.validate import FUNCTION, ValidationError, check_program, extract_code

PROBE_SIZE = 64


@dataclass(frozen=True)
class Program:
    """A checked reward program for one env (see the module docs).

    Made by :func:`make_program` (which checks and probes the source); stored and read back by id.

    Examples:
        >>> from rewardlab.codegen import Program, make_program
        >>> program = make_program("def compute_reward(next_obs):\\n    return {'height': next_obs[:, 0]}",
        ...                        "MountainCar-v0", task="climb")
        >>> program.fields, program.components
        (('next_obs',), ('height',))
        >>> Program.from_dict(program.to_dict()) == program        # the store's JSON round trip
        True
    """

    source: str
    env_id: str
    fields: tuple[str, ...]
    components: tuple[str, ...]
    task: str = ""
    generation: str | None = None  # key of the stored generation it was extracted from

    @property
    def id(self) -> str:
        """16 hex digits of SHA-256 over the env and the source: the program's name in the store."""
        payload = json.dumps({"env": self.env_id, "source": self.source}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self), "fields": list(self.fields), "components": list(self.components)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Program:
        program = cls(
            source=data["source"],
            env_id=data["env_id"],
            fields=tuple(data["fields"]),
            components=tuple(data["components"]),
            task=data.get("task", ""),
            generation=data.get("generation"),
        )
        if "id" in data and data["id"] != program.id:
            raise ValueError(f"program record {data['id']!r} does not match its content (id {program.id!r})")
        return program


class RejectedProgram(ValueError):
    """An answer did not yield a usable program. ``stage`` is extract, static or run.

    Examples:
        >>> from rewardlab.codegen import RejectedProgram, make_program
        >>> for source in ("no code here",                                                   # no function
        ...                "import os\\ndef compute_reward(next_obs):\\n    return {'x': next_obs[:, 0]}",   # refused
        ...                "def compute_reward(next_obs):\\n    return {'x': next_obs[:, 7]}"):   # fails on a probe
        ...     try:
        ...         make_program(source, "MountainCar-v0")
        ...     except RejectedProgram as exc:
        ...         print(exc.stage)
        extract
        static
        run
    """

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        self.message = message
        super().__init__(f"rejected at the {stage} check:\n{message}")


@cache
def probe_batches(env_id: str, seed: int = 0) -> tuple[dict[str, np.ndarray], ...]:
    """Transitions of a random policy in ``env_id``: a batch of :data:`PROBE_SIZE` and a batch of one."""
    from rewardlab.envs import make_env

    env = make_env(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list] = {k: [] for k in ("obs", "action", "next_obs", "terminated", "truncated")}
    for t in range(PROBE_SIZE):
        action = env.action_space.sample()
        next_obs, _, terminated, truncated, _ = env.step(action)
        truncated = truncated or t % 20 == 19  # a few episode ends even in envs that never terminate
        for key, value in zip(rows, (obs, action, next_obs, terminated, truncated)):
            rows[key].append(np.array(value, dtype=bool if key in ("terminated", "truncated") else np.float64))
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    batch = {k: np.stack(v) for k, v in rows.items()}
    return batch, {k: v[:1] for k, v in batch.items()}


def make_program(
    answer_or_source: str,
    env_id: str,
    *,
    task: str = "",
    generation: str | None = None,
    limits: Limits = Limits(),
) -> Program:
    """Extract, check and probe a program; raise :class:`RejectedProgram` saying why it is not usable.

    Examples:
        >>> source = "def compute_reward(next_obs):\\n    return {'height': next_obs[:, 0]}"
        >>> import rewardlab as rl
        >>> program = rl.codegen.make_program(source, "MountainCar-v0", task="climb")
        >>> program.fields, program.components, len(program.id)
        (('next_obs',), ('height',), 16)
    """
    from rewardlab.codegen.describe import describe_env

    try:
        source = extract_code(answer_or_source)
    except ValidationError as err:
        raise RejectedProgram("extract", str(err)) from None
    try:
        checked = check_program(source)
    except ValidationError as err:
        raise RejectedProgram("static", str(err)) from None
    shapes = describe_env(env_id).shapes
    sandbox = SandboxProcess(source, fields=checked.fields, shapes=shapes, function=FUNCTION, limits=limits)
    try:
        for batch in probe_batches(env_id):
            sandbox.call({f: batch[f] for f in checked.fields})
    except SandboxUnavailable:
        raise  # this machine, not the program: the caller says so once
    except SandboxError as err:
        n = len(batch["obs"])
        raise RejectedProgram("run", f"on a batch of {n} transition(s) from random play: {err}") from None
    finally:
        sandbox.close()
    return Program(source, env_id, checked.fields, tuple(sandbox.names or ()), task=task, generation=generation)
