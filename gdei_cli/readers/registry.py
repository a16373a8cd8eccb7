"""The format registry: every log format gdei reads, declared by its own module.

Each reader module in :mod:`gdei_cli.readers` declares one :class:`Format`
record named ``FORMAT``: its name, a one-line description, how it recognises a
file, how it reads one, and how its files form runs.  Detection, discovery,
``--input-format``'s choices and help, and the README's format table are all
generated from these records, so a new format is one new module (model:
sqlite-utils' ``Format`` + ``rows_from_file``; TensorBoard's ``discover()``).

Reader modules import only the standard library at module level (numpy,
pandas and pyarrow inside their functions), so this registry loads without
them: ``gdei --help`` reads it.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import json
import os
import pkgutil
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from gdei_cli.readers._io import DEFAULT_MAX_BYTES, open_regular

if TYPE_CHECKING:
    from gdei_cli.readers.base import RawLog

SNIFF_BYTES: Final = 64 * 1024

#: how the files of a format form runs
Grouping = Literal["file", "folder"]


@dataclass(frozen=True)
class ReadOptions:
    """What the user told the readers (``--line-pattern``, ``--max-file-size``)."""

    line_pattern: str | None = None
    #: bytes per file after decompression (see :mod:`gdei_cli.readers._io`)
    max_bytes: int = DEFAULT_MAX_BYTES


class Sniff:
    """What detection may look at in a file: its name and first bytes, read once."""

    def __init__(
        self, path: Path, options: ReadOptions, opener: Callable[[Path], bytes] | None = None
    ) -> None:
        self.path = path
        self.options = options
        self.name = path.name.lower()
        self._opener = opener

    @functools.cached_property
    def suffix(self) -> str:
        """The format suffix, ignoring a trailing ``.gz``."""
        name = self.name[:-3] if self.name.endswith(".gz") else self.name
        dot = name.rfind(".")
        return name[dot:] if dot >= 0 else ""

    @functools.cached_property
    def head(self) -> bytes:
        """The first 64 KB (decompressed for gzip); empty when unreadable."""
        from gdei_cli.errors import InputError

        if self._opener is not None:  # a file elsewhere (a URL): its first bytes
            return _head_of(self._opener(self.path))
        try:
            fd = open_regular(self.path)  # never blocks on a FIFO swapped in
        except InputError:
            return b""
        try:
            data = _read_upto(fd, SNIFF_BYTES)  # (plain reads: a file object costs more)
            if data[:2] != b"\x1f\x8b":
                return data
            os.lseek(fd, 0, os.SEEK_SET)
            with os.fdopen(fd, "rb", closefd=False) as fh, gzip.GzipFile(fileobj=fh) as gz:
                gzipped: bytes = gz.read(SNIFF_BYTES)
                return gzipped
        except (OSError, EOFError, zlib.error):
            return b""
        finally:
            os.close(fd)

    @functools.cached_property
    def text(self) -> str:
        return self.head.decode("utf-8", errors="replace")

    @functools.cached_property
    def header(self) -> list[str]:
        """The first line as CSV fields (whitespace-stripped)."""
        import csv

        # (the first line's bytes decoded alone: what decoding the whole head and
        # splitting it gives, as a line end is never part of a UTF-8 character)
        head = self.head
        end = head.find(b"\n")
        line = head[: end if end >= 0 else len(head)].decode("utf-8", errors="replace")
        line = line.strip("\r\ufeff")
        try:
            return [h.strip() for h in next(csv.reader([line]))]
        except (StopIteration, csv.Error):
            return []

    @functools.cached_property
    def first_record(self) -> dict[str, object] | None:
        """The first line as a JSON object, when the file holds JSON lines."""
        lead = self.head.lstrip()
        lead = lead[3:].lstrip() if lead.startswith(b"\xef\xbb\xbf") else lead
        byte = lead[:1]
        if byte and byte < b"\x80" and byte != b"{" and not byte.decode().isspace():
            return None  # (a CSV header, a text line: told from its first byte, not decoded)
        return record_of(self.text)

    @property
    def is_csv(self) -> bool:
        return self.suffix in (".csv", ".tsv")

    @property
    def is_text(self) -> bool:
        return self.suffix in (".txt", ".log")


def record_of(head: str) -> dict[str, object] | None:
    """The first line of a decoded head as a JSON object (``{}`` for a record too deep
    or cut short), or ``None`` when it is not one."""
    text = head.lstrip("\ufeff").lstrip()
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0].strip()
    if not first.startswith("{"):
        return None
    try:
        obj = json.loads(first, parse_constant=float)
    except RecursionError:
        return {}  # a record, nested too deeply: the reader says so
    except ValueError:
        # a cut first line of a one-line file still starts like a record
        cut = "\n" not in text.strip() and len(first) > 1 and first[1:2] in ('"', " ", "}")
        return {} if cut else None
    return obj if isinstance(obj, dict) else None


def _read_upto(fd: int, n: int) -> bytes:
    """The first *n* bytes of an open file (fewer at its end)."""
    parts = [os.read(fd, n)]
    got = len(parts[0])
    while parts[-1] and got < n:  # (a regular file's read is rarely short of its end)
        parts.append(os.read(fd, n - got))
        got += len(parts[-1])
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _head_of(raw: bytes) -> bytes:
    """The first 64 KB of a file's first bytes, decompressed if they are gzip."""
    if raw[:2] != b"\x1f\x8b":
        return raw[:SNIFF_BYTES]
    try:
        return zlib.decompressobj(wbits=31).decompress(raw, SNIFF_BYTES)
    except zlib.error:
        return b""


