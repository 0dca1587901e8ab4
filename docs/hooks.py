"""MkDocs hooks: generate the reference pages from the code and refuse undocumented public names.

Runs inside ``mkdocs build`` (``make docs``); see ``docs/gen_reference.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).parent))

import gen_reference  # noqa: E402

_ROLE_HTML = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]+)</code>")


def on_files(files, config):  # noqa: ANN001, ANN201  (mkdocs hook signature)
    """Add the generated pages; fail on a public name without a docstring or a package missing from the reference."""
    missing = gen_reference.missing_docstrings()
    if missing:
        raise PluginError(f"public names without a docstring: {', '.join(missing)}")
    unlisted = gen_reference.unlisted_packages()
    if unlisted:
        raise PluginError(f"packages missing from the API reference (docs/gen_reference.py PACKAGES): {unlisted}")
    pages = {
        "reference/yaml.md": gen_reference.yaml_reference(),
        "reference/cli.md": gen_reference.cli_reference(),
    }
    for package in gen_reference.PACKAGES:
        pages[f"reference/api/{package}.md"] = gen_reference.api_page(package)
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files


def on_page_content(html, page, config, files):  # noqa: ANN001, ANN201
    """Sphinx roles left in docstrings (``:class:`~a.B```) read as plain code (`B`)."""
    return _ROLE_HTML.sub(lambda m: f"<code>{m.group(2).split('.')[-1] if m.group(1) else m.group(2)}</code>", html)
