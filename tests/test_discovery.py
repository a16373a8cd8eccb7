"""Discovery's own helpers, against what they stand for."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st


def test_discovery_resolves_paths_as_realpath_does(tmp_path, monkeypatch) -> None:
    """Discovery's remembered real paths (a folder resolved once for its files) are
    ``os.path.realpath``'s, through folder links, file links, dangling links, ``..``
    and relative paths."""
    import os

    from gdei_cli.discovery import _real, _Reals

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f.csv").write_text("step,loss\n0,1\n")
    (tmp_path / "dir_link").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "file_link.csv").symlink_to(tmp_path / "a" / "b" / "f.csv")
    (tmp_path / "a" / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    (tmp_path / "a" / "b" / "up").symlink_to("..")
    monkeypatch.chdir(tmp_path)
    paths = [
        Path("a/b/f.csv"),
        Path("dir_link/b/f.csv"),
        Path("a/file_link.csv"),
        Path("a/dangling.csv"),
        Path("a/b/up/b/f.csv"),
        Path("a/b/../b/f.csv"),
        tmp_path / "dir_link" / "b",
        Path("."),
        Path("missing/file.csv"),
    ]
    real = _Reals()
    for p in paths * 2:  # the second time from what was remembered
        assert real(p) == str(_real(p)) == os.path.realpath(p), p


def test_real_paths_after_a_walk_are_realpaths(tmp_path) -> None:
    """A walk tells the remembered real paths which entries are not links (so they
    are not asked again): every file it yields still resolves as ``realpath`` does,
    through file links, folder links and links to links."""
    import os

    from gdei_cli.discovery import _Reals, walk

    (tmp_path / "runs" / "a" / "b").mkdir(parents=True)
    (tmp_path / "elsewhere" / "c").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "b" / "f.csv").write_text("step,loss\n0,1\n")
    (tmp_path / "elsewhere" / "c" / "g.csv").write_text("step,loss\n0,1\n")
    (tmp_path / "runs" / "a" / "file_link.csv").symlink_to(tmp_path / "elsewhere/c/g.csv")
    (tmp_path / "runs" / "dir_link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "runs" / "a" / "link_to_link.csv").symlink_to(tmp_path / "runs/a/file_link.csv")
    real = _Reals()
    files = list(walk(tmp_path / "runs", frozenset(), [], real))
    assert len(files) == 4
    for p in files:
        assert real(p) == os.path.realpath(p), p


def test_relative_names_are_relpaths(tmp_path) -> None:
    """A run's name is its real path relative to the root, as ``os.path.relpath``
    gives it (the root's own name for the root), below the root, beside it, and
    under ``/``."""
    import os

    from gdei_cli.discovery import relative_name

    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "rootless").mkdir()
    root = Path(os.path.realpath(tmp_path / "root"))
    for p in [root / "a" / "f.csv", root / "a", root, root.parent / "rootless" / "g.csv"]:
        rel = os.path.relpath(os.path.realpath(p), root)
        assert relative_name(p, root) == (root.name if rel == "." else rel), p
    assert relative_name(root / "a", Path("/")) == str(root / "a")[1:]
    assert relative_name(root / "a", root, lambda p: str(p)) == "a"


@settings(max_examples=300, deadline=None)
@given(head=st.binary(max_size=40) | st.text(max_size=30).map(str.encode))
def test_a_header_is_the_first_line_of_the_decoded_head(head) -> None:
    """Detection decodes only the first line's bytes: the same fields as decoding
    the whole head and splitting off its first line (damaged UTF-8 included)."""
    import csv

    from gdei_cli.readers.registry import ReadOptions, Sniff

    sniff = Sniff(Path("x.csv"), ReadOptions())
    sniff.__dict__["head"] = head + b"\n\xe2\x82 more\n"  # (what the file would give)
    line = sniff.text.split("\n", 1)[0].strip("\r\ufeff")
    try:
        want = [h.strip() for h in next(csv.reader([line]))]
    except (StopIteration, csv.Error):
        want = []
    assert sniff.header == want


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [b"\xef\xbb\xbf", b" ", b"\t", b"\n", b"\r", b"\x1c", b"\xc2\xa0", b"\xc2\x85",
             b"\xff", b"{", b"}", b'"a": 1', b"step,loss", b"x", b"[1]", b"NaN"]
        ),
        max_size=12,
    )
)
@example([b"\x1c", b"{", b'"a": 1', b"}"])  # an ASCII control that str.strip() strips
@example([b"\xef\xbb\xbf", b" ", b"\xef\xbb\xbf", b"{", b"}"])
@example([b"\xc2\xa0", b"{", b"}"])
def test_the_first_record_is_told_as_from_the_decoded_head(parts):
    """The first byte rules a record out only where decoding the head would."""
    from gdei_cli.readers.registry import ReadOptions, Sniff, record_of

    data = b"".join(parts)
    sniff = Sniff(Path("x.jsonl"), ReadOptions(), opener=lambda _: data)
    assert sniff.first_record == record_of(data.decode("utf-8", errors="replace"))
