from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_logs"
DATA = Path(__file__).resolve().parent / "data"
SHARED = REPO.parent / "shared" / "real_logs"

# fixed width and no colour: rendered output is stable
os.environ["COLUMNS"] = "80"
os.environ["NO_COLOR"] = "1"
os.environ.pop("FORCE_COLOR", None)


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    return _write


def shared_logs() -> Path:
    """The shared real logs; CI (GDEI_REQUIRE_SHARED_LOGS=1) fails rather than skips."""
    if not SHARED.is_dir():
        if os.environ.get("GDEI_REQUIRE_SHARED_LOGS"):
            pytest.fail(f"{SHARED} is missing and GDEI_REQUIRE_SHARED_LOGS is set")
        pytest.skip("../shared/real_logs is not present")
    return SHARED
