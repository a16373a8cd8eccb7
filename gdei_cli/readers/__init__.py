"""Readers: one module per log format, each declaring its :class:`~.registry.Format`.

:func:`detect_format` guesses a file's format from the registry (by name,
header or content); an explicit ``--input-format`` overrides it.  Importing
this package loads no heavy library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gdei_cli.readers.registry import Format, ReadOptions, detect, formats, get, names

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

__all__ = ["Format", "ReadOptions", "detect_format", "formats", "get", "names", "reader_for"]


def detect_format(path: Path, options: ReadOptions | None = None) -> tuple[str | None, str]:
    """``(format name, reason)``, or ``(None, why not)`` when gdei does not read *path*."""
    fmt, reason = detect(path, options)
    return (fmt.name if fmt is not None else None), reason


def reader_for(name: str, options: ReadOptions | None = None) -> Callable[[Path], RawLog]:
    """The read function of format *name*, with the user's read options bound."""
    fmt = get(name)
    opts = options or ReadOptions()

    def read(path: Path) -> RawLog:
        return fmt.read(path, opts)

    return read