@dataclass(frozen=True)
class Source:
    """One run to read: its name, format, files, and the file or folder it is."""

    run: str
    format: str
    paths: tuple[Path, ...]
    where: Path


@dataclass(slots=True)
class ReadRun:
    """A run's source and the logs read from it (one per file, in file order)."""

    source: Source
    logs: list[RawLog]


@dataclass(frozen=True)
class Format:
    """One log format.

    * ``recognise(sniff)``: is this file of this format? Checked in ``order``
      (lower first; the generic formats come last).
    * ``read(path, options)``: the file's points, a :class:`RawLog` (a file
      holding several runs side by side, as a W&B chart export, gives
      ``RawLog.subruns`` instead).
    * ``grouping``: ``"file"`` (each file is a run) or ``"folder"`` (the
      files that ``run_folder`` maps to one folder are one run).
    * ``walk(folder, names)``: a discovery hook: ``None`` to walk on as usual,
      or the files to take from *folder* (and not descend further); *names*:
      what the folder's listing holds, so most folders are told apart without
      asking the file system again.
    * ``join(runs)``: an assembly hook: merge runs that are parts of another
      (TensorBoard's ``add_scalars``/``add_hparams`` sub-folders).
    * ``generic_names``: file stems this format writes under a fixed name, so
      the run is named by its folder.
    * ``side_files(path)``: the files besides the log itself that ``read``
      may open (``hparams.yaml``, an MLflow run's params): a run read from a
      URL is copied with them.
    * ``read_many(paths, options)``: many small files read at once, each as
      ``read`` reads it, or ``None`` for a file ``read`` must take (a format
      whose per-file cost is mostly a fixed cost per call).
    """

    name: str
    description: str
    read: Callable[[Path, ReadOptions], RawLog]
    recognise: Callable[[Sniff], bool]
    order: int = 50
    grouping: Grouping = "file"
    run_folder: Callable[[Path], Path] | None = None
    walk: Callable[[Path, frozenset[str]], Sequence[Path] | None] | None = None
    join: Callable[[list[ReadRun]], list[ReadRun]] | None = None
    generic_names: frozenset[str] = field(default_factory=frozenset)
    run_doc: str = "the file"
    metric_doc: str = "a training loss"
    skip_names: frozenset[str] = field(default_factory=frozenset)
    side_files: Callable[[Path], Sequence[Path]] | None = None
    read_many: Callable[[Sequence[Path], ReadOptions], list[RawLog | None]] | None = None

    def folder_of(self, path: Path) -> Path:
        """The folder a file of a folder-grouped format belongs to."""
        return self.run_folder(path) if self.run_folder is not None else path.parent


@functools.cache
def formats() -> tuple[Format, ...]:
    """Every registered format, in detection order (imports the reader modules)."""
    import gdei_cli.readers as package

    found: list[Format] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in ("registry", "base"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        record = getattr(module, "FORMAT", None)
        if isinstance(record, Format):
            found.append(record)
    names = [f.name for f in found]
    if len(set(names)) != len(names):
        raise RuntimeError(f"two reader modules declare one format name: {sorted(names)}")
    return tuple(sorted(found, key=lambda f: (f.order, f.name)))


def names() -> list[str]:
    return sorted(f.name for f in formats())


def get(name: str) -> Format:
    for f in formats():
        if f.name == name:
            return f
    raise KeyError(name)


def detect(
    path: Path, options: ReadOptions | None = None, opener: Callable[[Path], bytes] | None = None
) -> tuple[Format | None, str]:
    """The format of *path* (by name, header and first bytes), or ``None`` and why not
    (*opener*: where the first bytes come from when not from *path* itself)."""
    from gdei_cli.columns import export_kind

    sniff = Sniff(path, options or ReadOptions(), opener)
    if sniff.is_csv and (kind := export_kind(sniff.header)) is not None:
        return None, f"a gdei {kind} export, not a log"
    for fmt in formats():
        if fmt.recognise(sniff):
            return fmt, fmt.description
    if sniff.suffix == ".json":
        return None, "a JSON document, not JSON lines"
    if sniff.is_text:
        return None, "text without step/value lines"
    return None, "not a recognised log format"


def help_text() -> str:
    """``--input-format``'s help: every format with its one-line description."""
    return "Read every file as this format instead of guessing: " + "; ".join(
        f"{f.name} ({f.description})" for f in sorted(formats(), key=lambda f: f.name)
    )


def markdown_table() -> str:
    """The README's table of formats."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| format | what | run | default metric |", "|---|---|---|---|"]
    for f in formats():
        rows.append(
            f"| `{f.name}` | {cell(f.description)} | {cell(f.run_doc)} | {cell(f.metric_doc)} |"
        )
    return "\n".join(rows) + "\n"
