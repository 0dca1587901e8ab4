"""Sweep reports: status tables, the results table (CSV + Markdown) and plots.

Plot functions take ``ax=`` and return it, like the rest of :mod:`rewardlab.plot`.
:func:`write_report` writes into the sweep folder:

* ``runs.csv`` -- every run with its state and summary values;
* ``results.csv`` / ``results.md`` -- IQM and mean per group with 95 % bootstrap CIs;
* ``learning_curves.png`` -- true return against steps per reward (mean ± CI over seeds);
* ``terms.png`` -- each reward term's episode sum against steps, a panel per term (mean ± CI over seeds);
* ``performance_profile.png`` -- fraction of runs with evaluation return > τ, per reward.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab.sweep.aggregate import (
    SCORE,
    aggregate,
    load_runs,
    mean_curve,
    performance_profile,
    run_curve,
)
from rewardlab.sweep.state import MANIFEST_FILE, STATES, read_json

if TYPE_CHECKING:
    import pandas as pd

CURVE_POINTS = 60
REPORT_FILES = {
    "runs": "runs.csv",
    "results_csv": "results.csv",
    "results_md": "results.md",
    "learning_curves": "learning_curves.png",
    "terms": "terms.png",
    "performance_profile": "performance_profile.png",
}


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4))[1]


def status_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs per group and state (done / failed / running / pending), with a total row.

    Examples:
        >>> import pandas as pd, rewardlab as rl
        >>> runs = pd.DataFrame({"group": ["plain"] * 3 + ["shaped"] * 3, "env": "CartPole-v1",
        ...                      "reward": ["plain"] * 3 + ["shaped"] * 3, "algo": "ppo", "variant": "-",
        ...                      "seed": [0, 1, 2] * 2, "state": ["done"] * 5 + ["failed"],
        ...                      "eval_true_return": [200.0, 250.0, 300.0, 480.0, 500.0, None]})
        >>> rl.sweep.status_table(runs).loc["all"].to_dict()
        {'done': 5, 'failed': 1, 'running': 0, 'pending': 0, 'total': 6}
    """
    import pandas as pd

    table = pd.crosstab(runs["group"], runs["state"]).reindex(columns=list(STATES), fill_value=0)
    table = table.reindex(pd.unique(runs["group"]))
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum(axis=0)
    return table


def _label(row: pd.Series, columns: list[str]) -> str:
    return " / ".join(str(row[c]) for c in columns)


def _varying(runs: pd.DataFrame) -> list[str]:
    """Axes that take more than one value in the sweep (what a legend needs to tell runs apart)."""
    cols = [c for c in ("env", "reward", "algo", "variant") if runs[c].nunique() > 1]
    return cols or ["reward"]


def learning_curves(
    out: str | Path,
    *,
    runs: pd.DataFrame | None = None,
    ax: Any = None,
    smooth: int = 10,
    seed: int = 0,
    column: str = "true_return",
) -> Any:
    """``column`` of ``reward_terms.csv`` (the true return, or a term's episode sum) against environment steps.

    One line per group: the mean over seeds with a 95 % bootstrap band; groups
    whose runs have no such column are left out.
    """
    out = Path(out)
    runs = load_runs(out) if runs is None else runs
    done = runs[runs["state"] == "done"]
    ax = _axes(ax)
    if done.empty:
        return ax
    grid = np.linspace(0, float(done["steps"].max()), CURVE_POINTS)
    columns = _varying(runs)
    for index, (_, frame) in enumerate(done.groupby("group", sort=False)):
        curves = np.stack(
            [run_curve(out / rid / "reward_terms.csv", grid, column=column, smooth=smooth) for rid in frame["run_id"]]
        )
        if np.isnan(curves).all():
            continue
        centre, low, high = mean_curve(curves, seed=seed)
        label = f"{_label(frame.iloc[0], columns)} (n={len(frame)})"
        color = f"C{index % 10}"  # a group keeps its colour in every panel, also where others have no such term
        ax.plot(grid, centre, label=label, color=color)
        ax.fill_between(grid, low, high, color=color, alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"true return (moving average of {smooth} episodes)" if column == "true_return" else "episode sum")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return ax


def term_names(out: str | Path, runs: pd.DataFrame) -> list[str]:
    """The reward terms logged by the finished runs, in order of first appearance."""
    import pandas as pd

    from rewardlab.plot.curves import term_columns

    names: list[str] = []
    for rid in runs.loc[runs["state"] == "done", "run_id"]:
        path = Path(out) / rid / "reward_terms.csv"
        if path.exists() and path.stat().st_size > 0:
            names += [t for t in term_columns(pd.read_csv(path, nrows=0)) if t not in names]
    return names


