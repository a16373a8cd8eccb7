"""Reading a log's bytes (plain or gzip) without ever writing to it."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from gdei_cli.errors import InputError


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"broken gzip data: {exc}", path=path) from None
    return data


def logical_suffix(path: Path) -> str:
    """The format suffix of a file name, ignoring a trailing ``.gz``."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def line_of(data: bytes, pos: int) -> int:
    """1-based line number of byte *pos*."""
    return data.count(b"\n", 0, pos) + 1
