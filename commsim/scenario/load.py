"""Reading a scenario: from a file (through ``scenario_file``), a bundled name or parsed data; every error one
line naming the file, the key and the value."""

from __future__ import annotations

import itertools
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from .. import scenario_file
from ..errors import ScenarioError
from .model import ExperimentScenario, Scenario
from .values import DEFAULT_SCENARIO
from ..errors import shown


def _describe(error: ValidationError, source: str) -> str:
    """The first pydantic error as one line: file: key: message (got value)."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a whole-scenario check: its message starts with the key
        return f"{source}: {message}"
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    got = first.get("input")
    echoed_already = isinstance(got, str) and len(got) > 20 and repr(got)[:20] in message  # a long value, once
    echoed = "" if isinstance(got, (dict, list)) or got is None or echoed_already else f" (got {shown(got)})"
    return f"{source}: {key}: {message}{echoed}"


def parse(data: Any, source: str = "<scenario>", budget: bool = True) -> Scenario | ExperimentScenario:
    """Validate an already-loaded mapping (an ``experiment`` key makes it an experiment); ``budget=False``
    skips the budget, for a scenario read back from the results it produced."""
    if data is None:
        raise ScenarioError(f"{source}: is empty; a scenario is a mapping of keys (name, workers, topology, ...)")
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of keys, got {type(data).__name__}")
    model = ExperimentScenario if "experiment" in data else Scenario
    try:
        return model.model_validate(data, context={"budget": budget})
    except ValidationError as error:
        raise ScenarioError(_describe(error, source)) from None


def load_bundled(name: str = DEFAULT_SCENARIO) -> Scenario | ExperimentScenario:
    """A scenario shipped inside the package (``commsim.scenarios``)."""
    folder = resources.files("commsim.scenarios")
    data = scenario_file.parse_yaml((folder / name).read_text(encoding="utf-8"), f"<bundled {name}>")
    return parse(_paths_beside(data, Path(str(folder))), f"<bundled {name}>")


def bundled() -> dict[str, str]:
    """The bundled scenarios: name (file stem) -> the first sentence of the comment that opens the file
    (up to a full stop followed by a space and a capital or a digit, or the comment's end)."""
    found = {}
    for entry in sorted(resources.files("commsim.scenarios").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            lines = entry.read_text(encoding="utf-8").splitlines()
            opening = itertools.takewhile(lambda line: line.startswith("#"), itertools.dropwhile(
                lambda line: not line.startswith("#"), lines))
            comment = " ".join(line.lstrip("# ").strip() for line in opening)
            found[entry.name.removesuffix(".yaml")] = re.split(r"(?<=\.)\s+(?=[A-Z0-9])", comment, maxsplit=1)[0]
    return found


def load(path: str | Path | None = None) -> Scenario | ExperimentScenario:
    """Read and validate a scenario file (safe YAML only: :mod:`commsim.scenario_file`); None means the
    bundled default, and a name that is no file but a bundled scenario's (``training``, ``training.yaml``)
    means that one."""
    if path is None:
        return load_bundled()
    name = str(path).removesuffix(".yaml")
    if "/" not in str(path) and not os.path.lexists(path):  # lexists: False, not an error, for a bad name
        if name in bundled():
            return load_bundled(f"{name}.yaml")
        raise ScenarioError(f"{path}: no such file, and no bundled scenario of that name ('commsim list' shows them)")
    source = str(path)
    data = scenario_file.read(Path(path), source)
    return parse(_paths_beside(data, Path(path).parent), source)


def _paths_beside(data: Any, folder: Path) -> Any:
    """Relative ``from_file`` paths in a scenario file mean the scenario's own folder, not the current one."""
    if not isinstance(data, dict):
        return data
    specs = [data.get("topology"), *(data.get("topologies") or [] if isinstance(data.get("topologies"), list) else [])]
    for spec in specs:
        if isinstance(spec, dict) and spec.get("kind") == "from_file" and isinstance(spec.get("path"), str):
            if not Path(spec["path"]).is_absolute():
                spec["path"] = str(folder / spec["path"])
    algorithms = data.get("algorithms")
    for entry in algorithms if isinstance(algorithms, list) else [algorithms]:
        if isinstance(entry, dict) and isinstance(entry.get("schedule"), str) and not Path(entry["schedule"]).is_absolute():
            entry["schedule"] = str(folder / entry["schedule"])
    return data
