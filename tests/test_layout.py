"""The layout the README promises: core never imports streamlit; pages and ui use core's public surface."""

import ast

import pytest
from helpers import ROOT

import core


def imports_of(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield from ((node.module, alias.name) for alias in node.names)


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT / "core")))
def test_core_never_imports_streamlit(path):
    assert not [m for m, _ in imports_of(path) if m.split(".")[0] == "streamlit"]


@pytest.mark.parametrize("path", sorted([*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"),
                                         ROOT / "dashboard.py"]), ids=lambda p: p.name)
def test_pages_and_ui_import_only_cores_public_names(path):
    for module, name in imports_of(path):
        if module.split(".")[0] == "core":
            assert module == "core", f"{path.name} reaches into {module}: import it from core"
            assert name in core.__all__, f"{path.name} imports {name}, which core does not export"


@pytest.mark.parametrize("path", sorted((ROOT / "core" / "cli").glob("*.py")), ids=lambda p: p.name)
def test_the_command_line_imports_only_cores_public_names_and_its_own_modules(path):
    """Like the pages: a command group reads ``core``'s public surface. Its one exception is the HTTP API that
    ``serve`` starts (``core.web.api``): through the facade it would load FastAPI in every page."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1, f"{path.name} reaches into core's modules: import from core instead"
    for module, name in imports_of(path):
        if module.split(".")[0] == "core" and module != "core.web.api":
            assert module == "core", f"{path.name} reaches into {module}: import it from core"
            assert name in core.__all__, f"{path.name} imports {name}, which core does not export"


def test_core_is_grouped_in_subpackages_by_role_with_only_settings_and_errors_at_the_top():
    top = sorted(p.stem for p in (ROOT / "core").glob("*.py"))
    assert top == ["__init__", "__main__", "config", "errors", "timefmt"]
    packages = sorted(p.parent.name for p in (ROOT / "core").glob("*/__init__.py"))
    assert packages == ["analytics", "cli", "execution", "generation", "history", "judging", "models", "team", "web"]
    for package in packages:  # each says what it holds, and names every module it holds
        doc = ast.get_docstring(ast.parse((ROOT / "core" / package / "__init__.py").read_text())) or ""
        if package == "cli":
            continue
        for module in (ROOT / "core" / package).glob("*.py"):
            if module.stem != "__init__":
                assert f"``{module.stem}``" in doc, f"core/{package}/__init__.py does not name {module.stem}"
