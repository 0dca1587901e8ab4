"""The documentation site builds in strict mode, and every internal link and anchor in it resolves.

The build (``mkdocs build --strict``, as ``make docs`` runs it) fails on a broken cross-reference, a page missing
from the nav, a public name without a docstring or a package missing from the API reference (``docs/hooks.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import gen_reference  # noqa: E402


class Links(HTMLParser):
    """Collects ``href``/``src`` targets and element ids of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" and value:
                self.ids.add(value)
            if key == "name" and tag == "a" and value:
                self.ids.add(value)
            if key in ("href", "src") and value and tag in ("a", "img", "link", "script"):
                self.targets.append(value)


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(errors="replace"))
    return links


def broken_links(site: Path) -> list[str]:
    """``page -> target`` for every internal link or anchor of ``site`` that does not resolve."""
    pages = {p: parse(p) for p in site.rglob("*.html")}
    broken = []
    for page, links in pages.items():
        for target in links.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:", "data:")):
                continue
            path = unquote(parts.path)
            if path.startswith("/"):  # site-absolute (the 404 page)
                dest = (site / path.lstrip("/")).resolve()
            else:
                dest = page if not path else (page.parent / path).resolve()
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                broken.append(f"{page.relative_to(site)} -> {target}")
                continue
            fragment = unquote(parts.fragment)
            if fragment and dest.suffix == ".html" and dest in pages and fragment not in pages[dest].ids:
                broken.append(f"{page.relative_to(site)} -> {target} (no such anchor)")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_site_builds_with_every_page(site):
    pages = ["index.html", "getting-started/index.html", "rewards/shaped/index.html", "zoo/index.html",
             "tutorials/01_quickstart/index.html", "reference/yaml/index.html", "reference/cli/index.html"]  # fmt: skip
    for page in pages:
        assert (site / page).is_file(), page
    for package in gen_reference.PACKAGES:
        assert (site / "reference" / "api" / package / "index.html").is_file(), package


def test_every_internal_link_resolves(site):
    broken = broken_links(site)
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:40])


def test_generated_references_cover_the_registry_and_the_cli(site):
    import rewardlab  # noqa: F401
    from rewardlab.cli.main import build_parser
    from rewardlab.config import POTENTIALS, TERMS

    yaml_page = (site / "reference" / "yaml" / "index.html").read_text()
    for entry in [*TERMS.entries(), *POTENTIALS.entries()]:
        assert f"<code>{entry.name}</code>" in yaml_page, entry.name
        for param in entry.params:
            assert f"<code>{param}</code>" in yaml_page, (entry.name, param)
    cli_page = (site / "reference" / "cli" / "index.html").read_text()
    for command in build_parser()._subparsers._group_actions[0].choices:
        assert f"rewardlab {command}" in cli_page, command


def test_link_checker_finds_a_broken_link(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text('<a href="a/">ok</a> <a href="b/">missing</a> <a href="#top">x</a>')
    (tmp_path / "a" / "index.html").write_text('<h1 id="top">a</h1><a href="../index.html#nope">bad anchor</a>')
    assert sorted(broken_links(tmp_path)) == [
        "a/index.html -> ../index.html#nope (no such anchor)",
        "index.html -> #top (no such anchor)",
        "index.html -> b/",
    ]


def test_public_names_have_docstrings_and_packages_are_listed():
    assert gen_reference.missing_docstrings() == []
    assert gen_reference.unlisted_packages() == []
