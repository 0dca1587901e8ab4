"""Every example runs: the ```python blocks of README.md and docs/, and every docstring ``Examples:`` section.

A page's blocks run in order in one namespace (a later block may use an earlier one's names), in a scratch
folder that links the repository's configs/, envs/, agents/ and sweeps/. Training is capped at 512 steps and
on-policy rollouts at 32 steps per env, so an example that asks for 131,072 steps still runs end to end,
quickly. A block that needs what the test machines cannot have (downloaded weights) is preceded by
``<!-- no-run: reason -->``.
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import re
from pathlib import Path

import pytest

import rewardlab

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(<!-- no-run: ([^>]*)-->\s*\n)?```python\n(.*?)```", re.S)
LINKED = ("configs", "envs", "agents", "sweeps")
MAX_STEPS = 512


def python_blocks(page: Path) -> list[tuple[str | None, str]]:
    """``(no-run reason or None, source)`` of every ```python block of ``page``."""
    return [(m.group(2), m.group(3)) for m in BLOCK.finditer(page.read_text())]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A scratch working folder with the repository's data folders linked, and training capped."""
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    for base in (OnPolicyAlgorithm, OffPolicyAlgorithm):  # PPO.learn, SAC.learn, ... all call these
        monkeypatch.setattr(base, "learn", _capped(base.learn))
    init = OnPolicyAlgorithm.__init__

    def short_rollouts(self, *args, n_steps: int = 2048, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        init(self, *args, n_steps=min(n_steps, 32), **kwargs)  # PPO collects whole rollouts: 2048 × 16 envs at least

    monkeypatch.setattr(OnPolicyAlgorithm, "__init__", short_rollouts)
    return tmp_path


def _capped(learn):  # noqa: ANN001, ANN202
    def capped(self, total_timesteps, *args, **kwargs):  # noqa: ANN001, ANN202
        return learn(self, min(int(total_timesteps), MAX_STEPS), *args, **kwargs)

    return capped


def test_every_page_with_python_has_runnable_blocks():
    pages = {p.relative_to(ROOT).as_posix(): python_blocks(p) for p in PAGES}
    assert pages["README.md"], "the README's Python snippet is gone"
    skipped = [(page, reason) for page, blocks in pages.items() for reason, _ in blocks if reason is not None]
    assert all(reason.strip() for _, reason in skipped), "a no-run block must say why"
    assert len(skipped) <= 2, f"too many blocks that do not run: {skipped}"


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_markdown_python_blocks_run(page, scratch, capsys):
    namespace: dict = {"__name__": "__docs__"}
    for i, (reason, source) in enumerate(python_blocks(page)):
        if reason is not None:
            compile(source, f"{page.name}[{i}]", "exec")  # it must at least be valid Python
            continue
        exec(compile(source, f"{page.name}[{i}]", "exec"), namespace)  # noqa: S102


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(rewardlab.__path__, "rewardlab."):
        if info.name.endswith(("sandbox.worker", "__main__")):  # the worker runs untrusted code: not imported here
            continue
        path = Path(importlib.util.find_spec(info.name).origin or "")
        if path.suffix == ".py" and ">>>" in path.read_text():
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module", _modules_with_examples())
def test_docstring_examples_run(module, scratch):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(mod, module) if t.examples]
    assert tests, f"{module} mentions >>> but has no doctest"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed (output above)"


def test_public_factories_and_classes_have_examples():
    """Every public factory and class exported from rewardlab and the families in ``FAMILIES`` shows an example.

    ``rewardlab.sweep`` is not listed: ``run_sweep``, ``load_runs``, ``learning_curves``, ``write_report`` and
    ``tune_weights`` need a real sweep in worker processes (tens of seconds each); ``docs/sweeps.md`` runs them.
    """
    missing = []
    for package in FAMILIES:
        mod = importlib.import_module(package)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not callable(obj) or isinstance(obj, type(os)):
                continue
            if ">>>" not in (obj.__doc__ or "") and not _example_elsewhere(obj):
                missing.append(f"{package}.{name}")
    assert not missing, f"{len(missing)} public names without an example: {missing}"


FAMILIES = [
    "rewardlab", "rewardlab.core", "rewardlab.wrappers", "rewardlab.shaping", "rewardlab.bonus", "rewardlab.config",
    "rewardlab.runs", "rewardlab.qd", "rewardlab.plot", "rewardlab.oni", "rewardlab.analysis",
    "rewardlab.learned", "rewardlab.learned.preference", "rewardlab.learned.adversarial", "rewardlab.llm",
    "rewardlab.vlm", "rewardlab.perceptual", "rewardlab.codegen", "rewardlab.codegen.sandbox",
]


def _example_elsewhere(obj: object) -> bool:
    return False
