"""The package's imports flow one way: no module imports (at top level) one that imports it back."""

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).parent.parent


def _imports(package: str, anywhere: bool = False) -> nx.DiGraph:
    """Module -> the modules of the project it imports at top level (relative or absolute); with
    ``anywhere``, also the imports inside functions (lazy ones)."""
    graph = nx.DiGraph()
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        here = module if parts[-1] == "__init__" else module.rpartition(".")[0]
        graph.add_node(module)
        tree = ast.parse(path.read_text())
        for node in (ast.walk(tree) if anywhere else tree.body):
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


# The layers, as README's layout table states them: what each part of commsim may import.
LOWER = ("commsim.errors", "commsim.units")
MAY_IMPORT = {
    "commsim.errors": (),
    "commsim.units": ("commsim.errors",),
    "commsim.network": LOWER,
    "commsim.collectives": (*LOWER, "commsim.network"),
    "commsim.engines": (*LOWER, "commsim.network", "commsim.collectives"),
    "commsim.training": (*LOWER, "commsim.network", "commsim.collectives", "commsim.engines", "optim"),
    "commsim.scenario_file": LOWER,
    "commsim.budget": (*LOWER, "commsim.network", "commsim.collectives", "commsim.training"),
    "commsim.scenario": (*LOWER, "commsim.scenario_file", "commsim.budget", "commsim.network", "commsim.collectives",
                         "commsim.training", "optim"),
    "commsim.report": (*LOWER, "commsim.network", "commsim.collectives", "commsim.engines", "commsim.scenario"),
    "commsim.runner": (*LOWER, "commsim.network", "commsim.collectives", "commsim.engines", "commsim.training",
                       "commsim.scenario_file", "commsim.scenario", "commsim.report"),
    "commsim.cli": ("commsim", "optim"),
}


def _part(module: str) -> str:
    """The layer a module belongs to: its sub-package (``commsim.network``) or itself (``commsim.scenario``)."""
    return ".".join(module.split(".")[:2])


def test_every_module_belongs_to_a_layer():
    """A new folder or top-level module must be placed in the table above (and in README's)."""
    parts = {_part(module) for module in _imports("commsim") if module.startswith("commsim.")}
    assert parts == set(MAY_IMPORT)


def _upward(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """The imports that go from a part of commsim to one it may not import."""
    return sorted(
        (module, target) for module, target in graph.edges
        if module.startswith("commsim.") and _part(target) != _part(module) and target != "commsim"
        and not any(target == allowed or target.startswith(allowed + ".") for allowed in MAY_IMPORT[_part(module)])
    )


def test_imports_flow_down_the_layers_even_lazily():
    """Every import, including those inside functions, goes from a part to one it may import."""
    assert _upward(_imports("commsim", anywhere=True)) == []


def test_the_layer_check_catches_an_upward_import():
    """The check is not vacuous: the fluid network importing the message engine, or the engines the
    scenario, would be flagged."""
    graph = _imports("commsim", anywhere=True)
    graph.add_edges_from([("commsim.network.fluid", "commsim.engines.message"), ("commsim.engines.message", "commsim.scenario")])
    assert _upward(graph) == [("commsim.engines.message", "commsim.scenario"), ("commsim.network.fluid", "commsim.engines.message")]


def test_nccl_builds_on_the_textbook_collectives_never_the_reverse():
    """``commsim.collectives.nccl`` may use the textbook schedules (``trees``, ``schedule``); no other module
    of ``commsim.collectives`` imports it, even lazily, and it registers no algorithm of its own; the
    algorithms are the sub-package ``textbook``."""
    graph = _imports("commsim", anywhere=True)
    inside = "commsim.collectives.nccl"
    reverse = sorted((module, target) for module, target in graph.edges
                     if module.startswith("commsim.collectives") and not module.startswith(inside) and target.startswith(inside))
    assert reverse == []
    assert any(target.startswith("commsim.collectives.textbook.trees") for _, target in graph.out_edges("commsim.collectives.nccl.tree"))
    text = "\n".join(path.read_text() for path in (ROOT / "commsim/collectives/nccl").glob("*.py"))
    assert "register(" not in text


SCENARIO_SECTIONS = ("values", "names", "network", "training", "workload", "disturbances", "model", "load")
"""``commsim.scenario``'s modules, each importing only those before it (even lazily)."""


def test_the_scenario_sections_import_one_way():
    """``commsim.scenario`` is a package of one module per section, each importing only sections listed
    before it in :data:`SCENARIO_SECTIONS`; the package gathers them."""
    graph = _imports("commsim", anywhere=True)
    package = "commsim.scenario"
    modules = sorted(path.stem for path in (ROOT / "commsim/scenario").glob("*.py") if path.stem != "__init__")
    assert modules == sorted(SCENARIO_SECTIONS)
    backward = [(module, target) for module, target in graph.edges
                if module.startswith(package + ".") and target.startswith(package + ".")
                and SCENARIO_SECTIONS.index(target.split(".")[2]) >= SCENARIO_SECTIONS.index(module.split(".")[2])]
    assert backward == []


def test_the_pipeline_runs_down_plan_engine_record_result():
    """A point flows one way: the runner plans it (``runner.plans``), an engine executes it into a record, the
    runner makes the result (``runner.results``); the engines never import the runner, ``points`` looks the
    engine up (``EXECUTE``) rather than choosing among paths, and no runner module imports ``points``."""
    graph = _imports("commsim", anywhere=True)
    assert not [(m, t) for m, t in graph.edges if m.startswith("commsim.engines") and t.startswith("commsim.runner")]
    assert not [(m, t) for m, t in graph.edges if m.startswith("commsim.runner") and m != "commsim.runner.sweep"
                and t == "commsim.runner.points"]
    text = (ROOT / "commsim/runner/points.py").read_text()
    assert "EXECUTE[engine]" in text and "engine ==" not in text and "scenario.model ==" not in text


def test_benchmarks_import_only_what_exists():
    """Every ``from commsim... import name`` in benchmarks/ (lazy ones too) names a module or attribute
    that exists, so moving a module cannot silently break a benchmark the suite never runs."""
    import importlib
    import importlib.util

    missing = []
    for path in (ROOT / "benchmarks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("commsim", "optim"):
                module = importlib.import_module(node.module)
                missing += [(path.name, node.module, alias.name) for alias in node.names
                            if not hasattr(module, alias.name) and importlib.util.find_spec(f"{node.module}.{alias.name}") is None]
    assert missing == []
