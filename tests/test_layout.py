"""The layout stays livable: small product modules, and every test module says what it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.unit

PRODUCT = ("bot", "handlers", "services")
MAX_LINES = 500  # one concern per module; a longer one is doing two things
KINDS = {"unit", "e2e"}  # and "slow" beside either; pytest --strict-markers refuses others


def _product_modules() -> list[Path]:
    return sorted(p for package in PRODUCT for p in (REPO_ROOT / package).rglob("*.py"))


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_product_module_is_over_500_lines() -> None:
    too_long = {
        str(p.relative_to(REPO_ROOT)): _lines(p)
        for p in _product_modules()
        if _lines(p) > MAX_LINES
    }
    assert too_long == {}, f"split these by concern (at most {MAX_LINES} lines each)"


def _module_markers(path: Path) -> set[str]:
    """The markers of the module's top-level ``pytestmark`` (one mark or a list of them)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return {
                n.attr
                for n in ast.walk(node.value)
                if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Attribute)
                and n.value.attr == "mark"
            }
    return set()


def test_every_test_module_is_marked_unit_or_e2e() -> None:
    modules = sorted((REPO_ROOT / "tests").glob("test_*.py"))
    marked = {p.name: _module_markers(p) for p in modules}
    assert {name for name, found in marked.items() if len(found & KINDS) != 1} == set(), (
        "give each a module-level pytestmark with exactly one of unit / e2e (see tests/conftest.py)"
    )
