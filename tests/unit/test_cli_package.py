"""The `cunzheng` command line as a package (issue 12, item 4): no import cycle, sub-modules
import nothing private and never the package that imports them, the in-process ledger
(FastAPI's test client) stays out of the production CLI, and every sub-module imports on
its own in a fresh interpreter.

The import graph is read from the source (every `import`, module level or inside a
function, since the old loop ran through imports inside functions)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE = REPO / "service"
CLI = SERVICE / "cli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in the file; `import a.b` gives ("a.b", [])."""
    found: list[tuple[str, list[str]]] = []
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
    return found


def _graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a `from pkg import mod` counts as mod)."""
    modules = {_module_name(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _imports(path):
            for target in [f"{module}.{n}" for n in names] + [module]:
                if target in modules and target != name:
                    graph[name].add(target)
                    break
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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


SUBMODULES = sorted(p for p in CLI.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def test_no_import_cycle_runs_through_the_cli() -> None:
    through_cli = [c for c in _cycles(_graph(SERVICE))
                   if any(m == "service.cli" or m.startswith("service.cli.") for m in c)]
    assert through_cli == []


def test_the_cycle_finder_finds_the_old_cli_loop() -> None:
    """The check above can fail: the old shape (sub-CLIs importing `service.cli`'s private
    helpers inside `register`, `service.cli` importing them at the bottom) is a cycle."""
    graph = {"service.cli": {"service.cli_lending", "service.cli_chain"},
             "service.cli_lending": {"service.cli"}, "service.cli_chain": set()}
    assert _cycles(graph) == [["service.cli", "service.cli_lending"]]


@pytest.mark.parametrize("path", SUBMODULES, ids=lambda p: p.stem)
def test_a_cli_submodule_imports_only_the_public_common_module_of_its_package(path: Path) -> None:
    for module, names in _imports(path):
        assert module != "service.cli", f"{path.name} imports the package that imports it"
        if module.startswith("service.cli."):
            assert module == "service.cli.common", f"{path.name} imports {module}"
        if module.startswith(("service", "anchoring", "lending_core", "dispute")):
            private = [n for n in names if n.startswith("_")]
            assert private == [], f"{path.name} imports private {private} from {module}"


def test_nothing_outside_the_cli_imports_it() -> None:
    """The pages and the bench build cases through `service.cases`, not the CLI."""
    for root in ("service", "anchoring", "lending_core", "dispute", "bench"):
        for path in (REPO / root).rglob("*.py"):
            if CLI in path.parents:
                continue
            for module, _ in _imports(path):
                assert not module.startswith("service.cli"), f"{path} imports {module}"


def test_the_test_client_is_used_only_by_the_in_process_ledger() -> None:
    users = {path.relative_to(REPO).as_posix() for path in SERVICE.rglob("*.py")
             if any(module.startswith(("fastapi.testclient", "starlette.testclient"))
                    for module, _ in _imports(path))}
    assert users == {"service/inprocess.py"}


@pytest.mark.parametrize("module", ["service.cli", *(f"service.cli.{p.stem}" for p in SUBMODULES),
                                    "service.posting", "service.inprocess"])
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_python_m_service_cli_is_the_cunzheng_command() -> None:
    done = subprocess.run([sys.executable, "-m", "service.cli", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("serve", "fsck", "erase", "devnet", "deploy", "demo", "simulate", "verify",
                    "keys", "witness", "loan", "case", "producer-keys"):
        assert f" {command} " in done.stdout
