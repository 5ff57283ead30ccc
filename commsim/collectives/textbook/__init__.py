"""The textbook algorithms, one module per family, each registering its algorithms on import, written once
as its schedule: the three textbook patterns first (all-to-all, parameter server, ring), the rest in
module-name order."""

import importlib
import pkgutil

_FIRST = ("all_to_all", "parameter_server", "ring")
for _name in [*_FIRST, *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _FIRST)]:
    importlib.import_module(f"{__name__}.{_name}")
