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

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
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
    """A file passed over, and why; ``problem`` when it should have been readable
    (damaged, unreadable, not a regular file), not merely something other than a log."""

    path: str
    reason: str
    problem: bool = True
    line: int | None = None

    def where(self) -> str:
        return self.path + (f":{self.line}" if self.line is not None else "")


def discover(
    paths: Sequence[str | Path],
    fmt: str | None = None,
    *,
    merge_folders: bool = False,
    options: ReadOptions | None = None,
    opener: Callable[[Path], bytes] | None = None,
) -> tuple[list[Source], list[SkippedFile]]:
    """Turn input paths into runs to read, and the files passed over (with why).

    Only regular files are ever opened: FIFOs, sockets and devices, dangling
    symbolic links and link loops, unreadable folders and files are listed as
    skipped instead.  A file that is not a log is skipped too (a file named on
    the command line included): the caller decides what no readable run means.
    """
    options = options or ReadOptions()
    if fmt is not None and fmt not in names():
        raise InputError(f"unknown input format {fmt!r}; choose one of {', '.join(names())}")
    forced = get(fmt) if fmt is not None else None
    if not paths:
        raise InputError("no input paths given")
    found: list[tuple[Path, Format]] = []
    skipped: list[SkippedFile] = []
    roots: list[Path] = []
    side = frozenset().union(*(f.skip_names for f in formats()))
    real = _Reals()
    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path):
            raise InputError("no such file or folder", path=path)
        roots.append(path)
        kind = file_kind(path)
        if kind == "folder":
            files = walk(path, side, skipped, real)
        elif kind == "file":
            files = iter([path])
        else:
            skipped.append(SkippedFile(str(path), kind))
            continue
        for file in files:
            try:
                got, reason = (forced, "") if forced else detect(file, options, opener)
            except Exception as exc:  # a bug in a format check: skip this file only
                name = type(exc).__name__
                skipped.append(
                    SkippedFile(str(file), f"internal error ({name}: {exc}); please report")
                )
                continue
            if got is None and kind == "file":  # named on the command line: say how to read it
                skipped.append(
                    SkippedFile(
                        str(file),
                        f"cannot tell this file's format ({reason}); pass --input-format "
                        f"with one of {', '.join(names())}",
                    )
                )
            elif got is None:
                skipped.append(SkippedFile(str(file), reason, problem=False))
            else:
                found.append((file, got))
    root = common_root(roots)
    return group(found, root, merge_folders=merge_folders, real=real), skipped


def file_kind(path: Path) -> str:
    """``"file"``, ``"folder"``, or why gdei will not open it."""
    try:
        st = os.stat(path)  # follows symbolic links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if os.path.islink(path):
            return "a dangling symbolic link"
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode):
        return "folder"
    if stat.S_ISREG(st.st_mode):
        return "file"
    what = (
        "a FIFO"
        if stat.S_ISFIFO(st.st_mode)
        else "a socket"
        if stat.S_ISSOCK(st.st_mode)
        else "a device"
    )
    return f"not a regular file ({what})"


def walk(
    folder: Path,
    side: frozenset[str],
    skipped: list[SkippedFile],
    real: _Reals | None = None,
) -> Iterator[Path]:
    """Regular files under *folder*, in sorted order, without recursion.

    Symbolic links to folders are followed once (a folder seen before is a
    loop and skipped); a format's ``walk`` hook, given a folder's listing, may
    take the folder over.  *real* is told which files and folders the listings
    showed are not links.
    """
    hooks = [f.walk for f in formats() if f.walk is not None]
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            st = os.stat(here)
        except OSError as exc:
            skipped.append(SkippedFile(str(here), f"cannot read folder: {exc.strerror or exc}"))
            continue
        if (st.st_dev, st.st_ino) in seen:
            skipped.append(SkippedFile(str(here), "a folder seen before (symbolic link loop)"))
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(str(here), f"cannot read folder: {exc.strerror or exc}"))
            continue
        if hooks:
            listed = frozenset(e.name for e in entries)
            taken = next((got for hook in hooks if (got := hook(here, listed)) is not None), None)
            if taken is not None:
                yield from taken
                continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = here / entry.name  # (what Path(entry.path) gives, built for less)
            kind, link = _kind_of(entry, path)
            if real is not None and not link:
                real.not_link(path)
            if kind == "folder":
                subfolders.append(path)
            elif kind == "file":
                if entry.name not in side:
                    yield path
            else:
                skipped.append(SkippedFile(str(path), kind))
        stack.extend(reversed(subfolders))  # depth first, in sorted order


