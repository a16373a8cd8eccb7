"""Which files are logs, and which logs form which run (for every format alike).

Folders are walked recursively in sorted order; each file's format comes from
the registry; the formats' own declarations say which files form one run
(``grouping``/``run_folder``), where discovery takes only some files from a
folder (``walk``), and which side files are not logs (``skip_names``).  Run
names are the log's path relative to the common root of the inputs; a file
with a generic name (``metrics.csv``, ``log.txt``, ``trainer_state.json``...)
is named by its folder.  No format is named in this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gdei_cli.errors import InputError
from gdei_cli.readers.registry import Format, ReadOptions, Source, detect, formats, get, names

#: file stems that name nothing (the folder names the run), besides the ones
#: formats declare as their own fixed names
GENERIC_STEMS: Final = frozenset(
    {
        "metric",
        "log",
        "logs",
        "history",
        "progress",
        "results",
        "scalars",
        "train",
        "training",
        "training_log",
        "train_log",
        "events",
        "main",
        "output",
        "wandb-history",
        "stats",
    }
)


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def discover(
    paths: Sequence[str | Path],
    fmt: str | None = None,
    *,
    merge_folders: bool = False,
    options: ReadOptions | None = None,
) -> tuple[list[Source], list[SkippedFile]]:
    """Turn input paths into runs to read, and the files passed over while walking."""
    options = options or ReadOptions()
    if fmt is not None and fmt not in names():
        raise InputError(f"unknown input format {fmt!r}; choose one of {', '.join(names())}")
    forced = get(fmt) if fmt is not None else None
    if not paths:
        raise InputError("no input paths given")
    found: list[tuple[Path, Format]] = []
    skipped: list[SkippedFile] = []
    resolved: list[Path] = []
    side = frozenset().union(*(f.skip_names for f in formats()))
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError("no such file or folder", path=path)
        resolved.append(path)
        if path.is_dir():
            for file in _walk(path, side):
                got, reason = (forced, "") if forced else detect(file, options)
                if got is None:
                    skipped.append(SkippedFile(str(file), reason))
                else:
                    found.append((file, got))
        else:
            got, reason = (forced, "") if forced else detect(path, options)
            if got is None:
                raise InputError(
                    f"cannot tell this file's format ({reason})",
                    path=path,
                    hint=f"pass --input-format with one of {', '.join(names())}",
                )
            found.append((path, got))
    root = common_root(resolved)
    return group(found, root, merge_folders=merge_folders), skipped


def _walk(folder: Path, side: frozenset[str]) -> Iterable[Path]:
    """Files under *folder*, sorted; a format's ``walk`` hook may take over a folder."""
    hooks = [f.walk for f in formats() if f.walk is not None]
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        here = Path(dirpath)
        taken = next((got for hook in hooks if (got := hook(here)) is not None), None)
        if taken is not None:
            dirnames.clear()
            yield from taken
            continue
        for name in sorted(filenames):
            if name.startswith(".") or name in side:
                continue
            yield here / name


def common_root(paths: list[Path]) -> Path:
    bases = [p.resolve() if p.is_dir() else p.resolve().parent for p in paths]
    return Path(os.path.commonpath([str(b) for b in bases]))


def relative_name(path: Path, root: Path) -> str:
    rel = os.path.relpath(path.resolve(), root)
    return root.name if rel == "." else Path(rel).as_posix()


def _stem(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.split(".", 1)[0]


def group(
    found: list[tuple[Path, Format]], root: Path, *, merge_folders: bool = False
) -> list[Source]:
    """One source per file, or per folder for formats grouped by folder."""
    generic = GENERIC_STEMS.union(*(f.generic_names for f in formats()))
    by_folder: dict[tuple[Path, str], list[Path]] = {}
    singles: list[tuple[Path, Format]] = []
    seen: set[Path] = set()
    for path, fmt in found:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        if fmt.grouping == "folder":
            by_folder.setdefault((fmt.folder_of(path), fmt.name), []).append(path)
        else:
            singles.append((path, fmt))
    sources: list[Source] = []
    for (folder, name), files in by_folder.items():
        sources.append(Source(relative_name(folder, root), name, tuple(sorted(files)), folder))
    for path, fmt in singles:
        run = relative_name(path.parent if _stem(path) in generic else path, root)
        sources.append(Source(run, fmt.name, (path,), path))
    if merge_folders:
        return _merge_by_folder(sources, root)
    # two sources with one name (say metrics.csv and log.jsonl in one folder):
    # name each by its file instead
    counts: dict[str, int] = {}
    for s in sources:
        counts[s.run] = counts.get(s.run, 0) + 1
    renamed = [
        Source(relative_name(s.paths[0], root), s.format, s.paths, s.where)
        if counts[s.run] > 1 and len(s.paths) == 1
        else s
        for s in sources
    ]
    return sorted(renamed, key=lambda s: s.run)


def _merge_by_folder(sources: list[Source], root: Path) -> list[Source]:
    """``--merge-folders``: every log of one folder is one run (each file read by its format)."""
    folders: dict[Path, list[Source]] = {}
    for s in sources:
        folder = s.where if s.where.is_dir() else s.where.parent
        folders.setdefault(folder.resolve(), []).append(s)
    merged = []
    for folder, members in folders.items():
        if len(members) == 1:
            merged.append(members[0])
            continue
        fmt = "+".join(sorted({s.format for s in members}))
        paths = tuple(p for s in members for p in s.paths)
        merged.append(Source(relative_name(folder, root), fmt, paths, folder))
    return sorted(merged, key=lambda s: s.run)
