"""``rewardlab sweep``: run, inspect, report and tune sweeps from a YAML spec.

rewardlab sweep sweeps/mountaincar.yaml [--backend local|ray] [--workers N] [--resume]
rewardlab sweep status sweeps/mountaincar.yaml        (or the sweep folder)
rewardlab sweep report runs/sweeps/mountaincar
rewardlab sweep tune sweeps/mountaincar_tune.yaml
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from rewardlab.cli.common import add_progress_flag, examples
from rewardlab.config.registry import ConfigError
from rewardlab.sweep.state import MANIFEST_FILE

ACTIONS = ("run", "status", "report", "tune")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of env × reward × algo × seed from a YAML spec; status, report, tune",
        description="Run a sweep spec (default), or: 'status SPEC|DIR' (progress per group), "
        "'report SPEC|DIR' (results table and plots), 'tune SPEC' (reward weight search with Optuna).",
        **examples(
            "rewardlab sweep sweeps/mountaincar.yaml --steps 20k --seeds 2  # a quick try of the spec",
            "rewardlab sweep sweeps/mountaincar.yaml --backend ray --resume",
            "rewardlab sweep report runs/sweeps/mountaincar",
        ),
    )
    p.add_argument("words", nargs="+", metavar="[ACTION] SPEC", help=f"optional action ({', '.join(ACTIONS)}) and spec")
    p.add_argument("--backend", default="local", choices=["local", "ray"], help="where runs execute (default: local)")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: half the cores)")
    p.add_argument("--address", default=None, help="join this Ray cluster (e.g. auto); default: start a local one")
    p.add_argument(
        "--shared-fs",
        action="store_true",
        help="the Ray cluster's nodes share the sweep folder: train in place, so killed runs resume from checkpoints",
    )
    p.add_argument(
        "--resume", action="store_true", help="skip finished runs, continue unfinished ones from their checkpoints"
    )
    p.add_argument("--overwrite", action="store_true", help="delete the sweep's runs and start over")
    p.add_argument(
        "--steps",
        default=None,
        help="override the spec's env steps per run, e.g. 20k (the runs go to OUT-steps20k unless --out is given)",
    )
    p.add_argument(
        "--seeds",
        default=None,
        help="override the spec's seeds: N (seeds 0..N-1) or a list such as 0,3,7 (folder OUT-seeds2 unless --out)",
    )
    p.add_argument("--out", default=None, help="sweep folder (default: the spec's 'out')")
    p.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the results table and plots at the end (default: on)",
    )
    add_progress_flag(p)
    p.set_defaults(func=run)


def _split(words: list[str]) -> tuple[str, str]:
    if words[0] in ACTIONS:
        if len(words) != 2:
            raise ConfigError(f"'rewardlab sweep {words[0]}' takes one spec file or sweep folder, got {words[1:]}")
        return words[0], words[1]
    if len(words) != 1:
        raise ConfigError(f"unknown sweep action {words[0]!r}; valid: {', '.join(ACTIONS)} (or just a spec file)")
    return "run", words[0]


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``N`` (seeds 0..N-1) or a comma-separated list of seeds."""
    from rewardlab.sweep.spec import _parse_seeds

    words = [w for w in text.replace(",", " ").replace("[", " ").replace("]", " ").split() if w]
    try:
        numbers = [int(w) for w in words]
    except ValueError:
        raise ConfigError(f"--seeds expects N (seeds 0..N-1) or a list such as 0,3,7; got {text!r}") from None
    if len(numbers) == 1 and "," not in text and "[" not in text:
        return _parse_seeds(numbers[0])
    return _parse_seeds(numbers)


def _spec(target: str, args: argparse.Namespace):  # noqa: ANN202 -- SweepSpec, imported lazily
    """The spec in ``target`` with the command line's --steps, --seeds and --out applied."""
    from rewardlab.sweep.spec import load_spec
    from rewardlab.train import parse_steps

    spec = load_spec(target)
    suffix = ""
    if getattr(args, "steps", None) is not None:
        steps = parse_steps(args.steps)
        if steps <= 0:
            raise ConfigError(f"--steps must be positive, got {args.steps!r}")
        spec.steps = steps
        suffix += f"-steps{args.steps}"
    if getattr(args, "seeds", None) is not None:
        spec.seeds = parse_seeds(args.seeds)
        suffix += f"-seeds{len(spec.seeds)}"
    if args.out is not None:
        spec.out = Path(args.out)
    elif suffix:  # a quick try does not mix its runs with the full sweep's
        spec.out = spec.out.with_name(spec.out.name + suffix)
    return spec


def _folder(target: str, args: argparse.Namespace) -> Path:
    """The sweep folder of a spec file, or ``target`` itself when it is a folder."""
    if args.out:
        return Path(args.out)
    return Path(target) if Path(target).is_dir() else _spec(target, args).out


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM (cluster schedulers, ``kill``) like Ctrl-C, so workers are stopped before the sweep exits."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    action, target = _split(args.words)
    if action in ("run", "tune"):
        _interrupt_on_sigterm()
    if action == "status":
        folder = _folder(target, args)
        if not (folder / MANIFEST_FILE).exists() and not Path(target).is_dir():
            print(f"not started: {len(_spec(target, args).runs())} runs pending in {folder}")
            return 0
        return show_status(folder)
    if action == "report":
        return show_report(_folder(target, args))
    if action == "tune":
        from rewardlab.sweep.weight_search import tune_weights

        tune_weights(
            _spec(target, args),
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            progress=args.progress,
        )
        return 0
    from rewardlab.sweep.runner import run_sweep

    spec = _spec(target, args)
    if args.steps is not None or args.seeds is not None:
        print(f"sweep {spec.name}: {spec.steps} steps, seeds {spec.seeds} -> {spec.out}")
    outcome = run_sweep(
        spec,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        shared_fs=args.shared_fs or None,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=args.progress,
        report=args.report,
    )
    print(f"{len(outcome.results)} runs executed, {outcome.skipped} skipped, {len(outcome.failed)} failed")
    if args.report:
        show_report(outcome.out, write=False)
    return 1 if outcome.failed else 0


def show_status(out: Path) -> int:
    """Print done / failed / running / pending runs per group."""
    from rich.console import Console
    from rich.table import Table

    from rewardlab.sweep.aggregate import load_runs
    from rewardlab.sweep.report import status_table

    runs = load_runs(out)
    counts = status_table(runs)
    table = Table(title=f"sweep {out}")
    table.add_column("group")
    for col in counts.columns:
        table.add_column(col, justify="right")
    for group, row in counts.iterrows():
        table.add_row(str(group), *(str(int(v)) for v in row))
    console = Console(width=160)
    console.print(table)
    for _, run in runs[runs["state"] == "failed"].iterrows():
        console.print(f"[red]failed[/] {run['run_id']}: see {out / run['run_id'] / 'error.txt'}")
    return 0


def show_report(out: Path, *, write: bool = True) -> int:
    """(Re)write the results table and plots of ``out`` and print the table."""
    from rewardlab.sweep.report import report_paths, write_report

    paths = write_report(out) if write else report_paths(out)
    if "results_md" in paths:
        print(paths["results_md"].read_text())
    print("files: " + ", ".join(str(p) for p in paths.values()))
    return 0
