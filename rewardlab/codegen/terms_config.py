"""YAML registration of generated reward programs (family ``llm``).

::

    reward:
      - {term: generated, id: 3fa9c2d1e0b4a7c5}            # a program in the default store
      - {term: generated, id: 3fa9c2, store: runs/codegen/store, call_timeout: 10}
      - {term: generated, id: 3fa9c2, allow_unfenced: true}   # a machine with neither Landlock nor namespaces

and on the command line ``rewardlab train --reward generated:3fa9c2d1``.
"""

from __future__ import annotations

from rewardlab.config.registry import TERMS
from rewardlab.core.term import RewardTerm


@TERMS.register("generated", family="llm")
def generated(
    id: str,  # noqa: A002 -- the YAML key users write
    store: str | None = None,
    memory_mb: float = 512.0,
    call_timeout: float = 5.0,
    allow_unfenced: bool = False,
) -> RewardTerm:
    """A stored LLM-written reward program, run in a contained worker; each component is logged.

    Args:
        id: the program's id in the store (a unique prefix is enough), as ``rewardlab codegen`` prints it.
        store: the generation store folder (default: the one ``rewardlab codegen`` writes to).
        memory_mb: memory limit of the worker process that runs the program.
        call_timeout: seconds one batch may take before the worker is stopped and the step fails.
        allow_unfenced: run the program even where neither Landlock nor a private mount namespace can fence the
            worker's filesystem (seccomp and the static check remain); off by default: such a machine refuses.
    """
    from rewardlab.codegen.sandbox import Limits
    from rewardlab.codegen.store import GenerationStore
    from rewardlab.codegen.term import GeneratedTerm

    program = GenerationStore(store).get_program(str(id))
    limits = Limits(memory_mb=memory_mb, call_timeout=call_timeout, allow_unfenced=bool(allow_unfenced))
    return GeneratedTerm(program, limits=limits)
