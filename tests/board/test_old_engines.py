"""The screens' own scripts and styles stay within what a 2018 TV browser
engine runs (Chrome 6x-era WebViews): classic scripts (no ES modules, no
top-level await), no optional chaining or nullish coalescing, and no CSS from
after 2019 (``:has``, ``aspect-ratio``, container queries, ``inset``, ``gap`` on
flexbox in the wall screens' styles). A syntax error there means a black TV."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "static" / "js").glob("*.js"))
STYLES = sorted((ROOT / "static" / "css").glob("*.css"))
WALL_STYLES = [ROOT / "static" / "css" / name for name in ("base.css", "board.css", "lounge.css")]

COMMENT = re.compile(r"/\*.*?\*/|(?<![:\\])//[^\n]*", re.DOTALL)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`(?:\\.|[^`\\])*`')
TOO_NEW_JS = {
    "optional chaining": re.compile(r"\?\.(?!\d)"),
    "nullish coalescing": re.compile(r"\?\?"),
    "ES module import": re.compile(r"(^|[;\s])import\s+[\w{*'\"]", re.MULTILINE),
    "ES module export": re.compile(r"(^|[;\s])export\s", re.MULTILINE),
}
TOO_NEW_CSS = {
    ":has()": re.compile(r":has\("),
    "aspect-ratio": re.compile(r"aspect-ratio"),
    "container queries": re.compile(r"@container|container-type"),
    "inset": re.compile(r"(^|[;{\s])inset\s*:", re.MULTILINE),
}


CLASSIC = (
    "new (require('vm').Script)(require('fs').readFileSync(process.argv[1], 'utf8'),"
    " {filename: process.argv[1]})"
)


def code_only(source: str) -> str:
    return STRING.sub('""', COMMENT.sub("", source))


def test_there_is_something_to_check() -> None:
    names = {path.name for path in SCRIPTS}
    assert {"live.js", "board.js", "lounge.js"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_script_uses_no_syntax_newer_than_2018(script: Path) -> None:
    code = code_only(script.read_text(encoding="utf-8"))
    found = [name for name, pattern in TOO_NEW_JS.items() if pattern.search(code)]
    assert found == [], f"{script.name} uses {', '.join(found)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_script_parses_as_a_classic_script(script: Path) -> None:
    """Top-level await and import statements are syntax errors in a classic
    script. ``node --check`` would guess "module" from the syntax; ``vm.Script``
    compiles the file exactly as a browser's <script> does."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: the regular-expression check above still ran")
    checked = subprocess.run(
        [node, "-e", CLASSIC, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("style", STYLES, ids=lambda path: path.name)
def test_style_uses_no_css_newer_than_2019(style: Path) -> None:
    css = COMMENT.sub("", style.read_text(encoding="utf-8"))
    found = [name for name, pattern in TOO_NEW_CSS.items() if pattern.search(css)]
    assert found == [], f"{style.name} uses {', '.join(found)}"


@pytest.mark.parametrize("style", WALL_STYLES, ids=lambda path: path.name)
def test_wall_screens_use_no_flexbox_gap(style: Path) -> None:
    """``gap`` on flexbox came to Chrome in 2021 (84); grid gap is older and fine,
    but the wall screens lay out with flexbox and margins only."""
    css = COMMENT.sub("", style.read_text(encoding="utf-8"))
    for rule in re.finditer(r"([^{}]+)\{([^}]*)\}", css):
        body = rule.group(2)
        if re.search(r"display\s*:\s*flex", body):
            assert not re.search(r"(^|[;\s])(row-|column-)?gap\s*:", body), (
                f"{style.name}: flexbox gap in {rule.group(1).strip()}"
            )


def test_classic_script_check_refuses_module_syntax(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    for source in ("import x from 'y';", "await Promise.resolve(1);"):
        sample = tmp_path / "sample.js"
        sample.write_text(source)
        checked = subprocess.run(
            [node, "-e", CLASSIC, str(sample)], capture_output=True, timeout=30, check=False
        )
        assert checked.returncode != 0, source


def test_the_check_catches_what_it_is_for() -> None:
    """The patterns find the constructs (a check that cannot fail proves nothing)."""
    sample = "var a = b?.c; var d = e ?? f;\nimport x from 'y';\nexport default 1;"
    assert all(p.search(code_only(sample)) for p in TOO_NEW_JS.values())
    assert not TOO_NEW_JS["optional chaining"].search(code_only("var t = a ?.5 : 1; // b?.c"))
    css = ".a:has(b) { aspect-ratio: 1; inset: 0; } @container (min-width: 1px) {}"
    assert all(p.search(css) for p in TOO_NEW_CSS.values())
