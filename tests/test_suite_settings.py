"""The suite's own settings: no hypothesis test can fail for the machine's speed."""

import importlib
from pathlib import Path


def test_no_hypothesis_test_has_a_deadline():
    """Every @given test runs without a per-example deadline (conftest's profile), so a loaded 2-core
    machine cannot turn a slow example into a failure; speed targets live in benchmarks/."""
    checked = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        module = importlib.import_module(path.stem)
        for name, test in vars(module).items():
            settings = getattr(test, "_hypothesis_internal_use_settings", None)
            if name.startswith("test_") and settings is not None:
                checked.append(name)
                assert settings.deadline is None, f"{path.name}::{name} has a {settings.deadline} deadline"
    assert len(checked) >= 40
