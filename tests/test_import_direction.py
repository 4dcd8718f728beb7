"""The import direction of docs/design.md §2.2: core ← relay, core ← tui; relay never imports tui.

``lint-imports`` (import-linter, run by .ci/run) checks the contract on the import graph, which
includes imports inside functions. What it cannot see is a module named in a string:
``importlib.import_module("tui.…")`` or ``__import__("tui.…")``, the way the relay once reached
the admin TUI. This test reads every module's syntax tree for both kinds of edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Package → the top-level packages it must never import.
FORBIDDEN = {"core": {"relay", "tui"}, "relay": {"tui"}}


def imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module ``tree`` imports, at any depth, with its line: import statements, and calls
    of ``importlib.import_module``/``import_module``/``__import__`` with a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module is not None:
                yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield node.lineno, first.value


def violations(root: Path) -> list[str]:
    found = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, name in imported_names(tree):
                if name.split(".")[0] in forbidden:
                    found.append(f"{path.relative_to(root)}:{line} imports {name}")
    return found


def test_core_and_relay_import_nothing_they_must_not() -> None:
    assert violations(ROOT) == []


def test_the_check_sees_imports_in_functions_and_in_strings(tmp_path: Path) -> None:
    (tmp_path / "relay").mkdir()
    (tmp_path / "core").mkdir()
    (tmp_path / "relay" / "hidden.py").write_text(
        "import importlib\n"
        "def launch():\n"
        "    from tui.relay_admin import app\n"
        "    return importlib.import_module('tui.relay_admin.app')\n"
    )
    (tmp_path / "core" / "plain.py").write_text("import relay.store\n__import__('tui')\n")
    assert violations(tmp_path) == [
        "core/plain.py:1 imports relay.store",
        "core/plain.py:2 imports tui",
        "relay/hidden.py:3 imports tui.relay_admin",
        "relay/hidden.py:4 imports tui.relay_admin.app",
    ]
