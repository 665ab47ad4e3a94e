"""Every chapter has ch10's shape: the course's claims first, one function per lab section, a ``main()`` that
reads as the table of contents, a final table saved as ``results.md``, the public API only, and a length a
learner reads through. Read from the source (``ast``), without running anything."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("ch[0-9][0-9]_*.py"))
MAX_LINES = 350
MAX_MAIN_LINES = 42


def test_the_course_chapters_are_all_found():
    numbers = {int(p.stem[2:4]) for p in CHAPTERS}
    assert set(range(1, 21)) <= numbers, "the course's 20 chapters, and any later ones"


def _private_uses(tree: ast.Module) -> list[str]:
    """Underscore names reached in scratchnet: imported from it, or attributes of its objects that the
    chapter reads, calls, sets or overrides (its own helpers, defined in the chapter, are its business)."""
    found = []
    own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scratchnet"):
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(f"from {node.module} import ...")
            found += [f"import {a.name} from {node.module}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if node.attr not in own:
                found.append(f".{node.attr} (line {node.lineno})")
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_the_shape_of_ch10(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    doc = ast.get_docstring(tree) or ""
    assert re.search(r"course claims", doc, re.I), "the docstring opens with the course's claims"
    assert "results.md" in doc, "the docstring says the final table is kept in results.md"
    assert len(source.splitlines()) <= MAX_LINES, f"{len(source.splitlines())} lines"
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "main" in functions
    main = functions["main"]
    assert main.end_lineno - main.lineno + 1 <= MAX_MAIN_LINES, "main() reads as a table of contents"
    called = {n.func.id for n in ast.walk(main) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "write_results" in called, "main() saves the final table as results.md"
    sections = called & {name for name in functions if name != "main"}
    assert len(sections) >= 2, f"one function per lab section, called from main(): {sorted(sections)}"
    assert _private_uses(tree) == []


def test_the_private_use_check_sees_imports_and_overrides():
    tree = ast.parse(
        "from scratchnet.datasets._fetch import fetch\n"
        "class R(RMSProp):\n    def update_step(self, p, g, s):\n        self._buffer(s, 'x', p)\n"
        "trainer._rng = 1\n"
    )
    assert len(_private_uses(tree)) == 3
