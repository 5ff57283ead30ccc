"""The files commsim writes: their places checked before any work, each written whole or not at all, and
the files an earlier run wrote into the same directory removed before a new run's are written.

A directory commsim writes into holds ``MANIFEST``, the names of the files the last run put there; only
those are ever removed, never a file commsim did not write.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..errors import CommsimError, shown

MANIFEST = ".commsim-outputs"

Writer = Callable[[Path], None]


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists (the current directory at worst)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path.cwd()


def _probe(directory: Path, flag: str, target: Path) -> None:
    """Create and remove a directory in ``directory``: the only test of writing that holds for root and
    read-only file systems alike."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".commsim-probe-", dir=directory))
    except OSError as error:
        raise CommsimError(f"{flag}: cannot write in {directory} ({error.strerror or error}), so not {target}") from None


def check_directory(path: Path, flag: str = "--out") -> None:
    """Refuse, before any work, an output directory that is a file, lies under a file, or cannot be written."""
    try:
        existing = _nearest_existing(path.absolute())
        if existing == path.absolute() and not existing.is_dir():
            raise CommsimError(f"{flag}: {path} exists and is not a directory")
        if not existing.is_dir():
            raise CommsimError(f"{flag}: {existing} is not a directory, so {path} cannot be one")
    except OSError as error:  # a name too long, a loop of links, ...
        raise CommsimError(f"{flag}: {shown(str(path), 80, quote=False, tail=True)}: {error.strerror or error}") from None
    _probe(existing, flag, path)


def check_file(path: Path, flag: str) -> None:
    """Refuse, before any work, an output file that is a directory or whose directory does not exist or
    cannot be written."""
    try:
        if path.is_dir():
            raise CommsimError(f"{flag}: {path} is a directory, not a file")
        folder = path.absolute().parent
        if not folder.is_dir():
            raise CommsimError(f"{flag}: {path.parent} is not a directory")
    except OSError as error:
        raise CommsimError(f"{flag}: {shown(str(path), 80, quote=False, tail=True)}: {error.strerror or error}") from None
    _probe(folder, flag, path)


def write_atomically(files: Mapping[Path, str | Writer]) -> list[Path]:
    """Write every file (text, or a function that writes the path it is given) to a hidden temporary beside
    it, then rename them all into place: each file appears whole or not at all, and on any error or
    Ctrl-C no temporary is left behind."""
    temporaries: dict[Path, Path] = {}
    mode = 0o666 & ~_umask()
    try:
        for path, content in files.items():
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
            temporary = temporaries[path] = Path(name)
            os.fchmod(handle, mode)  # as open() would make it, not mkstemp's 0o600
            if isinstance(content, str):
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(content)
            else:
                os.close(handle)
                content(temporary)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
    return list(files)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomically(path: Path, text: str) -> Path:
    """``text`` into ``path``, whole or not at all (see :func:`write_atomically`)."""
    return write_atomically({path: text})[0]


def _listed(directory: Path) -> list[str]:
    try:
        names = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [name for name in names if isinstance(name, str) and name and "/" not in name and name not in (".", "..")] \
        if isinstance(names, list) else []


REPLACED = ("results.json", "results.csv", "validation.csv")
"""Files a new run replaces whole (atomically) anyway: they stay until then, so a run cut short by Ctrl-C
leaves the earlier results whole rather than none."""


def clear_stale(directory: Path, keep: Iterable[str] = ()) -> None:
    """Remove the files the last run listed in ``directory``'s manifest (but ``REPLACED`` and ``keep``), so a
    new run's results never sit beside an older run's plots."""
    kept = {*REPLACED, *keep}
    for name in _listed(directory):
        path = directory / name
        if name not in kept and path.is_file() and not path.is_symlink():
            path.unlink()
    remaining = [name for name in _listed(directory) if name in kept]
    if (directory / MANIFEST).exists():
        write_text_atomically(directory / MANIFEST, json.dumps(remaining) + "\n")


def remember(directory: Path, paths: Iterable[Path]) -> None:
    """Add the files just written into ``directory`` to its manifest (files elsewhere are not its)."""
    names = _listed(directory)
    for path in paths:
        if path.parent.absolute() == directory.absolute() and path.name not in names:
            names.append(path.name)
    write_text_atomically(directory / MANIFEST, json.dumps(names) + "\n")
