"""Small YAML side files (``hparams.yaml``, ``args.yaml``, MLflow ``meta.yaml``), read safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def yaml_dict(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file; empty when missing, unreadable or not a mapping."""
    if not path.is_file():
        return {}
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(errors="replace"))
    except (OSError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def scalar_attrs(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """The file's scalar entries (or only *keys*) as attribute strings."""
    doc = yaml_dict(path)
    items = doc.items() if keys is None else ((k, doc[k]) for k in keys if k in doc)
    return {str(k): str(v) for k, v in items if not isinstance(v, dict | list)}
