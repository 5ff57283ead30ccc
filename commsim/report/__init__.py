"""Everything a run leaves behind: terminal tables, ``results.json``/``.csv`` records, comparisons,
plots (matplotlib, imported lazily), Chrome/Perfetto traces and message exports, progress bars.
Reads results; never simulates."""
