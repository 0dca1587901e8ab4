"""Run untrusted reward programs in a contained worker process (see ``worker.py`` for the fences)."""

from rewardlab.codegen.sandbox.process import (
    Limits,
    ProgramError,
    SandboxError,
    SandboxKilled,
    SandboxProcess,
    SandboxUnavailable,
    check_fences,
)

__all__ = [
    "Limits",
    "ProgramError",
    "SandboxError",
    "SandboxKilled",
    "SandboxProcess",
    "SandboxUnavailable",
    "check_fences",
]
