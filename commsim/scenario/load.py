"""Reading a scenario: from a file (through ``scenario_file``), a bundled name or parsed data; every error one
line naming the file, the key and the value."""

from __future__ import annotations

import itertools
import os
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from .. import scenario_file, units
from ..errors import ScenarioError, shown
from .model import ExperimentScenario, Scenario
from .values import DEFAULT_SCENARIO, _close


def _models_in(annotation: Any) -> list[Any]:
    """The types an annotation stands for: ``X | None``, ``Annotated[X, ...]`` unwrapped."""
    import typing

    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return [kind for arg in typing.get_args(annotation) for kind in _models_in(arg)]
    return [annotation]


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (a pydantic error location inside ``model``) may hold: its model's fields."""
    import typing

    kinds: list[Any] = [model]
    for step in loc:
        inner = []
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                field = kind.model_fields.get(step) if isinstance(step, str) else None
                inner += _models_in(field.annotation) if field is not None else []
            elif typing.get_origin(kind) in (list, tuple, dict) and typing.get_args(kind):
                inner += _models_in(typing.get_args(kind)[-1])  # items of a list, values of a mapping
        kinds = inner
    return [name for kind in kinds if isinstance(kind, type) and issubclass(kind, BaseModel) for name in kind.model_fields]


MAX_MESSAGE = 240  # characters of an error after the file name; a longer one has a long value echoed in it



def _bounded(message: str) -> str:
    """``message`` cut to ``MAX_MESSAGE`` characters in the middle, where a long echoed value sits, so the
    key it starts with and what it ends with (the known names, the fix) stay."""
    if len(message) <= MAX_MESSAGE:
        return message
    head = (MAX_MESSAGE - 1) * 2 // 3
    return message[:head] + "…" + message[len(message) - (MAX_MESSAGE - 1 - head):]


def _describe(error: ValidationError, source: str, model: type[BaseModel]) -> str:
    """The first pydantic error as one line: file: key: message (got value). An unknown key comes first,
    with the known key it is closest to: a misspelt required key is also reported missing, and the
    misspelling is what to fix."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a whole-scenario check: its message starts with the key
        return f"{source}: {_bounded(message)}"
    key = ".".join(shown(part, 30, quote=False) for part in first["loc"])
    if message.startswith((f"{key}.", f"{key}:")):  # a section's own check names the key inside it
        return f"{source}: {_bounded(message)}"
    if first["type"] == "extra_forbidden":
        message = "unknown key" + _close(first["loc"][-1], _fields_at(model, first["loc"][:-1]))
    got = first.get("input")
    echoed_already = (isinstance(got, str) and len(got) > 20 and repr(got)[:20] in message  # a long value, once
                      or f"got {shown(got)}" in message)
    echoed = "" if isinstance(got, (dict, list)) or got is None or echoed_already else f" (got {shown(got)})"
    return f"{source}: {_bounded(f'{key}: {message}{echoed}')}"


def _check_top_level(data: dict[Any, Any], model: type[BaseModel], source: str) -> None:
    """An unknown top-level key is named, with the known key it is closest to (``algoritms``: did you mean
    'algorithms'?), before anything else: else a misspelt required key reads as a missing one. A scenario
    without ``experiment`` may have misspelt that key, so it is among the suggestions."""
    for key, value in data.items():
        if key not in model.model_fields:
            known = [*model.model_fields, *(["experiment"] if model is Scenario else [])]
            echoed = "" if isinstance(value, (dict, list)) or value is None else f" (got {shown(value)})"
            raise ScenarioError(f"{source}: {shown(key, 40, quote=False)}: unknown key{_close(key, known)}{echoed}")


def parse(data: Any, source: str = "<scenario>", budget: bool = True) -> Scenario | ExperimentScenario:
    """Validate an already-loaded mapping (an ``experiment`` key makes it an experiment); ``budget=False``
    skips the budget, for a scenario read back from the results it produced."""
    if data is None:
        raise ScenarioError(f"{source}: is empty; a scenario is a mapping of keys (name, workers, topology, ...)")
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of keys, got {type(data).__name__}")
    model = ExperimentScenario if "experiment" in data else Scenario
    _check_top_level(data, model, source)
    try:
        return model.model_validate(data, context={"budget": budget})
    except ValidationError as error:
        raise ScenarioError(_describe(error, source, model)) from None


def _check_units_written(data: Any, source: str) -> None:
    """A link's bandwidth or latency written as a bare number where that is surely a missing unit is refused
    (:func:`commsim.units.check_bare_bandwidth`, :func:`~commsim.units.check_bare_latency`): every key ending
    in ``bandwidth`` or ``latency`` in ``topology``, ``topologies`` and ``stragglers``, each value of a sweep
    list and each end and step of a range. Only what a person wrote: results read back hold SI numbers."""
    if not isinstance(data, dict):
        return
    for key in ("topology", "topologies", "stragglers"):
        if key in data:
            _check_units_below(data[key], (key,), source)


def _check_units_below(value: Any, path: tuple[Any, ...], source: str) -> None:
    """:func:`_check_units_written` for ``value``, found at ``path`` (named in the error)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_units_below(item, (*path, index), source)
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        name = str(key)
        check = (units.check_bare_bandwidth if name.endswith("bandwidth") else
                 units.check_bare_latency if name.endswith("latency") else None)
        if check is None:
            _check_units_below(item, (*path, key), source)
            continue
        written = (enumerate(item) if isinstance(item, list) else
                   ((end, item[end]) for end in ("from", "to", "step") if end in item) if isinstance(item, dict) else
                   [(None, item)])
        for step, one in written:
            try:
                check(one)
            except units.UnitError as error:
                where = ".".join(shown(part, 30, quote=False) for part in (*path, key, *([] if step is None else [step])))
                raise ScenarioError(f"{source}: {where}: {error}") from None


def load_bundled(name: str = DEFAULT_SCENARIO) -> Scenario | ExperimentScenario:
    """A scenario shipped inside the package (``commsim.scenarios``)."""
    folder = resources.files("commsim.scenarios")
    source = f"<bundled {name}>"
    data = scenario_file.parse_yaml((folder / name).read_text(encoding="utf-8"), source)
    _check_units_written(data, source)
    return parse(_paths_beside(data, Path(str(folder))), source)


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
    _check_units_written(data, source)
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
    workload = data.get("workload")
    if isinstance(workload, dict) and isinstance(workload.get("layers"), str) and not Path(workload["layers"]).is_absolute():
        workload["layers"] = str(folder / workload["layers"])
    algorithms = data.get("algorithms")
    for entry in algorithms if isinstance(algorithms, list) else [algorithms]:
        if isinstance(entry, dict) and isinstance(entry.get("schedule"), str) and not Path(entry["schedule"]).is_absolute():
            entry["schedule"] = str(folder / entry["schedule"])
    return data

