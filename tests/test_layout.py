"""The layout the README promises: core's subpackages are layers, each importing only those below it; core never
imports streamlit; pages and ui use core's public surface; no function imports the project's own modules. The
contracts are pyproject.toml's [tool.importlinter], checked by lint-imports here and in CI."""

import ast
import subprocess
import sys
from pathlib import Path

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
    assert top == ["__init__", "__main__", "errors", "timefmt", "wording"]  # the bottom layer
    packages = sorted(p.parent.name for p in (ROOT / "core").glob("*/__init__.py"))
    assert packages == ["analytics", "cli", "config", "execution", "generation", "history", "hooks", "judging", "models",
                        "people", "team", "web"]
    for package in packages:  # each says what it holds, and names every module it holds
        doc = ast.get_docstring(ast.parse((ROOT / "core" / package / "__init__.py").read_text())) or ""
        if package == "cli":
            continue
        for module in (ROOT / "core" / package).glob("*.py"):
            if module.stem != "__init__":
                assert f"``{module.stem}``" in doc, f"core/{package}/__init__.py does not name {module.stem}"


def test_the_import_contracts_are_kept():
    """Layers (exhaustive: a new subpackage must be placed), the public surface, no streamlit in core, pages apart."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def test_the_layers_contract_names_every_subpackage_of_core():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["id"] == "layers"]
    named = {m.strip() for layer in layers["layers"] for m in layer.split("|")}
    present = {p.parent.name for p in (ROOT / "core").glob("*/__init__.py")} | {"errors", "timefmt", "wording"}
    assert named == present and layers["exhaustive"] is True


@pytest.mark.parametrize("path", sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "ui").glob("*.py"),
                                         *(ROOT / "pages").glob("*.py"), ROOT / "dashboard.py", ROOT / "app.py"]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_imports_the_projects_own_modules(path):
    """Heavy libraries may load on first use inside a function; the project's own modules are imported at the top,
    where the contracts see them."""
    own = {"core", "ui", "pages", "dashboard", "app"}
    for function in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level or (node.module or "").split(".")[0] in own), \
                    f"{path.name}:{node.lineno} {function.name}() imports {ast.unparse(node)}"
            elif isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] in own for a in node.names), \
                    f"{path.name}:{node.lineno} {function.name}() imports {ast.unparse(node)}"


def test_every_test_the_inner_loop_leaves_out_by_name_exists():
    """A renamed test would silently come back into the inner loop (or a typo mark nothing)."""
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text())
    (listed,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", "") == "SLOW_TESTS" for t in node.targets)]
    for entry in ast.literal_eval(listed):
        file, name = entry.split("::")
        assert f"def {name}(" in (ROOT / "tests" / file).read_text(), f"{entry} names no test"
