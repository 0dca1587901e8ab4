"""A content-addressed store of LLM generations and the reward programs taken from them.

Layout under the store's root::

    generations/<key[:2]>/<key>.json   # {request: {model, messages, temperature, sample, ...}, answer, created}
    programs/<id>.json                 # a Program: source, env, fields, components, generation key

A generation's key is the SHA-256 of its request (model, messages, sampling
parameters and the sample's index), so asking the same question again finds the
stored answer: a whole codegen loop replays offline, without the LLM server. A
program's id is the SHA-256 of its env and source (16 hex digits), so
``rewardlab train --reward generated:<id>`` names exactly one program; any
unique prefix of at least 6 digits works too. Files are written atomically
(temporary file, then rename), so a crash never leaves a half-written record.

The root is ``$REWARDLAB_CODEGEN_STORE``, else ``$XDG_DATA_HOME/rewardlab/codegen``
(``~/.local/share/rewardlab/codegen``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from rewardlab.codegen.program import Program
from rewardlab.sweep.state import write_json_atomic

MIN_PREFIX = 6


def default_root() -> Path:
    """Where generations live unless told otherwise (see the module docs)."""
    if os.environ.get("REWARDLAB_CODEGEN_STORE"):
        return Path(os.environ["REWARDLAB_CODEGEN_STORE"])
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "rewardlab" / "codegen"


def request_key(request: dict[str, Any]) -> str:
    """SHA-256 of a request's canonical JSON."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class GenerationStore:
    """LLM answers by request, and programs by id, on disk (see the module docs).

    Examples:
        >>> from rewardlab.codegen import GenerationStore, make_program
        >>> store = GenerationStore("codegen_store")               # default: $REWARDLAB_CODEGEN_STORE or ~/.local/share
        >>> request = {"model": "demo", "messages": [{"role": "user", "content": "a reward?"}], "sample": 0}
        >>> store.get_answer(request) is None
        True
        >>> answer = "```python\\ndef compute_reward(next_obs):\\n    return {'x': next_obs[:, 0]}\\n```"
        >>> _ = store.put_answer(request, answer)
        >>> program_id = store.put_program(make_program(store.get_answer(request), "MountainCar-v0"))
        >>> store.get_program(program_id[:8]).components           # a unique prefix of the id is enough
        ('x',)
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def __repr__(self) -> str:
        return f"GenerationStore({str(self.root)!r})"

    # -- generations ----------------------------------------------------------------------
    def _generation_path(self, key: str) -> Path:
        return self.root / "generations" / key[:2] / f"{key}.json"

    def get_answer(self, request: dict[str, Any]) -> str | None:
        """The stored answer to ``request``, or None."""
        path = self._generation_path(request_key(request))
        if not path.exists():
            return None
        return json.loads(path.read_text())["answer"]

    def put_answer(self, request: dict[str, Any], answer: str) -> str:
        """Store ``answer`` to ``request``; return the generation key."""
        key = request_key(request)
        write_json_atomic(
            self._generation_path(key), {"key": key, "request": request, "answer": answer, "created": time.time()}
        )
        return key

    def generation(self, key: str) -> dict[str, Any]:
        """The whole record of a generation (request, answer, time)."""
        path = self._generation_path(key)
        if not path.exists():
            raise KeyError(f"no generation {key!r} in {self.root}")
        return json.loads(path.read_text())

    # -- programs -------------------------------------------------------------------------
    def put_program(self, program: Program) -> str:
        """Store ``program`` (idempotent); return its id."""
        path = self.root / "programs" / f"{program.id}.json"
        if not path.exists():
            write_json_atomic(path, program.to_dict())
        return program.id

    def program_ids(self) -> list[str]:
        folder = self.root / "programs"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []

    def resolve(self, ref: str) -> str:
        """The full id of the program ``ref`` (an id or a unique prefix of at least 6 hex digits)."""
        ref = ref.strip().lower()
        if (self.root / "programs" / f"{ref}.json").exists():
            return ref
        ids = self.program_ids()
        if len(ref) < MIN_PREFIX:
            raise ValueError(f"program id {ref!r} is too short; give at least {MIN_PREFIX} hex digits")
        hits = [i for i in ids if i.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            known = ", ".join(ids[-5:]) or "none"
            raise ValueError(
                f"no generated program {ref!r} in {self.root} (set REWARDLAB_CODEGEN_STORE or store: to the folder "
                f"that holds it); latest ids: {known}"
            )
        raise ValueError(f"program id {ref!r} is ambiguous: {', '.join(hits)}")

    def get_program(self, ref: str) -> Program:
        """The program ``ref`` names (see :meth:`resolve`)."""
        path = self.root / "programs" / f"{self.resolve(ref)}.json"
        return Program.from_dict(json.loads(path.read_text()))
