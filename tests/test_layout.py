"""The package's layers: imports only run downward, and each heavy or
user-facing library is imported in one place.

Layers, bottom to top (a module may import its own layer or lower ones):
columns/errors/safe_text -> schema/config/settings -> readers ->
discovery/assembly -> loader/batching/remote -> engine -> pipeline/dask_engine ->
report -> cli_options -> cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gdei_cli"

LAYERS: dict[str, int] = {
    "gdei_cli.columns": 0,
    "gdei_cli.errors": 0,
    "gdei_cli.safe_text": 0,
    "gdei_cli.schema": 1,
    "gdei_cli.config": 1,
    "gdei_cli.settings": 1,
    "gdei_cli.readers": 2,
    "gdei_cli.discovery": 3,
    "gdei_cli.assembly": 3,
    "gdei_cli.loader": 4,
    "gdei_cli.batching": 4,
    "gdei_cli.remote": 4,
    "gdei_cli.engine": 5,
    "gdei_cli.pipeline": 6,
    "gdei_cli.dask_engine": 6,
    "gdei_cli.report": 7,
    "gdei_cli.cli_options": 8,
    "gdei_cli.cli": 9,
    "gdei_cli.__main__": 10,
}

#: third-party libraries each allowed in one part of the package only
CONFINED: dict[str, tuple[str, ...]] = {
    "rich": ("gdei_cli.report.terminal",),
    "typer": ("gdei_cli.cli", "gdei_cli.cli_options"),
    "matplotlib": ("gdei_cli.report.plots",),
    "fsspec": ("gdei_cli.remote",),
    "dask": ("gdei_cli.dask_engine",),
    "distributed": ("gdei_cli.dask_engine",),
}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def _imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "gdei_cli":  # from gdei_cli import columns, ...
                found.update(f"gdei_cli.{a.name}" for a in node.names)
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        layer = LAYERS.get(".".join(parts[:n]))
        if layer is not None:
            return layer
    return None


MODULES = _modules()


def test_every_module_has_a_layer():
    homeless = [m for m in MODULES if m != "gdei_cli" and _layer(m) is None]
    assert homeless == [], "give these a layer in tests/test_layout.py"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "gdei_cli"))
def test_imports_run_downward(module):
    own = _layer(module)
    assert own is not None
    upward = sorted(
        imp
        for imp in _imports(MODULES[module])
        if imp.startswith("gdei_cli.") and (_layer(imp) or 0) > own
    )
    assert upward == [], f"{module} imports a higher layer"


def test_heavy_and_user_facing_libraries_stay_in_their_module():
    wrong = sorted(
        (module, lib)
        for module, tree in MODULES.items()
        for lib, allowed in CONFINED.items()
        for imp in _imports(tree)
        if imp.split(".")[0] == lib and module not in allowed
    )
    assert wrong == []


def test_the_layer_table_catches_an_upward_import():
    """The check above is not vacuous: an engine importing the report is caught."""
    tree = ast.parse("from gdei_cli.report import dumps\n")
    upward = [i for i in _imports(tree) if (_layer(i) or 0) > LAYERS["gdei_cli.engine"]]
    assert upward == ["gdei_cli.report"]


@pytest.mark.parametrize(
    ("option", "given", "seen"),
    [
        ("MIMALLOC_ARENA_EAGER_COMMIT", None, "0"),
        ("MIMALLOC_ARENA_EAGER_COMMIT", "2", "2"),
        ("MIMALLOC_PURGE_DELAY", None, "unset"),
        ("MIMALLOC_PURGE_DELAY", "5", "5"),
    ],
)
def test_importing_the_package_sets_only_the_eager_commit_option(option, given, seen):
    """The package turns off Arrow's eager arena commit before pyarrow is imported (the
    load-memory benchmark measures its effect), keeps a value the user set, and
    leaves mimalloc's purge delay alone (at 0, pyarrow's own reads in the process
    were 40-60% slower: benchmarks/README.md)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != option}
    if given is not None:
        env[option] = given
    code = f"import os, gdei_cli; print(os.environ.get('{option}', 'unset'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == seen
