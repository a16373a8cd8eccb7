"""Small YAML side files (``hparams.yaml``, ``args.yaml``, MLflow ``meta.yaml``), read safely.

Side files are at most 1 MiB, loaded with the safe loader, and refused when
their aliases expand to more than 100,000 nodes (a "billion laughs" document:
a few hundred bytes whose aliases expand to gigabytes once anything walks
it) or nest too deeply.  A refused side file costs its run attributes, never the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from gdei_cli.readers._io import read_small

MAX_SIDE_BYTES: Final = 1 << 20
#: nodes a side file may hold with its aliases expanded
MAX_EXPANDED_NODES: Final = 100_000


def expanded_nodes(text: str, loader: Any) -> int:
    """How many nodes the document holds once every alias is expanded (one pass over
    the events; an alias counts its anchor's whole subtree)."""
    import yaml

    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[0, None]]  # [count, anchor] per open collection
    for ev in yaml.parse(text, Loader=loader):
        if isinstance(ev, yaml.ScalarEvent):
            stack[-1][0] += 1
            if ev.anchor:
                sizes[ev.anchor] = 1
        elif isinstance(ev, yaml.AliasEvent):
            stack[-1][0] += sizes.get(ev.anchor or "", 1)
        elif isinstance(ev, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            stack.append([1, ev.anchor])
        elif isinstance(ev, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            count, anchor = stack.pop()
            if anchor:
                sizes[anchor] = count
            stack[-1][0] += count
        if stack[0][0] > MAX_EXPANDED_NODES:
            break
    return int(stack[0][0])


def yaml_dict(path: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """The mapping in a YAML file; empty when missing, unreadable, unsafe or not a mapping."""
    text = read_small(path, MAX_SIDE_BYTES)
    if text is None:
        if warnings is not None and path.is_file():
            warnings.append(f"{path.name}: larger than 1 MiB or unreadable; ignored")
        return {}
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        if "*" in text and expanded_nodes(text, loader) > MAX_EXPANDED_NODES:
            if warnings is not None:
                warnings.append(
                    f"{path.name}: its YAML aliases expand to more than "
                    f"{MAX_EXPANDED_NODES:,} nodes; ignored"
                )
            return {}
        doc = yaml.load(text, Loader=loader)  # a safe loader (C or Python)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        if warnings is not None:
            warnings.append(f"{path.name}: not readable YAML ({type(exc).__name__}); ignored")
        return {}
    return doc if isinstance(doc, dict) else {}


def scalar_attrs(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """The file's scalar entries (or only *keys*) as attribute strings."""
    doc = yaml_dict(path)
    items = doc.items() if keys is None else ((k, doc[k]) for k in keys if k in doc)
    return {str(k): str(v) for k, v in items if not isinstance(v, dict | list | tuple | set)}
