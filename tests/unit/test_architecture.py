"""The house's arrows, checked on the source (CONTRIBUTING.md, *Where things live*):

pages → ui → services / queries → rules → models, db, money; ``api/`` and the command line may
use services and queries, and ``ui/asgi.py`` may mount ``api/``; streamlit only in pages and
``ui/``; fastapi only in ``api/`` (and ``ui/asgi.py``); stripe only in ``payments/``; the read
side never imports a service; and no module imports, through any path, one that imports it.

Imports are read with ``ast`` (those inside functions too), so a test run proves the rules on
every file without importing any of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal_core.settings import ROOT

PACKAGE = "portal_core"


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    files = [*sorted((ROOT / PACKAGE).rglob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
    files.append(ROOT / "Home.py")
    return {_module_name(path): path for path in files}


SOURCES = _sources()


def _imports(module: str, path: Path) -> Iterator[str]:
    """Every module ``module`` imports: ``from a import b`` names ``a.b`` when ``a.b`` is a
    module of ours, else ``a``; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in SOURCES else base


IMPORTS: dict[str, set[str]] = {
    module: set(_imports(module, path)) for module, path in SOURCES.items()
}


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(f"{PACKAGE}.")


def _layer(module: str) -> str:
    if module == "Home" or module.startswith("pages."):
        return "pages"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("ui", "api", "services", "queries", "rules"):
        return parts[1]
    if module == f"{PACKAGE}.__main__":
        return "command line"
    return "core"  # models, db, money, errors, facts, settings, payments, documents, mail…


# Which layers each layer may import (its own included).
ALLOWED: dict[str, set[str]] = {
    "pages": {"pages", "ui", "services", "queries", "rules", "core"},
    "ui": {"ui", "services", "queries", "rules", "core"},
    "command line": {"services", "queries", "rules", "core"},
    "api": {"api", "services", "queries", "rules", "core"},
    "services": {"services", "queries", "rules", "core"},
    "queries": {"queries", "rules", "core"},
    "rules": {"rules", "core"},
    "core": {"core", "queries", "rules"},
}
# What sits in "core" but reads: documents print what queries read; nothing else may.
CORE_READERS = (f"{PACKAGE}.documents",)


def _violations() -> list[str]:
    found = []
    for module, imported in IMPORTS.items():
        layer = _layer(module)
        for name in sorted(filter(_ours, imported)):
            target = _layer(name)
            allowed = ALLOWED[layer]
            if layer == "core" and target in ("queries", "rules"):
                allowed = allowed if module.startswith(CORE_READERS) else {"core"}
            if module == f"{PACKAGE}.ui.asgi" and target == "api":
                continue  # the one place that mounts the API in the portal's ASGI app
            if target not in allowed:
                found.append(f"{module} ({layer}) imports {name} ({target})")
    return found


def test_every_import_points_inward() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("library", "may_use"),
    [
        ("streamlit", lambda module: _layer(module) in ("pages", "ui")),
        (
            "fastapi",
            lambda module: _layer(module) == "api" or module == f"{PACKAGE}.ui.asgi",
        ),
        ("stripe", lambda module: module.startswith(f"{PACKAGE}.payments.")),
    ],
    ids=["streamlit", "fastapi", "stripe"],
)
def test_each_outside_library_stays_in_its_layer(library, may_use) -> None:
    users = sorted(
        module
        for module, imported in IMPORTS.items()
        if any(name == library or name.startswith(f"{library}.") for name in imported)
    )
    assert users, f"nothing imports {library}: the rule checks nothing"
    assert [module for module in users if not may_use(module)] == []


def test_no_module_imports_itself_through_others() -> None:
    graph = {
        module: {name for name in imported if name in SOURCES and name != module}
        for module, imported in IMPORTS.items()
    }
    cycles = _cycles(graph)
    assert cycles == []


def test_the_checks_see_the_whole_portal() -> None:
    assert f"{PACKAGE}.services.payments.settlement" in SOURCES
    assert f"{PACKAGE}.services.ledger" in IMPORTS[f"{PACKAGE}.services.payments.settlement"]
    assert len(SOURCES) > 100


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
