"""Run a sweep: pick the unfinished runs, hand them to a backend, show progress, write the report."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.config.registry import ConfigError
from rewardlab.runs import folder as run_files
from rewardlab.sweep.execute import RunResult
from rewardlab.sweep.spec import SweepRun, SweepSpec
from rewardlab.sweep.state import MANIFEST_FILE, STATUS_FILE, run_state, sweep_lock, write_json_atomic

BACKENDS = ("local", "ray")


@dataclass
class SweepOutcome:
    """What a call to :func:`run_sweep` did: counts of run states and the folder."""

    out: Path
    total: int
    skipped: int
    results: list[RunResult] = field(default_factory=list)

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results if r.state == "failed"]


def make_backend(
    backend: str, workers: int | None = None, address: str | None = None, *, shared_fs: bool | None = None
) -> Any:
    """The backend named ``backend`` (``local`` or ``ray``); ``shared_fs`` is the Ray cluster's (see runner_ray)."""
    if backend == "local":
        if address or shared_fs:
            raise ConfigError("--address and --shared-fs are for a Ray cluster; use them with --backend ray")
        from rewardlab.sweep.runner_local import LocalBackend

        return LocalBackend(workers)
    if backend == "ray":
        from rewardlab.sweep.runner_ray import RayBackend

        return RayBackend(workers, address, shared_fs=shared_fs)
    raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")


def run_record(run: SweepRun) -> dict[str, Any]:
    """A run as the manifest stores it (everything status and reports need, without re-reading the spec)."""
    return {
        "run_id": run.run_id,
        "group": run.group,
        "env": run.env,
        "reward": run.reward,
        "algo": run.algo,
        "variant": run.variant,
        "seed": run.seed,
        "config_hash": run.config_hash,
        "config": asdict(run.config),
    }


def write_manifest(spec: SweepSpec, runs: list[SweepRun]) -> None:
    """``sweep.json`` (every run of the sweep) and ``spec.yaml`` (a copy of the source) in the sweep folder."""
    write_json_atomic(spec.out / MANIFEST_FILE, {"name": spec.name, "runs": [run_record(r) for r in runs]})
    if spec.source is not None:
        shutil.copyfile(spec.source, spec.out / "spec.yaml")


def _clear(out: Path) -> None:
    """Clear every run folder of the sweep (what a person made in them stays: see ``runs.folder.clear``)."""
    for child in out.iterdir():
        if child.is_dir() and (child / STATUS_FILE).exists():
            run_files.clear(child, keep_status=False)


def run_sweep(
    spec: SweepSpec,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    shared_fs: bool | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    report: bool = True,
) -> SweepOutcome:
    """Run every unfinished run of ``spec`` into ``spec.out`` and (by default) write the results report.

    Without ``resume`` or ``overwrite`` an existing sweep folder with runs is an
    error, so a finished sweep is never silently mixed with a new one. Unfinished
    runs continue from their last checkpoint (on Ray too, where runs train in the
    sweep folder: a local instance, or a cluster with ``shared_fs``).
    """
    runner = make_backend(backend, workers, address, shared_fs=shared_fs)
    runs = spec.runs()
    out = spec.out
    with sweep_lock(out):
        started = [r for r in runs if (out / r.run_id / STATUS_FILE).exists()]
        if started and not (resume or overwrite):
            done = sum(run_state(out / r.run_id, r.config_hash) == "done" for r in started)
            raise ConfigError(
                f"{len(started)} of {len(runs)} runs already exist in {str(out)!r} ({done} finished); "
                "pass --resume to run only the unfinished ones, or --overwrite to start over"
            )
        if overwrite:
            _clear(out)
        write_manifest(spec, runs)
        todo = [r for r in runs if run_state(out / r.run_id, r.config_hash) != "done"]
        outcome = SweepOutcome(out=out, total=len(runs), skipped=len(runs) - len(todo))
        with _Progress(len(runs), outcome.skipped, enabled=progress, title=f"sweep {spec.name} [{runner.name}]") as bar:

            def on_result(result: RunResult) -> None:
                outcome.results.append(result)
                bar.advance(result)

            runner.run(todo, out, on_result)
    if report:
        from rewardlab.sweep.report import write_report

        write_report(out)
    return outcome


class _Progress:
    """A rich progress bar with a line per finished run (plain lines when disabled)."""

    def __init__(self, total: int, skipped: int, *, enabled: bool, title: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.counts: Counter[str] = Counter(done=skipped)
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            disable=not enabled,
        )
        self.task = self.progress.add_task(title, total=total, completed=skipped, counts=self._counts())
        if enabled and skipped:
            self.progress.console.print(f"{skipped} finished runs skipped (resume)")

    def _counts(self) -> str:
        return f"done {self.counts['done']}  failed {self.counts['failed']}"

    def advance(self, result: RunResult) -> None:
        self.counts[result.state] += 1
        self.progress.update(self.task, advance=1, counts=self._counts())
        if not self.enabled:
            return
        from rich.markup import escape

        score = result.summary.get("eval_true_return")
        detail = f"eval_true_return={score:.1f}" if score is not None else escape(result.error or "")
        colour = "green" if result.state == "done" else "red"
        self.progress.console.print(
            f"[{colour}]{result.state:6}[/] {result.run_id}  {detail}  ({result.seconds:.1f}s)", markup=True
        )

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)
