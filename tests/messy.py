"""A run folder as a messy lab (or an attacker) leaves it: good runs beside one of every bad case.

``make_messy(root)`` writes it and returns, per case, the path and what gdei
must do with it: ``"run"`` (read, maybe with a warning) or ``"skip"`` (listed
as skipped with a reason).  Used by the end-to-end test and as fuzz seeds.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zlib
from pathlib import Path


def _tb_record(payload: bytes) -> bytes:
    import google_crc32c

    def masked(data: bytes) -> int:
        crc = int(google_crc32c.value(data))
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked(header)) + payload + struct.pack("<I", masked(payload))


def tb_events(steps: range, tag: str = "loss") -> bytes:
    """A small TensorBoard event file (written with TensorBoard's own protos)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    out = _tb_record(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
    for s in steps:
        v = summary_pb2.Summary.Value(tag=tag, simple_value=1.0 / (1 + s))
        ev = event_pb2.Event(wall_time=1.7e9 + s, step=s, summary=summary_pb2.Summary(value=[v]))
        out += _tb_record(ev.SerializeToString())
    return out


def make_messy(root: Path, *, big: bool = False) -> dict[str, tuple[Path, str]]:
    """Write the messy folder; ``big`` adds the slow-to-write cases (bombs at full size)."""
    root.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes | str, expect: str, key: str | None = None) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        cases[key or name] = (path, expect)
        return path

    curve = "".join(f"{s},{2.0 / (1 + s):.5f}\n" for s in range(50))
    put("good.csv", "step,loss\n" + curve, "run")
    put("good_run/events.out.tfevents.1.good", tb_events(range(40)), "run", "good_tb")
    put("good.jsonl", "".join(json.dumps({"step": s, "loss": 1 / (1 + s)}) + "\n" for s in range(30)), "run")
    # 1. one bad file never hides the others
    put("bad.csv", "step,loss\n1,2\n2,3,4\n3,1\n", "skip")
    rnd = bytes((i * 2654435761 >> 13) & 0xFF for i in range(4096))
    for name in ("random.csv", "random.jsonl", "random.log", "events.out.tfevents.9.random"):
        put(f"random/{name}", rnd, "any", f"random {name}")
    put("random/trainer_state.json", rnd, "skip", "random trainer_state")
    # special files
    (root / "dangling.csv").symlink_to(root / "nowhere.csv")
    cases["dangling symlink"] = (root / "dangling.csv", "skip")
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    cases["symlink loop"] = (root / "loop_a", "skip")
    os.mkfifo(root / "pipe.csv")
    os.mkfifo(root / "train.log")
    os.mkfifo(root / "events.out.tfevents.1.pipe")
    cases["fifo"] = (root / "pipe.csv", "skip")
    (root / "zero.csv").symlink_to("/dev/zero")
    cases["/dev/zero"] = (root / "zero.csv", "skip")
    (root / "loopdir").mkdir()
    (root / "loopdir" / "up").symlink_to(root / "loopdir")
    # 2. bombs and monsters
    size = (1 << 30) if big else (64 << 20)
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    data = bomb.compress(b"step,loss\n") + b"".join(bomb.compress(b"0" * (1 << 20)) for _ in range(size >> 20))
    put("bomb.csv.gz", data + bomb.flush(), "skip")
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        laughs += f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    run = root / "mlruns" / "1" / "abc"
    put("mlruns/1/abc/meta.yaml", laughs + "status: [1, 2]\n", "any", "billion laughs")
    put("mlruns/1/abc/metrics/loss", "".join(f"{1700000000000 + s} {1 / (1 + s)} {s}\n" for s in range(20)) + "1700000000100 0.0", "run", "mlflow cut line")
    put("mlruns/1/abc/metrics/short", "1700000000000\n", "any", "mlflow one column")
    put("mlruns/1/meta.yaml", "name: exp\n", "any", "mlflow experiment")
    del run
    put("long_line.jsonl", '{"step": 0, "loss": ' + "1" * (3 << 20) + "}\n" + '{"step": 1, "loss": 1}\n', "any")
    put("redos.log", "a(" * 20000 + "\n" + "step 1 loss 2.0\nstep 2 loss 1.0\n", "any")
    zeros = tb_events(range(20)) + b"\0" * ((64 if big else 8) << 20)
    put("tb_zeros/events.out.tfevents.1.zeros", zeros, "run", "tb zeros tail")
    evil = struct.pack("<Q", 1 << 20)
    import google_crc32c

    c = int(google_crc32c.value(evil))
    evil += struct.pack("<I", (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    put("tb_headers/events.out.tfevents.1.headers", tb_events(range(5)) + evil * ((1 << 20) // 12 if big else 20_000), "run", "tb fake headers")
    cols = 100_000 if big else 20_000
    put("wide.csv", "step," + ",".join(f"m{i}" for i in range(cols)) + "\n" + "0," + ",".join("1" for _ in range(cols)) + "\n", "any")
    # 3. ordinary input that used to be an internal error
    put("big_int.csv", "step,seed,loss\n0,1700000000123456789,1\n1,1700000000123456790,0.5\n", "run")
    put("year9999.csv", "step,time,loss\n0,9999-01-01T00:00:00,1\n1,9999-01-02T00:00:00,0.5\n", "run")
    put("fake_gzip.csv", b"\x1f\x8bstep,loss\n0,1\n", "skip")
    put("wandb/wandb_export_header_only.csv", '"Step","run - loss","run - loss__MIN","run - loss__MAX"\n', "any")
    put("deep.jsonl", '{"step": 0, "loss": 1, "x": ' + "[" * 6000 + "]" * 6000 + "}\n", "any")
    put("surrogate.jsonl", '{"step": 0, "\\ud800": 1, "loss": 1}\n{"step": 1, "loss": 0.5}\n', "run")
    put("huge_int.jsonl", '{"step": 0, "loss": ' + "9" * 400 + "}\n" + '{"step": 1, "loss": 1}\n', "any")
    put("mmdet/bad.log.json", '{"mode": "train", "epoch": 1, "iter": "ten", "loss": 1}\n', "any")
    deep = root / "deep"
    os.mkdir(deep)
    for _ in range(1000):  # pathlib's mkdir(parents=True) recurses: make it level by level
        deep = deep / "d"
        os.mkdir(deep)
    (deep / "metrics.csv").write_text("step,loss\n0,1\n1,0.5\n")
    cases["deep tree"] = (deep / "metrics.csv", "run")
    # 4. names that must not drive the terminal or a spreadsheet
    put("markup.csv", "step,loss,x[/b],acc[top1],=HYPERLINK(1)\n0,1,1,0.1,1\n1,0.5,0.5,0.2,1\n", "run")
    put("[link=ssh:evil]name.csv", "step,loss\n0,1\n1,0.5\n", "run", "link name")
    put("esc\x1b]8;;evil\x07.csv", "step,loss\n0,1\n1,0.5\n", "run", "osc name")
    put("newline.jsonl", '{"step": 0, "lo\\nss\\u001b[2J": 1}\n{"step": 1, "lo\\nss\\u001b[2J": 0.5}\n', "run")
    # 6. keep what can be kept
    cut = tb_events(range(30))
    mid = len(tb_events(range(10)))
    bad_len = struct.pack("<Q", 1 << 30)
    c = int(google_crc32c.value(bad_len))
    bad_len += struct.pack("<I", (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    put("tb_badlen/events.out.tfevents.1.badlen", cut[:mid] + bad_len + cut[mid:], "run", "tb bad length")
    put("cut_number.csv", "step,loss\n1,2.0\n2,1.0\n3,0.", "run")
    whole = gzip.compress(("step,loss\n" + "".join(f"{s},{1 / (1 + s)}\n" for s in range(20000))).encode(), mtime=0)
    put("cut.csv.gz", whole[: int(len(whole) * 0.7)], "run")
    put("cr_only.jsonl", '{"step": 0, "loss": 1}\r{"step": 1, "loss": 0.5}\r', "run")
    put("bom.jsonl", '\ufeff{"step": 0, "loss": 1}\n{"step": 1, "loss": 0.5}\n', "run")
    return cases


def remove_deep_tree(top: Path) -> None:
    """Delete a folder chain too deep for ``shutil.rmtree`` (recursive in Python 3.11)."""
    folders = []
    here = top
    while here.is_dir() and not here.is_symlink():
        folders.append(here)
        subs = [p for p in here.iterdir() if p.is_dir() and not p.is_symlink()]
        for p in here.iterdir():
            if not (p.is_dir() and not p.is_symlink()):
                p.unlink()
        if not subs:
            break
        if len(subs) > 1:
            raise ValueError(f"{here} is not a chain")
        here = subs[0]
    for folder in reversed(folders):
        folder.rmdir()