def profile_plot(runs: pd.DataFrame, *, score: str = SCORE, ax: Any = None, points: int = 100) -> Any:
    """Performance profile per group: fraction of runs with ``score`` > τ against τ.

    Examples:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import pandas as pd, rewardlab as rl
        >>> runs = pd.DataFrame({"group": ["plain"] * 3 + ["shaped"] * 3, "env": "CartPole-v1",
        ...                      "reward": ["plain"] * 3 + ["shaped"] * 3, "algo": "ppo", "variant": "-",
        ...                      "seed": [0, 1, 2] * 2, "state": ["done"] * 5 + ["failed"],
        ...                      "eval_true_return": [200.0, 250.0, 300.0, 480.0, 500.0, None]})
        >>> fig, ax = plt.subplots()
        >>> ax = rl.sweep.profile_plot(runs, ax=ax)   # one step curve per group
        >>> len(ax.get_lines())
        2
    """
    done = runs[runs["state"] == "done"].dropna(subset=[score]) if score in runs else runs.iloc[:0]
    ax = _axes(ax)
    if done.empty:
        return ax
    low, high = float(done[score].min()), float(done[score].max())
    pad = max(1e-9, 0.05 * (high - low))
    taus = np.linspace(low - pad, high + pad, points)
    columns = _varying(runs)
    for _, frame in done.groupby("group", sort=False):
        ax.step(taus, performance_profile(frame[score], taus), where="post", label=_label(frame.iloc[0], columns))
    ax.set_xlabel(f"τ ({score})")
    ax.set_ylabel(f"fraction of runs with {score} > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return ax


def markdown_table(results: pd.DataFrame) -> str:
    """The results table in Markdown: IQM and mean as ``value [low, high]``; groups without a finished run say why."""
    header = ["env", "reward", "algo", "variant", "seeds", "IQM [95% CI]", "mean [95% CI]", "std", "failed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in results.iterrows():
        failed = int(r.get("failed", 0))
        runs = int(r.get("runs", r["seeds"]))
        if r["seeds"] == 0:
            why = f"**failed** ({failed} of {runs} runs)" if failed else "no finished run"
            stats = [why, why, "-"]
        else:
            stats = [
                f"{r['iqm']:.2f} [{r['iqm_low']:.2f}, {r['iqm_high']:.2f}]",
                f"{r['mean']:.2f} [{r['mean_low']:.2f}, {r['mean_high']:.2f}]",
                f"{r['std']:.2f}",
            ]
        cells = [r["env"], r["reward"], r["algo"], r["variant"], str(r["seeds"]), *stats, f"{failed} of {runs}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, *, score: str = SCORE, seed: int = 0) -> dict[str, Path]:
    """Write the tables and plots of the sweep in ``out``; return their paths by kind."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's inline one) stays

    out = Path(out)
    runs = load_runs(out)
    title = (read_json(out / MANIFEST_FILE) or {}).get("name", out.name)
    paths = {key: out / name for key, name in REPORT_FILES.items()}
    runs.to_csv(paths["runs"], index=False)
    results = aggregate(runs, score=score, seed=seed)
    results.to_csv(paths["results_csv"], index=False)
    paths["results_md"].write_text(
        f"# {title}: {score} over seeds (IQM and mean, 95% stratified bootstrap CI)\n\n" + markdown_table(results)
    )
    if not (runs["state"] == "done").any():
        return {key: paths[key] for key in ("runs", "results_csv", "results_md")}
    for name, draw in (
        ("learning_curves", lambda ax: learning_curves(out, runs=runs, ax=ax, seed=seed)),
        ("performance_profile", lambda ax: profile_plot(runs, score=score, ax=ax)),
    ):
        fig = Figure(figsize=(8, 4.5))
        ax = fig.subplots()
        draw(ax)
        ax.set_title(f"{title}: {name.replace('_', ' ')}")
        fig.tight_layout()
        fig.savefig(paths[name], dpi=110)
    terms = term_names(out, runs)
    if terms:
        fig = Figure(figsize=(8, 1.0 + 2.6 * len(terms)))
        for ax, term in zip(fig.subplots(len(terms), 1, sharex=True, squeeze=False)[:, 0], terms):
            learning_curves(out, runs=runs, ax=ax, seed=seed, column=term)
            ax.set_title(f"term: {term}", fontsize=10)
            ax.set_xlabel("")
        ax.set_xlabel("environment steps")
        fig.suptitle(f"{title}: episode sum of each reward term (moving average of 10 episodes, mean and 95% CI)")
        fig.tight_layout()
        fig.savefig(paths["terms"], dpi=110)
    else:
        paths.pop("terms")
    return paths


def report_paths(out: str | Path) -> dict[str, Path]:
    """The report files that exist in ``out``, by kind."""
    return {key: Path(out) / name for key, name in REPORT_FILES.items() if (Path(out) / name).exists()}
