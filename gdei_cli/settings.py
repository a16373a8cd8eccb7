"""Settings from a file: ``[tool.gdei]`` in the nearest ``pyproject.toml``, or ``--config FILE``.

Every option of ``analyze``, ``export`` and ``inspect`` can be set in the
file, spelled as on the command line without the dashes (``max-waste = "25%"``
or ``max_waste``).  The command line overrides the file, which overrides
gdei's defaults.  The nearest ``pyproject.toml`` is searched from the working
directory upward (the first one found ends the search, with or without a
``[tool.gdei]`` table).  ``--config FILE`` names the file instead: a
``pyproject.toml``-style file with ``[tool.gdei]``, or any TOML file whose top
level holds the settings.  An unknown key is an error naming the key and the
file.  No heavy imports: the CLI reads this before any command runs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gdei_cli.errors import UsageError

#: file key (dashes and underscores alike) -> the command's parameter name
KEYS: Final = {
    "metric": "metric",
    "objective": "objective",
    "format": "output_format",
    "export": "export_to",
    "mode": "mode",
    "rule": "rule",
    "tolerance": "tolerance",
    "smoothing": "smoothing",
    "threshold": "threshold",
    "window": "window",
    "warmup": "warmup",
    "seconds_per_step": "seconds_per_step",
    "gpus": "gpus",
    "gpu_hour_cost": "gpu_hour_cost",
    "max_waste": "max_waste",
    "input_format": "input_format",
    "merge_folders": "merge_folders",
    "line_pattern": "line_pattern",
    "jobs": "jobs",
    "strict": "strict",
    "max_file_size": "max_file_size",
    "width": "width",
    "quiet": "quiet",
}


@dataclass
class Settings:
    """The settings a file gives (by parameter name) and which file gave them."""

    values: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above *start*."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load(config: Path | None = None, start: Path | None = None) -> Settings:
    """The settings from *config*, else from the nearest ``pyproject.toml``'s ``[tool.gdei]``."""
    path = config if config is not None else find_pyproject(start or Path.cwd())
    if path is None:
        return Settings()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot read the settings file: {exc.strerror or exc}", path=path
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"not valid TOML: {exc}", path=path) from None
    tool = doc.get("tool", {})
    table = tool.get("gdei") if isinstance(tool, dict) else None
    if table is None:
        if config is None or path.name == "pyproject.toml":
            return Settings(source=path)  # a project without gdei settings
        table = doc  # a file of gdei settings only
    if not isinstance(table, dict):
        raise UsageError("[tool.gdei] must be a table", path=path)
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = KEYS.get(str(key).replace("-", "_"))
        if name is None:
            known = ", ".join(k.replace("_", "-") for k in KEYS)
            raise UsageError(f"unknown setting {key!r} (known: {known})", path=path)
        if isinstance(value, dict | list):
            raise UsageError(f"setting {key!r} must be a single value", path=path)
        values[name] = value
    return Settings(values, path)


def for_command(settings: Settings, params: set[str]) -> dict[str, Any]:
    """The settings a command has parameters for (as click's ``default_map``)."""
    return {k: v for k, v in settings.values.items() if k in params}
