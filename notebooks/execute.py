"""Re-execute the notebooks top to bottom and save them with their outputs (``make notebooks``).

    .venv/bin/python notebooks/execute.py                                  # every notebooks/*.ipynb
    .venv/bin/python notebooks/execute.py notebooks/03_reward_analysis.ipynb

The conventions every notebook follows (``tests/test_notebooks.py`` checks them):

* figures inline: ``plt.subplots`` and ``rl.plot.*(ax=...)``, no ``matplotlib.use("Agg")``, no PNG files needed
  to see a result; library code that writes PNGs does not touch the notebook's backend;
* committed executed, with its outputs, so it reads well on the web; small: this script renders figures at
  ``DPI`` dots per inch (a ``matplotlibrc`` given to the kernel, so the notebooks carry no set-up code) and a
  saved notebook should stay under ``MAX_KB``;
* fast: top to bottom in under 40 s; the kernel runs in the repository root with ``OMP_NUM_THREADS=1``,
  as in the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DPI = 72
MAX_KB = 400


def execute(path: Path, *, timeout: int = 300) -> float:
    """Run ``path`` in a fresh kernel and write it back with its outputs; returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        rc = Path(tmp) / "matplotlibrc"
        rc.write_text(f"figure.dpi: {DPI}\nsavefig.dpi: figure\n")
        env = {**os.environ, "MATPLOTLIBRC": str(rc), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
        start = time.perf_counter()
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(ROOT)}}
        )
        client.execute(env=env)
        seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    too_big = []
    for path in paths:
        seconds = execute(path)
        kb = path.stat().st_size / 1024
        print(f"{path.name:<36} {seconds:6.1f} s  {kb:7.1f} kB")
        if kb > MAX_KB:
            too_big.append(path.name)
    if too_big:
        print(f"over {MAX_KB} kB (make the figures smaller or fewer): {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