def _kind_of(entry: os.DirEntry[str], path: Path) -> tuple[str, bool]:
    """:func:`file_kind` of a folder entry, and whether it may be a symbolic link: a
    plain file or folder is told by the type the folder listing already gave (no
    ``stat`` call); a symbolic link or anything else gets the whole check."""
    try:
        if not entry.is_symlink():
            if entry.is_file(follow_symlinks=False):
                return "file", False
            if entry.is_dir(follow_symlinks=False):
                return "folder", False
    except OSError:
        pass
    return file_kind(path), True


def _real(path: Path) -> Path:
    """The path with symbolic links resolved (never raises, unlike ``Path.resolve``)."""
    return Path(os.path.realpath(path))


class _Reals:
    """:func:`_real`, as text, remembered for one discovery: a path that is not a link
    is its folder's real path plus its name, so a folder is resolved once for all its
    files (``os.path.realpath`` looks at every component of every path again), and
    a path a folder listing showed is no link is not asked (``lstat``) at all.
    Text, not ``Path`` objects: thousands of files would spend more on building them."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}
        self._plain: set[str] = set()

    def not_link(self, path: Path) -> None:
        """*path* is no symbolic link (a folder listing said so): never asked again."""
        self._plain.add(str(path))

    def __call__(self, path: Path) -> str:
        below: list[tuple[str, str]] = []  # (path, name) under the first one resolved
        here = str(path)
        while (got := self._memo.get(here)) is None:
            parent, name = os.path.split(here)
            if (
                parent == here
                or name in ("", ".", "..")
                or (here not in self._plain and os.path.islink(here))
            ):
                got = self._memo[here] = os.path.realpath(here)
                break
            below.append((here, name))
            here = parent
        for p, name in reversed(below):  # no recursion: folders nest thousands deep
            got = self._memo[p] = os.path.join(got, name)
        return got


def common_root(paths: list[Path]) -> Path:
    bases = [_real(p) if p.is_dir() else _real(p).parent for p in paths]
    return Path(os.path.commonpath([str(b) for b in bases])) if bases else Path(".")


def relative_name(path: Path, root: Path, real: Callable[[Path], str] = os.path.realpath) -> str:
    """*path*'s real path relative to *root* (a real path), ``/``-separated; *root*'s
    own name for *root* itself."""
    full, base = real(path), str(root)
    if full.startswith(base) and full[len(base) : len(base) + 1] == os.sep:
        rel = full[len(base) + 1 :]  # (below the root: what relpath gives, for less)
    else:
        rel = os.path.relpath(full, base)
    return root.name if rel == "." else (rel if os.sep == "/" else Path(rel).as_posix())


def _stem(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.split(".", 1)[0]


def group(
    found: list[tuple[Path, Format]],
    root: Path,
    *,
    merge_folders: bool = False,
    real: _Reals | None = None,
) -> list[Source]:
    """One source per file, or per folder for formats grouped by folder (*real*: the
    real paths as remembered so far)."""
    generic = GENERIC_STEMS.union(*(f.generic_names for f in formats()))
    by_folder: dict[tuple[Path, str], list[Path]] = {}
    singles: list[tuple[Path, Format]] = []
    seen: set[str] = set()
    real = real or _Reals()
    for path, fmt in found:
        key = real(path)
        if key in seen:
            continue
        seen.add(key)
        if fmt.grouping == "folder":
            by_folder.setdefault((fmt.folder_of(path), fmt.name), []).append(path)
        else:
            singles.append((path, fmt))
    sources: list[Source] = []
    for (folder, name), files in by_folder.items():
        sources.append(
            Source(relative_name(folder, root, real), name, tuple(sorted(files)), folder)
        )
    for path, fmt in singles:
        run = relative_name(path.parent if _stem(path) in generic else path, root, real)
        sources.append(Source(run, fmt.name, (path,), path))
    if merge_folders:
        return _merge_by_folder(sources, root)
    # two sources with one name (say metrics.csv and log.jsonl in one folder):
    # name each by its file instead
    counts: dict[str, int] = {}
    for s in sources:
        counts[s.run] = counts.get(s.run, 0) + 1
    renamed = [
        Source(relative_name(s.paths[0], root, real), s.format, s.paths, s.where)
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
        folders.setdefault(_real(folder), []).append(s)
    merged = []
    for folder, members in folders.items():
        if len(members) == 1:
            merged.append(members[0])
            continue
        fmt = "+".join(sorted({s.format for s in members}))
        paths = tuple(p for s in members for p in s.paths)
        merged.append(Source(relative_name(folder, root), fmt, paths, folder))
    return sorted(merged, key=lambda s: s.run)
