"""Show a round's candidates side by side in a notebook, and let a person pick (ICPL).

:func:`round_html` is static HTML (GIFs inlined, so it survives on the web);
:func:`choice_widget` adds a button under each candidate that records the choice
with :meth:`CodegenLoop.choose <rewardlab.codegen.loop.CodegenLoop.choose>`
(needs ``ipywidgets``); then call ``loop.step()`` for the next round.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any


def _gif_tag(path: str | None, width: int = 200) -> str:
    if not path or not Path(path).exists():
        return "<div style='color:#999'>(no video)</div>"
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<img src='data:image/gif;base64,{data}' width='{width}'/>"


def round_html(rnd: Any, *, width: int = 200) -> str:
    """The trained candidates of ``rnd`` side by side: video, score, components; the chosen one framed."""
    tiles = []
    for c in rnd.candidates:
        if not c.trained:
            continue
        border = "3px solid #2a7" if rnd.chosen == c.index else "1px solid #ccc"
        components = ", ".join(n.split("/", 1)[-1] for n in c.components)
        tiles.append(
            f"<div style='border:{border};padding:4px;margin:2px;text-align:center'>"
            f"<b>candidate {c.index}</b><br/>{_gif_tag(c.video, width)}<br/>"
            f"score {c.score:.4g}<br/><small>{html.escape(components)}</small></div>"
        )
    if not tiles:
        return f"<p>round {rnd.index}: no candidate trained</p>"
    return f"<div style='display:flex;flex-wrap:wrap'>{''.join(tiles)}</div>"


def show_round(rnd: Any, *, width: int = 200) -> Any:
    """Display :func:`round_html` in a notebook."""
    from IPython.display import HTML

    return HTML(round_html(rnd, width=width))


def choice_widget(loop: Any, rnd: Any, *, width: int = 200) -> Any:
    """The candidates with a 'prefer' button each; a click records the choice in ``loop``."""
    import ipywidgets as widgets

    status = widgets.HTML(f"round {rnd.index}: which behaviour is closest to what you want?")
    columns = []
    for c in rnd.trained:
        button = widgets.Button(description=f"prefer {c.index}")

        def on_click(_button: Any, index: int = c.index) -> None:
            loop.choose(rnd, index, by="human")
            status.value = f"round {rnd.index}: you chose candidate {index}; run loop.step() for the next round"

        button.on_click(on_click)
        columns.append(widgets.VBox([widgets.HTML(_gif_tag(c.video, width)), button]))
    return widgets.VBox([status, widgets.HBox(columns)])
