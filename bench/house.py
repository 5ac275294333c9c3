"""``python -m bench.house``: how the code is built, measured (issue 25): the largest module and function, modules
over 400 lines and functions over 60, import circles among ``core``'s modules (with and without the imports made
inside functions), and the imports made inside functions in ``core`` (and how many say why, in a comment).

It reads the source with ``ast`` (nothing is imported) and prints ``name: value`` lines; ``--list`` names each
offender."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def imported(node: ast.AST, here: str, is_package: bool) -> list[str]:
    """The ``core`` modules an import statement names (relative ones resolved against ``here``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = here.split(".")
        base = base if is_package else base[:-1]
        base = base[:len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    # "from . import jobs" names a module; "from .jobs import JobQueue" names jobs.
    return [f"{module}.{alias.name}" for alias in node.names] + [module]


def import_graph(paths: list[Path], inside_functions: bool) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        local = {id(n) for f in functions(tree) for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and
                       "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in typing_only:
                continue
            if (id(node) in local and not inside_functions) or getattr(node, "module", None) == "__future__":
                continue
            for target in imported(node, name, path.name == "__init__.py"):
                if target in modules and target != name and not (path.name == "__init__.py" and
                                                                  target.startswith(name + ".")):
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def local_imports(paths: list[Path]) -> tuple[list[str], list[str], list[str]]:
    """Imports inside functions in these files: all of them, those of the project's own modules (a relative
    import: a circle hidden, or an order of loading worked around), and the others (a library deferred) with no
    comment on their line or the one above saying why."""
    every, own, silent = [], [], []
    for path in paths:
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        for function in functions(tree):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno > function.lineno:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    every.append(where)
                    said = "#" in lines[node.lineno - 1] or lines[node.lineno - 2].strip().startswith("#")
                    if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("core")):
                        own.append(where)
                    elif not said:
                        silent.append(where)
    return sorted(set(every)), sorted(set(own)), sorted(set(silent))


def package_pairs(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of core's subpackages (or top-level modules) that import each other, counting every import."""
    def part(module: str) -> str:
        return module.split(".")[1] if module.count(".") else module

    edges = {(part(a), part(b)) for a, targets in graph.items() for b in targets
             if a.startswith("core.") and b.startswith("core.") and part(a) != part(b)}
    return sorted((a, b) for a, b in edges if a < b and (b, a) in edges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="name every offender")
    args = parser.parse_args()
    core = python_files("core")
    everything = python_files("core", "ui", "pages") + [ROOT / "dashboard.py", ROOT / "app.py"]
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in everything}
    long_functions = {}
    for path in everything:
        for f in functions(ast.parse(path.read_text(), filename=str(path))):
            long_functions[f"{path.relative_to(ROOT)}:{f.lineno} {f.name}"] = f.end_lineno - f.lineno + 1
    big = {k: v for k, v in sizes.items() if v > MAX_MODULE_LINES}
    long = {k: v for k, v in long_functions.items() if v > MAX_FUNCTION_LINES}
    top_level, with_local = circles(import_graph(core, False)), circles(import_graph(core, True))
    every, own, silent = local_imports(core)
    pairs = package_pairs(import_graph(core, True))
    print(f"core_modules: {len(core)}")
    print(f"core_packages: {sum(p.name == '__init__.py' for p in core)}")
    print(f"core_top_level_modules: {sum(p.parent == ROOT / 'core' for p in core)}")
    print(f"largest_page_lines: {max(v for k, v in sizes.items() if k.startswith('pages/'))}")
    print(f"largest_module_lines: {max(sizes.values())}")
    print(f"modules_over_{MAX_MODULE_LINES}_lines: {len(big)}")
    print(f"largest_function_lines: {max(long_functions.values())}")
    print(f"functions_over_{MAX_FUNCTION_LINES}_lines: {len(long)}")
    print(f"import_circles_top_level: {len(top_level)}")
    print(f"import_circles_with_function_imports: {len(with_local)}")
    print(f"core_subpackage_pairs_importing_each_other: {len(pairs)}")
    print(f"core_function_local_imports: {len(every)}")
    print(f"core_function_local_imports_of_core_modules: {len(own)}")
    print(f"core_function_local_library_imports_without_a_comment: {len(silent)}")
    if args.list:
        for name, lines in sorted(big.items(), key=lambda kv: -kv[1]):
            print(f"  module {name}: {lines} lines")
        for name, lines in sorted(long.items(), key=lambda kv: -kv[1]):
            print(f"  function {name}: {lines} lines")
        for circle in top_level:
            print(f"  circle (top level): {' <-> '.join(circle)}")
        for circle in with_local:
            print(f"  circle (with function imports): {' <-> '.join(circle)}")
        for a, b in pairs:
            print(f"  subpackages importing each other: {a} <-> {b}")
        for where in own:
            print(f"  a core module imported inside a function: {where}")
        for where in silent:
            print(f"  a library imported inside a function, without a comment: {where}")


if __name__ == "__main__":
    main()
