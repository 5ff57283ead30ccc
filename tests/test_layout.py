"""The package's imports flow one way: no module imports (at top level) one that imports it back."""

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).parent.parent


def _imports(package: str) -> nx.DiGraph:
    """Module -> the modules of the project it imports at top level (relative or absolute)."""
    graph = nx.DiGraph()
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        here = module if parts[-1] == "__init__" else module.rpartition(".")[0]
        graph.add_node(module)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1]) if node.level else ""
                target = ".".join(part for part in (base, node.module or "") if part)
                names = [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                target, names = "", [alias.name for alias in node.names]
            else:
                continue
            for name in [target, *names]:
                if name.split(".")[0] in ("commsim", "optim") and name != module:
                    graph.add_edge(module, name)
    return graph


def test_no_import_circles_between_modules():
    """Leaving out package __init__ files (which gather their submodules), the imports form no cycle."""
    graph = _imports("commsim")
    graph.remove_nodes_from([node for node in list(graph) if (ROOT / node.replace(".", "/") / "__init__.py").exists()])
    assert list(nx.simple_cycles(graph)) == []


def test_optim_never_imports_commsim():
    """optim is pure maths: numpy only."""
    assert not [edge for edge in _imports("optim").edges if edge[1].startswith("commsim")]
