"""Prompts for reward programs: the contract, zero-shot and few-shot requests, and refinement.

The shape follows Text2Reward (a Pythonic description of the env, the task in a
sentence, an instruction to think step by step, then one code block) and Eureka
(a reward made of named components; refinement shows the previous program, the
training outcome and each component's statistics over training, with advice on
reading them). The output contract is ours: a batched numpy function returning a
dict of components, summed into the reward and logged one by one.

A conversation is a list of ``{"role", "content"}`` messages:

* first round: ``[system, user(description + task [+ examples])]``;
* refinement: the same two, then ``assistant(previous program)`` and
  ``user(feedback)`` (Eureka keeps only the latest program, so prompts stay short).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewardlab.codegen.describe import EnvDescription

Message = dict[str, str]

CONTRACT = """\
Write the reward as ONE Python function in ONE ```python code block:

    import numpy as np

    def compute_reward(obs, action, next_obs, terminated):
        ...
        return {"component_name": values, ...}

Rules:
- Parameters: any of obs, action, next_obs, terminated, truncated (the inputs described above), by those names.
- Everything is batched: each input has a leading axis of n transitions. Use vectorised numpy (np.*), no
  Python loops over the batch.
- Return a dict of named reward components (identifiers, at most 16). Each value is an array of shape (n,)
  (or a plain number, used for every row). The reward is the sum of the components, and every component is
  logged on its own, so split the reward into meaningful parts (progress, posture, energy, ...).
- Only numpy (as np) and math are available. No other imports, no files, no printing, no randomness, no
  classes, no try/except. Helper functions and constants inside the code block are fine.
- Values must be finite for every input: guard divisions and logarithms (e.g. np.maximum(x, 1e-6)).
"""

TIPS = """\
Tips:
- Reward what the task asks for directly (e.g. forward velocity for running) and keep penalties small.
- Give components comparable magnitudes: no single term should swamp the others.
- If you squash a component (np.exp(-x / temperature), np.tanh(x / scale)), make its temperature or
  scale a named constant in the function.
"""

SYSTEM = (
    "You are a reward engineer for reinforcement learning. You write dense, well-shaped reward functions "
    "that make an agent learn the task the user describes, from a description of the environment.\n\n"
    + CONTRACT
    + "\n"
    + TIPS
)

REFINE_ADVICE = """\
Read the statistics before you change anything:
  (1) If the task score stays near its starting value, the reward does not lead to the task: rewrite it.
  (2) A component whose values barely change during training is not being optimised: rescale it,
      rewrite it, or drop it.
  (3) A component much larger than the others drowns them: rescale it.
Analyse each component in turn in a few sentences, then write the improved reward function."""


@dataclass(frozen=True)
class Example:
    """A worked example for few-shot prompts: an env, a task and a good program."""

    env_id: str
    task: str
    program: str


EXAMPLES = (
    Example(
        "MountainCar-v0",
        "reach the flag on the right hill as quickly as possible",
        '''import numpy as np

def compute_reward(obs, next_obs, terminated):
    # mechanical energy (height plus kinetic energy) grows as the car swings higher
    def energy(o):
        height = np.sin(3.0 * o[:, 0])
        return height * 0.0025 + 0.5 * o[:, 1] ** 2
    energy_gain = 100.0 * (energy(next_obs) - energy(obs))
    goal = np.where(terminated, 10.0, 0.0)
    return {"energy_gain": energy_gain, "goal": goal, "time": -0.1}
''',
    ),
    Example(
        "Pendulum-v1",
        "swing the pendulum up and hold it upright with little torque",
        '''import numpy as np

def compute_reward(next_obs, action):
    angle = np.arctan2(next_obs[:, 1], next_obs[:, 0])    # 0 = upright
    angle_temperature = 1.0
    upright = np.exp(-angle ** 2 / angle_temperature)
    still = -0.01 * next_obs[:, 2] ** 2
    effort = -0.001 * np.sum(action ** 2, axis=-1)
    return {"upright": upright, "still": still, "effort": effort}
''',
    ),
)


def first_messages(
    description: EnvDescription, task: str, *, examples: Sequence[Example] = ()
) -> list[Message]:
    """The opening of every round: system contract, then the env, the task and optional examples."""
    parts = [description.render(), "", f"Task: {task}"]
    for k, example in enumerate(examples, 1):
        parts += [
            "",
            f"Example {k} (another environment, {example.env_id}; task: {example.task}):",
            f"```python\n{example.program.rstrip()}\n```",
        ]
    parts += [
        "",
        "Think step by step about what the task means in terms of the observation above, then write "
        "compute_reward following the rules.",
    ]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def few_shot_examples(env_id: str, k: int = 2) -> list[Example]:
    """Up to ``k`` built-in examples, never of ``env_id`` itself."""
    return [e for e in EXAMPLES if e.env_id != env_id][:k]


def refinement_messages(
    opening: Sequence[Message], previous_program: str, feedback: str
) -> list[Message]:
    """The opening, the previous program as the assistant's answer, and the feedback on it."""
    answer = f"```python\n{previous_program.rstrip()}\n```"
    return [*opening, {"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]


def rejection_feedback(error: str) -> str:
    """Feedback for a program that could not be used at all (extraction, static check, probe, training crash)."""
    return (
        "The reward function above could not be used:\n"
        f"{error.strip()}\n\n"
        "Fix exactly this problem and follow the rules; write the whole corrected function in one ```python block."
    )


def training_feedback(score: str, component_table: str, *, chosen_by: str = "") -> str:
    """Eureka-style policy feedback: the task score, then how each component evolved over training."""
    lines = [chosen_by, ""] if chosen_by else []
    lines += [
        f"We trained a policy with this reward. Task score: {score}.",
        "Statistics over training (episode sums of each reward component, the env's own return and the episode "
        "length: the average at evenly spaced points of training, then max, mean and min):",
        component_table,
        "",
        REFINE_ADVICE,
    ]
    return "\n".join(lines)
