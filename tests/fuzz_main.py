"""Coverage-guided fuzzing of gdei's readers through the whole pipeline (atheris / libFuzzer).

    python -m tests.fuzz_main TARGET [libFuzzer options, e.g. -max_total_time=60]

One target per parser family, so every reader is fuzzed: ``tensorboard``,
``mlflow``, ``textlog``; ``csv`` (the CSV reader and its dialects: Lightning,
Keras, Ultralytics, TensorBoard CSV downloads, Stable-Baselines3, W&B
exports) and ``json`` (JSON lines, Detectron2, DeiT, MMDetection, Hugging
Face ``trainer_state.json``), where an input's first byte picks the format.
Each input is written where a file of that format lives
(:func:`tests.fuzzing.place`) and run through detection, reading, the engine
and both renderings (:func:`tests.fuzzing.pipeline`).  gdei's own errors are expected; any other
exception, a hang past ``-timeout`` or memory past ``-rss_limit_mb`` is a
crash, written by libFuzzer as ``crash-*``/``timeout-*``/``oom-*`` in the
working directory.  The corpus starts from :func:`tests.fuzzing.seeds` (the
synthetic seed, the committed writer fixtures, ``../shared/real_logs``) and
grows in ``build/fuzz/<TARGET>/``.  ``make fuzz`` runs every target.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["gdei_cli"]):
    import gdei_cli.assembly
    import gdei_cli.discovery
    import gdei_cli.engine
    import gdei_cli.loader
    import gdei_cli.report
    from gdei_cli.errors import GdeiError
    from gdei_cli.readers import registry

    registry.formats()  # imports (and so instruments) every reader module

from .fuzzing import PLACES, pipeline, place, seeds

REPO = Path(__file__).resolve().parent.parent
_INSTRUMENTED = (gdei_cli.assembly, gdei_cli.discovery, gdei_cli.engine, gdei_cli.loader, gdei_cli.report)
TARGETS: dict[str, list[str]] = {
    "tensorboard": ["tensorboard"],
    "mlflow": ["mlflow"],
    "textlog": ["textlog"],
    "csv": ["csv", "lightning", "keras", "ultralytics", "tb_csv", "sb3", "wandb_export"],
    "json": ["jsonl", "detectron2", "deit", "mmdet", "hf_trainer"],
}
assert sorted(f for fs in TARGETS.values() for f in fs) == sorted(PLACES)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz_main TARGET [options]; TARGET: {' '.join(TARGETS)}")
    target = sys.argv[1]
    family = TARGETS[target]
    corpus = REPO / "build" / "fuzz" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for i, fmt in enumerate(family):
        for data in seeds(fmt):
            seed = data if len(family) == 1 else bytes([i]) + data
            (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    work = Path(tempfile.mkdtemp(prefix=f"gdei-fuzz-{target}-"))

    def one_input(data: bytes) -> None:
        for child in work.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        fmt = family[0]
        if len(family) > 1:
            if not data:
                return
            fmt, data = family[data[0] % len(family)], data[1:]
        path = place(fmt, data, work)
        try:
            pipeline(fmt, path)
        except GdeiError:
            pass

    args = [sys.argv[0], *sys.argv[2:], str(corpus)]
    if not any(a.startswith("-max_len=") for a in args):
        args.insert(1, "-max_len=65536")
    try:
        atheris.Setup(args, one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
