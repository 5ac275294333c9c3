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


@pytest.mark.parametrize("path", sorted((ROOT / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_never_imports_streamlit(path):
    assert not [m for m, _ in imports_of(path) if m.split(".")[0] == "streamlit"]


@pytest.mark.parametrize("path", sorted([*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"),
                                         ROOT / "dashboard.py"]), ids=lambda p: p.name)
def test_pages_and_ui_import_only_cores_public_names(path):
    for module, name in imports_of(path):
        if module.split(".")[0] == "core":
            assert module == "core", f"{path.name} reaches into {module}: import it from core"
            assert name in core.__all__, f"{path.name} imports {name}, which core does not export"
