"""The package's layering, checked from the source with ``ast`` (imports inside functions included).

Each first-level part of ``stsg_bench`` (a module or a subpackage) sits on one floor; a part may import
only parts on its own floor or below, and no two modules may import each other, directly or through
others. The floors are the code map in the README.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stsg_bench"

#: floor -> first-level parts, ground floor first (keep in step with the README's code map)
LAYERS: list[tuple[str, ...]] = [
    (
        "__init__",
        "errors",
        "plugins",
        "grid",
        "cf",
        "files",
        "threads",
        "progress",
        "kernels",
        "provenance",
        "configs",
        "resources",
    ),  # ground floor: errors, grid, files, the CPU thread policy and kernel mode
    ("case", "composites", "gaps"),  # the fusion-case data model, simulated gaps
    ("io",),  # readers of real formats (plug-ins), lazy cases and products
    ("twin",),  # the synthetic world (writes ISMN files with io)
    ("fusion",),  # the DrcGAN core
    ("methods",),  # every method behind one interface (DrcGAN wraps fusion)
    ("validation",),  # matching, metrics, the one evaluation loop
    ("cards",),  # dataset cards -> case bundles (readers, twin, validation settings)
    ("reports",),  # tables, figures, index.html, the accuracy gate
    ("workflows",),  # demo / run / fuse / train / score / scale
    ("cli",),  # argument parsing only
]
FLOOR = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in its body)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "stsg_bench":
                    continue
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files]
                targets.update(subs or [target])
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == "stsg_bench")
        graph[mod] = {t for t in targets if t != mod}
    return graph


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first = last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_part_has_a_floor():
    parts = {part_of(m) for m in import_graph()}
    assert parts <= set(FLOOR), f"place these parts on a floor in LAYERS (and the README): {sorted(parts - set(FLOOR))}"


def test_no_import_cycle_between_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycle_between_first_level_parts():
    parts: dict[str, set[str]] = {}
    for mod, targets in import_graph().items():
        parts.setdefault(part_of(mod), set()).update(part_of(t) for t in targets if part_of(t) != part_of(mod))
    cycle = find_cycle(parts)
    assert cycle is None, "cycle between parts: " + " -> ".join(cycle or [])


def test_imports_go_down_only():
    upward = sorted(
        f"{mod} ({part_of(mod)}, floor {FLOOR[part_of(mod)]}) imports {t} ({part_of(t)}, floor {FLOOR[part_of(t)]})"
        for mod, targets in import_graph().items()
        for t in targets
        if FLOOR.get(part_of(t), -1) > FLOOR.get(part_of(mod), 99)
    )
    assert not upward, "imports that go up a floor:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    "graph, cycle",
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
    ],
)
def test_cycle_finder_itself(graph, cycle):
    assert (find_cycle(graph) is not None) == cycle


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The graph includes function-level imports (the old cycles hid there)."""
    graph = import_graph()
    assert "stsg_bench.reports" in graph["stsg_bench.workflows.chain"]  # imported inside run_chain
