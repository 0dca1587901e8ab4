"""Reward programs written by an LLM (Text2Reward, Eureka, ICPL): prompt, check, contain, refine, replay.

An LLM writes ``compute_reward(obs, action, next_obs, ...)`` returning named
numpy components from a compact description of the env (:func:`describe_env`).
The answer is checked statically (:mod:`~rewardlab.codegen.validate`), run only in
a locked-down worker process (:mod:`~rewardlab.codegen.sandbox`), stored
content-addressed with its prompt and model (:class:`GenerationStore`), and used
as a reward term (:class:`GeneratedTerm`, YAML ``{term: generated, id: ...}``)::

    import rewardlab as rl
    program = rl.codegen.make_program(source, "Hopper-v5")       # raises RejectedProgram with the reason
    reward = rl.codegen.GeneratedTerm(program)                     # components logged one by one

and the loop that writes, trains and refines them (:class:`CodegenLoop`, ``rewardlab codegen``).
"""

from rewardlab.codegen import terms_config, widgets  # noqa: F401  (terms_config registers 'generated' for YAML)
from rewardlab.codegen.describe import EnvDescription, describe_env, supported_envs
from rewardlab.codegen.generate import Generator
from rewardlab.codegen.loop import CodegenLoop, LoopConfig
from rewardlab.codegen.program import Program, RejectedProgram, make_program
from rewardlab.codegen.sandbox import Limits, ProgramError, SandboxError, SandboxKilled, SandboxProcess
from rewardlab.codegen.store import GenerationStore
from rewardlab.codegen.term import GeneratedRewardError, GeneratedTerm
from rewardlab.codegen.validate import ValidationError, check_program, extract_code

__all__ = [
    "CodegenLoop",
    "EnvDescription",
    "GeneratedRewardError",
    "GeneratedTerm",
    "GenerationStore",
    "Generator",
    "Limits",
    "LoopConfig",
    "Program",
    "ProgramError",
    "RejectedProgram",
    "SandboxError",
    "SandboxKilled",
    "SandboxProcess",
    "ValidationError",
    "check_program",
    "describe_env",
    "extract_code",
    "make_program",
    "supported_envs",
    "widgets",
]
