"""gdei: find where finished training runs should have stopped.

The library is usable without the CLI::

    from gdei_cli import analyze, load

    data = load(["sample_logs/"])
    result = analyze(data.frame)
    print(result.summary[["run", "stop_step", "waste_pct", "verdict"]])

Names are imported lazily, so importing the package (and ``gdei --help``) does
not pay for pandas.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Arrow's allocator (mimalloc) commits its arenas eagerly by default.  With that
# off, a 1M-point CSV or JSON-lines load peaked 7-28% lower, at the same speed
# (benchmarks/README.md), and pyarrow's own reads in the same process are no slower.
# mimalloc reads this when Arrow first allocates, so it is set here, before anything
# imports pyarrow (a program that used pyarrow before importing gdei_cli keeps the
# default); a value the user set is kept.  (MIMALLOC_PURGE_DELAY=0, freed memory
# handed back at once, is not set: it lowered a CSV load's peak by 15-20%, but made
# every other Arrow read in the process 40-60% slower.)
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")

_EXPORTS = {
    "Analysis": "gdei_cli.engine",
    "Config": "gdei_cli.engine",
    "Costs": "gdei_cli.engine",
    "Span": "gdei_cli.engine",
    "analyze": "gdei_cli.engine",
    "Dataset": "gdei_cli.loader",
    "load": "gdei_cli.loader",
    "GdeiError": "gdei_cli.errors",
    "InputError": "gdei_cli.errors",
    "MetricNotFoundError": "gdei_cli.errors",
    "UsageError": "gdei_cli.errors",
}

__all__ = [*sorted(_EXPORTS), "__version__"]

if TYPE_CHECKING:
    from gdei_cli.engine import Analysis as Analysis
    from gdei_cli.engine import Config as Config
    from gdei_cli.engine import Costs as Costs
    from gdei_cli.engine import Span as Span
    from gdei_cli.engine import analyze as analyze
    from gdei_cli.errors import GdeiError as GdeiError
    from gdei_cli.errors import InputError as InputError
    from gdei_cli.errors import MetricNotFoundError as MetricNotFoundError
    from gdei_cli.errors import UsageError as UsageError
    from gdei_cli.loader import Dataset as Dataset
    from gdei_cli.loader import load as load


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gdei_cli' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
