"""Inputs given as URLs (``s3://``, ``gs://``, ``az://``, ``hf://``, ``memory://``...).

Through fsspec (each backend takes its credentials from its usual environment
and config files).  Local paths never come here, nor do ``file://`` URLs
(they are turned into paths): the local readers keep their own fast reads.

* Discovery lists each URL once and builds a *mirror*: a temporary folder with
  one empty (sparse) file per listed file, of its size.  The ordinary
  discovery then runs on the mirror, sniffing each file's first bytes from the
  URL, so formats, run grouping and run names are exactly those the same tree
  gets on a local disk.
* Each batch carries what it must copy (its runs' logs and the side files
  their readers open, see ``Format.side_files``); :func:`run_staged` copies
  them into a temporary folder of its own (each file at most
  ``--max-file-size`` + 1 bytes, streamed), reads and judges them with the
  local code, deletes them, and names files by their URLs in what it returns.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from gdei_cli.errors import InputError, UsageError
from gdei_cli.readers.registry import SNIFF_BYTES, ReadOptions, Source, get

if TYPE_CHECKING:
    from gdei_cli.assembly import RunInfo
    from gdei_cli.batching import Batch
    from gdei_cli.discovery import SkippedFile

_URL: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

#: the optional extra of gdei that installs a protocol's fsspec backend
EXTRAS: Final = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
    "hf": "hf",
}

#: bytes read from a gzip file to sniff it (its first 64 KB decompressed)
_GZIP_SNIFF: Final = 1 << 20
_COPY_CHUNK: Final = 1 << 20


def is_url(text: str) -> bool:
    return _URL.match(text) is not None


def any_url(paths: Sequence[str | Path]) -> bool:
    """Whether any input is a URL fsspec must read (``file://`` is a local path)."""
    return any(isinstance(p, str) and is_url(p) and not _is_file_url(p) for p in paths)


def local_paths(paths: Sequence[str | Path]) -> list[str | Path]:
    """*paths* with ``file://`` URLs turned into local paths."""
    return [_file_url_path(p) if isinstance(p, str) and _is_file_url(p) else p for p in paths]


def _is_file_url(text: str) -> bool:
    return text.lower().startswith(("file://", "local://"))


def _file_url_path(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path) or "/"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of *url* and its path on it; a one-line error for an
    unknown protocol or a backend that is not installed."""
    protocol = url.split("://", 1)[0].lower()
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"reading {protocol}:// URLs needs fsspec", hint="pip install 'gdei-cli'"
        ) from None
    try:
        fsspec.get_filesystem_class(protocol)  # known (built in, or registered), installed
        fs, path = fsspec.core.url_to_fs(url)
    except ValueError as exc:
        if "not known" not in str(exc).lower():
            raise UsageError(f"cannot open {url}: {_first_line(exc)}") from None
        raise UsageError(
            f"unknown protocol {protocol}:// in {url}",
            hint="use a local path or a URL fsspec knows (s3://, gs://, az://, hf://, ...)",
        ) from None
    except ImportError as exc:
        extra = EXTRAS.get(protocol)
        install = f"pip install 'gdei-cli[{extra}]'" if extra else _first_line(exc)
        raise UsageError(
            f"reading {protocol}:// URLs needs a package not installed", hint=install
        ) from None
    except Exception as exc:  # a backend refusing its options: one line
        raise UsageError(f"cannot open {url}: {_first_line(exc)}") from None
    return fs, str(path)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def is_folder(url: str) -> bool:
    """Whether *url* names a folder (a prefix), for messages."""
    try:
        fs, path = filesystem(url)
        return bool(fs.isdir(path))
    except (UsageError, OSError):
        return False


@dataclass
class _Root:
    url: str  # as given, without a trailing slash
    fs: Any
    path: str  # on fs
    is_dir: bool
    files: dict[str, int]  # path on fs -> size


def find_batches(
    paths: Sequence[str | Path],
    *,
    fmt: str | None,
    merge_folders: bool,
    options: ReadOptions,
    batch_runs: int,
    batch_bytes: int,
    spread: int = 1,
    spread_if_worth: bool = False,
) -> tuple[list[Batch], list[SkippedFile]]:
    """Discover the runs under URL inputs and cut them into batches that copy their files."""
    from gdei_cli.batching import Batch, Staging, cut
    from gdei_cli.discovery import discover

    if not all(isinstance(p, str) and is_url(p) for p in paths):
        raise UsageError("give either URLs or local paths, not both, in one call")
    roots = [_list(str(p)) for p in paths]
    if len({type(r.fs) for r in roots}) > 1:
        raise UsageError("give URLs of one storage (one protocol) in one call")
    with tempfile.TemporaryDirectory(prefix="gdei-mirror-") as tmp:
        mirror = Path(tmp)
        where: dict[str, tuple[_Root, str]] = {}  # mirror path -> (root, path on fs)
        for root in roots:
            if root.is_dir:  # a folder of hidden files only is still a folder
                (mirror / root.path.lstrip("/")).mkdir(parents=True, exist_ok=True)
            for fs_path, size in root.files.items():
                local = mirror / fs_path.lstrip("/")
                local.parent.mkdir(parents=True, exist_ok=True)
                with local.open("wb") as fh:
                    fh.truncate(size)  # sparse: the size, not the bytes
                where[str(local)] = (root, fs_path)
        starts = [mirror / r.path.lstrip("/") for r in roots]

        def opener(path: Path) -> bytes:
            root, fs_path = where[str(path)]
            return _head(root.fs, fs_path, root.files[fs_path])

        def url_of(path: str | Path) -> str:
            hit = where.get(str(path))
            if hit is None:  # a folder
                rel = os.path.relpath(path, mirror)
                root = next((r for r in roots if _under(rel, r.path.lstrip("/"))), roots[0])
                return _url(root, "/" + rel if root.path.startswith("/") else rel)
            return _url(hit[0], hit[1])

        sources, skipped = discover(
            starts, fmt, merge_folders=merge_folders, options=options, opener=opener
        )
        skipped = [replace(s, path=url_of(s.path)) for s in skipped]
        fs = roots[0].fs
        batches: list[Batch] = []
        for group, size in cut(
            sources,
            lambda p: _listed_size(where, p),
            batch_runs=batch_runs,
            batch_bytes=batch_bytes,
            spread=spread,
            spread_if_worth=spread_if_worth,
        ):
            files: dict[str, tuple[str, str, str]] = {}
            for s in group:
                for p in (*s.paths, *_side_files(s)):
                    hit = where.get(str(p))
                    if hit is not None and str(p) not in files:
                        rel = os.path.relpath(p, mirror)
                        files[str(p)] = (hit[1], rel, _url(*hit))
            rel_sources = tuple(
                Source(
                    s.run,
                    s.format,
                    tuple(Path(os.path.relpath(p, mirror)) for p in s.paths),
                    Path(os.path.relpath(s.where, mirror)),
                )
                for s in group
            )
            staging = Staging(fs, tuple(files.values()))
            batches.append(Batch(rel_sources, size, staging, index=len(batches)))
        return batches, skipped


def _listed_size(where: dict[str, tuple[_Root, str]], path: Path) -> int:
    """A mirrored file's size as listed (0 for a path not listed)."""
    hit = where.get(str(path))
    return hit[0].files[hit[1]] if hit is not None else 0


def _under(rel: str, base: str) -> bool:
    return rel == base or rel.startswith(base.rstrip("/") + "/") or base in ("", ".")


def _url(root: _Root, fs_path: str) -> str:
    """The URL a user would write for *fs_path*: the input URL it is under, plus the rest."""
    if fs_path == root.path:
        return root.url
    rest = fs_path[len(root.path) :].lstrip("/")
    return f"{root.url}/{rest}"


def _side_files(source: Source) -> list[Path]:
    """The files besides its logs that the readers of *source* open (its formats say)."""
    names = source.format.split("+")
    out: list[Path] = []
    for name in names:
        hook = get(name).side_files
        if hook is None:
            continue
        for path in source.paths:
            with contextlib.suppress(ValueError, OSError):
                out.extend(hook(path))
    return out


def _list(url: str) -> _Root:
    """One input URL: its files (hidden ones left out, as on disk) and their sizes."""
    url = url.rstrip("/") if not url.endswith("://") else url
    fs, path = filesystem(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise InputError("no such file or folder", path=url) from None
    except Exception as exc:  # a backend's own error (credentials, network): one line
        raise InputError(f"cannot read: {_first_line(exc)}", path=url) from None
    if info.get("type") != "directory":
        return _Root(url, fs, path, False, {path: int(info.get("size") or 0)})
    try:
        found = fs.find(path, detail=True, withdirs=False)
    except Exception as exc:  # a backend's own error (credentials, network): one line
        raise InputError(f"cannot list: {_first_line(exc)}", path=url) from None
    files = {}
    base = path.rstrip("/")
    for name in sorted(found):
        rest = name[len(base) :].lstrip("/") if name.startswith(base) else name
        if any(part.startswith(".") for part in rest.split("/")):
            continue  # hidden, as the local walk skips them
        files[name] = int(found[name].get("size") or 0)
    return _Root(url, fs, path, True, files)


def _head(fs: Any, path: str, size: int) -> bytes:
    """A file's first bytes for sniffing (more of a gzip file: 64 KB once decompressed)."""
    try:
        first: bytes = fs.cat_file(path, start=0, end=min(size, SNIFF_BYTES))
        if first[:2] == b"\x1f\x8b" and size > SNIFF_BYTES:
            first = fs.cat_file(path, start=0, end=min(size, _GZIP_SNIFF))
        return first
    except Exception:  # a backend's own error: sniffed as empty, the file is skipped
        return b""


@contextlib.contextmanager
def staged(batch: Batch, max_bytes: int) -> Iterator[tuple[Batch, Callable[[str], str]]]:
    """Copy a batch's files into a temporary folder of its own (deleted afterwards):
    the same batch on local paths, and a function naming those paths (in any text) by
    their URLs.  A file is copied up to *max_bytes* + 1 bytes: a larger one is the
    reader's to refuse, as on disk."""
    from gdei_cli.batching import Batch

    staging = batch.staging
    files = staging.files if staging is not None else ()
    with tempfile.TemporaryDirectory(prefix="gdei-batch-") as tmp:
        folder = Path(tmp)
        names: dict[str, str] = {}
        for fs_path, rel, url in files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            names[str(target)] = url
            try:
                _copy(staging.fs if staging else None, fs_path, target, max_bytes + 1)
            except Exception:  # gone since listing, or a backend's error: no file, no part
                target.unlink(missing_ok=True)  # the reader then says it cannot read it
        local = Batch(
            tuple(
                Source(s.run, s.format, tuple(folder / p for p in s.paths), folder / s.where)
                for s in batch.sources
            ),
            batch.size,
            index=batch.index,
        )

        def url_of(text: str) -> str:
            hit = names.get(text)
            if hit is not None:
                return hit
            if tmp not in text:
                return text
            for path, url in names.items():
                text = text.replace(path, url)
            return text.replace(tmp, "")

        yield local, url_of


def by_url(
    infos: Iterable[RunInfo], skipped: Iterable[SkippedFile], url_of: Callable[[str], str]
) -> list[SkippedFile]:
    """Name the files of a copied batch by their URLs: each run's sources and warnings
    (in place), and the skipped files (returned)."""
    for info in infos:
        info.sources = [url_of(p) for p in info.sources]
        info.warnings = [url_of(w) for w in info.warnings]
    return [replace(s, path=url_of(s.path), reason=url_of(s.reason)) for s in skipped]


def _copy(fs: Any, fs_path: str, target: Path, limit: int) -> None:
    with fs.open(fs_path, "rb") as src, target.open("wb") as out:
        got = 0
        while got < limit and (chunk := src.read(min(_COPY_CHUNK, limit - got))):
            out.write(chunk)
            got += len(chunk)
