"""The import rule of docs/architecture.md, read from the code with `ast`.

Every module of `src/unimumo` belongs to the layer of its longest declared prefix. A module may import
from its own top-level package or from a lower layer; two packages that share a layer never import each
other (train and eval are siblings); and no group of modules imports itself in a circle (lazy imports
inside functions count: they are still a dependency). The root `unimumo/__init__.py` is the public API
and sits above everything, so it is not checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def declared_layers() -> dict[str, int]:
    """{module prefix: layer} from the `| layer | modules |` table of docs/architecture.md."""
    layers: dict[str, int] = {}
    for line in ARCHITECTURE.read_text().splitlines():
        match = re.match(r"^\|\s*(\d+)\s*\|([^|]+)\|", line)
        if match:
            for name in re.findall(r"`(unimumo[\w.]*)`", match.group(2)):
                layers[name] = int(match.group(1))
    if not layers:
        raise AssertionError(f"{ARCHITECTURE}: no `| layer | modules |` table found")
    return layers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((SRC / "unimumo").rglob("*.py"))}


def imported_modules(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The unimumo modules `path` imports (anywhere in the file), resolved to module names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from unimumo.x import y` imports the module unimumo.x.y when y is one
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t == "unimumo" or t.startswith("unimumo."))
    found.discard(name)
    return found


def layer_of(name: str, layers: dict[str, int]) -> tuple[str, int]:
    candidates = [prefix for prefix in layers if name == prefix or name.startswith(prefix + ".")]
    if not candidates:
        raise AssertionError(f"{name}: not in any layer of docs/architecture.md; add it to the layer table")
    prefix = max(candidates, key=len)
    return prefix, layers[prefix]


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imported_modules(path, name, modules) for name, path in modules.items()}


def test_every_module_has_a_declared_layer():
    layers = declared_layers()
    for name in all_modules():
        if name != "unimumo":
            layer_of(name, layers)


def test_imports_only_go_down():
    layers = declared_layers()
    violations = []
    for name, targets in import_graph().items():
        if name == "unimumo":
            continue
        own_prefix, own_layer = layer_of(name, layers)
        for target in sorted(targets):
            if target == "unimumo":
                violations.append(f"{name} imports the public API package `unimumo`; import the defining module")
                continue
            prefix, layer = layer_of(target, layers)
            if layer > own_layer:
                violations.append(f"{name} (layer {own_layer}) imports {target} (layer {layer})")
            elif layer == own_layer and prefix != own_prefix:
                violations.append(f"{name} ({own_prefix}) imports its sibling {target} ({prefix}) of layer {layer}")
    assert not violations, "imports against docs/architecture.md:\n  " + "\n  ".join(violations)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    graph = {
        name: {t for t in targets if t != "unimumo"} for name, targets in import_graph().items() if name != "unimumo"
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_cycle_finder_finds_cycles(graph, expected):
    assert find_cycle(graph) == expected


def test_module_basenames_are_unique():
    names: dict[str, list[str]] = {}
    for path in (SRC / "unimumo").rglob("*.py"):
        if path.name != "__init__.py":
            names.setdefault(path.name, []).append(str(path.relative_to(SRC)))
    repeated = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not repeated, f"module names used more than once: {repeated}"
